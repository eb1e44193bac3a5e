"""The store writer lets an annotation save run on the caller's thread when the writer is free and nothing is
queued (no hand-off), and otherwise queues it: still one writer (one lock, one cursor), in order, durable."""
from __future__ import annotations

import threading
import time

from medviz import auth
from medviz.annotations import Annotation, close_writer, current_annotations, get_writer
from medviz.jobs import writer_transaction
from medviz.store import annotations as sql
from medviz.writer import execute_write_fn, store_writer


def test_an_uncontended_save_runs_inline_without_starting_the_writer_thread(store):
    w = get_writer(store)
    try:
        for k in range(5):
            w.save(Annotation("b", "item", f"i{k}", ["Refusal"], "r"), auth.local("r"))
        assert store_writer(store)._thread is None       # nobody waited: no hand-off to a thread
        assert len(current_annotations(store, "b")) == 5
        assert sql.rev_id_summary(store.cursor()) == (5, 1, 5)
    finally:
        close_writer(store)


def test_a_save_after_queued_writes_of_the_same_caller_is_applied_after_them(store):
    store.cursor().execute("CREATE TABLE seen (max_rev BIGINT)")
    w = get_writer(store)
    try:
        def slow(cur):
            time.sleep(0.2)
            cur.execute("INSERT INTO seen SELECT coalesce(max(rev_id), 0) FROM annotation_revisions")
        pending = execute_write_fn(store, slow, block=False)
        w.save(Annotation("b", "item", "x", ["Refusal"], "r"), auth.local("r"))   # must not jump the queue
        pending.wait()
        assert store.cursor().execute("SELECT max_rev FROM seen").fetchall() == [(0,)]
    finally:
        close_writer(store)


def test_a_save_waits_while_another_thread_holds_the_writer(store):
    store.cursor().execute("CREATE TABLE t (x INTEGER)")
    w = get_writer(store)
    done = threading.Event()

    def saver():
        w.save(Annotation("b", "item", "y", ["Refusal"], "r"), auth.local("r"))
        done.set()
    try:
        with writer_transaction(store) as cur:
            cur.execute("INSERT INTO t VALUES (1)")
            th = threading.Thread(target=saver)
            th.start()
            assert not done.wait(0.3)                    # the writer is taken: the save queues
        th.join(10)
        assert done.is_set() and len(current_annotations(store, "b")) == 1
        assert store.cursor().execute("SELECT count(*) FROM t").fetchall() == [(1,)]
    finally:
        close_writer(store)


def test_saves_queued_behind_a_busy_writer_are_group_committed(store):
    """Contended saves (they queue while the writer is taken) commit together: fewer batches than saves.
    Deterministic: the writer is held until every saver has queued."""
    w = get_writer(store)
    threads = [threading.Thread(target=lambda k=k: w.save(Annotation("b", "item", f"g{k}", ["Refusal"], f"r{k}"),
                                                          auth.local(f"r{k}"))) for k in range(8)]
    try:
        before = w.stats["batches"]
        with writer_transaction(store):
            for th in threads:
                th.start()
            deadline = time.time() + 10
            while store_writer(store).queued() < 8 and time.time() < deadline:
                time.sleep(0.01)
        for th in threads:
            th.join(10)
        assert len(current_annotations(store, "b")) == 8
        assert w.stats["batches"] - before < 8
    finally:
        close_writer(store)
