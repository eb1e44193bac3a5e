"""The store's one writer: ``execute_write_fn`` runs functions in order, each in one transaction that rolls
back and re-raises on error, alongside group-committed annotation saves on the same thread."""
from __future__ import annotations

import threading

import pytest

from medviz import auth
from medviz.annotations import Annotation, close_writer, current_annotations, get_writer
from medviz.errors import MedvizError
from medviz.store import annotations as sql
from medviz.writer import close_store_writer, execute_write_fn, store_writer


@pytest.fixture
def log_store(store):
    store.cursor().execute("CREATE TABLE wlog (seq INTEGER, who VARCHAR)")
    yield store
    close_writer(store)


def test_write_functions_run_in_submission_order_and_return_their_result(log_store):
    w = store_writer(log_store)
    pending = [w.execute_write_fn(lambda cur, i=i: cur.execute("INSERT INTO wlog VALUES (?, 'a')", [i]) and i,
                                  block=False) for i in range(50)]
    assert [p.wait() for p in pending] == list(range(50))
    rows = [r[0] for r in log_store.cursor().execute("SELECT seq FROM wlog").fetchall()]
    assert rows == list(range(50))          # insertion order = submission order
    assert execute_write_fn(log_store, lambda cur: cur.execute("SELECT count(*) FROM wlog").fetchone()[0]) == 50


def test_write_functions_run_on_one_thread_not_the_callers(log_store):
    names = {execute_write_fn(log_store, lambda cur: threading.current_thread().name) for _ in range(3)}
    assert names == {"medviz-store-writer"}


def test_an_exception_rolls_back_the_whole_function_and_is_raised_to_the_caller(log_store):
    class Boom(Exception):
        pass

    def half_then_fail(cur):
        cur.execute("INSERT INTO wlog VALUES (1, 'half')")
        cur.execute("INSERT INTO wlog VALUES (2, 'half')")
        raise Boom("fail after two inserts")

    with pytest.raises(Boom, match="fail after two inserts"):
        execute_write_fn(log_store, half_then_fail)
    req = execute_write_fn(log_store, half_then_fail, block=False)
    with pytest.raises(Boom):
        req.wait()
    assert log_store.cursor().execute("SELECT count(*) FROM wlog").fetchone()[0] == 0
    # a database error inside fn is re-raised too, and the writer keeps working afterwards
    with pytest.raises(Exception, match="no_such_table"):
        execute_write_fn(log_store, lambda cur: cur.execute("INSERT INTO no_such_table VALUES (1)"))
    execute_write_fn(log_store, lambda cur: cur.execute("INSERT INTO wlog VALUES (3, 'ok')"))
    assert log_store.cursor().execute("SELECT seq FROM wlog").fetchall() == [(3,)]


def test_a_write_function_cannot_queue_another_write(log_store):
    with pytest.raises(MedvizError, match="cannot queue another write"):
        execute_write_fn(log_store, lambda cur: execute_write_fn(log_store, lambda c: 1))


def test_write_functions_and_annotation_saves_interleave_without_loss(log_store):
    aw = get_writer(log_store)
    errors = []

    def saver(t):
        try:
            for j in range(60):
                aw.save(Annotation("b", "item", f"i{t}-{j}", ["Refusal"], f"r{t}"), auth.local(f"r{t}"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def fn_caller(t):
        try:
            for j in range(60):
                # each function reads then writes: serialised, so the counter never repeats
                execute_write_fn(log_store, lambda cur: cur.execute(
                    "INSERT INTO wlog SELECT coalesce(max(seq), 0) + 1, ? FROM wlog", [f"f{t}"]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=saver, args=(t,)) for t in range(4)]
    threads += [threading.Thread(target=fn_caller, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    cur = log_store.cursor()
    assert [r[0] for r in cur.execute("SELECT seq FROM wlog ORDER BY seq").fetchall()] == list(range(1, 241))
    assert sql.revision_counts(cur)["revisions"] == 240 and sql.revision_gaps(cur) == 0
    assert sql.rev_id_summary(cur) == (240, 1, 240)
    # that contended saves are group-committed is pinned deterministically in test_writer_inline.py: here an
    # uncontended save may run inline (one batch each), so the batch count depends on the machine's load


def test_annotation_writer_rereads_its_state_after_a_write_function_touched_annotations(log_store):
    aw = get_writer(log_store)
    r = auth.local("r")
    a = aw.save(Annotation("b", "item", "x", ["Refusal"], "r"), r)
    # a write function appends revision 2 directly (e.g. a server-side migration)
    execute_write_fn(log_store, lambda cur: cur.execute(
        "INSERT INTO annotation_revisions SELECT * REPLACE (rev_id + 1 AS rev_id, 2 AS revision) "
        "FROM annotation_revisions WHERE annotation_id = ?", [a.annotation_id]))
    with pytest.raises(MedvizError, match="changed since you opened it"):
        aw.save(a.edit(confidence=3), r)             # built on revision 1: the cache must not hide revision 2
    b = aw.save(Annotation("b", "item", "y", ["Refusal"], "r"), r)
    assert b.revision == 1 and len(current_annotations(log_store)) == 2
    assert sql.rev_id_summary(log_store.cursor()) == (3, 1, 3)


def test_closed_writer_refuses_and_a_new_one_starts(log_store):
    w = store_writer(log_store)
    close_store_writer(log_store)
    with pytest.raises(MedvizError, match="closed"):
        w.execute_write_fn(lambda cur: 1)
    assert execute_write_fn(log_store, lambda cur: 7) == 7
