"""The one writer of a store: every write in a process goes through one lock and one cursor.

DuckDB allows one writing transaction at a time per database without conflicts only if writes are
serialised; ``StoreWriter`` does that (datasette's ``execute_write_fn`` pattern). Whoever holds the writer's
lock writes with the writer's cursor; nothing else writes. Callers put a request on a queue; the writer thread
takes everything waiting and, holding the lock, hands each run of consecutive requests of the same *handler*
to that handler, which applies it on the writer's cursor:

- ``execute_write_fn(fn)``: ``fn(cursor)`` runs on the writer thread inside one transaction of its own
  (BEGIN ... COMMIT; on an exception ROLLBACK and the exception is re-raised to the caller). Its return
  value is returned to the caller.
- the annotation writer (``medviz.annotations.writer``) is a handler too: a run of queued annotation saves is
  applied in one transaction (group commit).

A handler that allows it (``inline = True``: the annotation writer) skips the queue when the writer is free:
the caller takes the lock itself, applies its one request on the writer's cursor and commits, with no hand-off
to the thread (one small save costs one transaction, not two thread switches). When the lock is taken or
requests are waiting, it queues like everyone else and is group-committed with them.

``store_writer(store)`` returns the one writer of a ``Store``. The thread stops after a few idle seconds and
restarts on the next queued request. ``generation`` changes whenever something other than a handler's own
batch may have written (a write function ran, or the writer was idle for a while), so handlers that cache
database state (the annotation writer's revision cache) know to re-read it.
"""
from __future__ import annotations

import atexit
import itertools
import queue
import threading
import time
import weakref
from typing import Any, Callable

import duckdb

from .errors import MedvizError

_IDLE_SECONDS = 2.0
_DRAIN_MAX = 1000          # requests taken off the queue per round
_generations = itertools.count(1)


class WriteRequest:
    """One queued write. ``wait()`` blocks until it is committed (or failed) and returns its result."""

    __slots__ = ("op", "payload", "handler", "event", "result", "error", "t_enq", "t_done")

    def __init__(self, op: str, payload, handler=None):
        self.op, self.payload, self.handler = op, payload, handler
        self.event = threading.Event()
        self.result = self.error = None
        self.t_enq = time.perf_counter()
        self.t_done = None

    def done(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float | None = None):
        if not self.event.wait(timeout):
            raise TimeoutError("the write is still queued or running")
        if self.error is not None:
            raise self.error
        return self.result

    def finish(self, result=None, error: BaseException | None = None) -> None:
        self.result, self.error, self.t_done = result, error, time.perf_counter()
        self.event.set()


class _FnHandler:
    """Runs each write function in a transaction of its own."""

    max_batch = _DRAIN_MAX
    inline = False          # write functions always run on the writer thread

    def commit_batch(self, writer: "StoreWriter", cur, batch: list[WriteRequest]) -> None:
        for req in batch:
            if req.op == "noop":
                req.finish()
                continue
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    res = req.payload(cur)
                    cur.execute("COMMIT")
                except BaseException:
                    try:
                        cur.execute("ROLLBACK")
                    except duckdb.Error:
                        pass
                    raise
            except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
                writer._bump()
                req.finish(error=e)
                if not isinstance(e, Exception):
                    raise
                continue
            writer._bump()
            req.finish(result=res)


_FN = _FnHandler()


class StoreWriter:
    """Owner of all writes for one ``Store`` (use ``store_writer``)."""

    def __init__(self, store):
        self.store = store
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()              # guards the queue/thread bookkeeping
        self._wlock = threading.Lock()             # THE writer: held while a batch is applied
        self._owner: int | None = None             # thread holding _wlock
        self._cur = None                           # the writer's cursor (used only under _wlock)
        self._last_write = time.perf_counter()
        self._pending = 0                          # queued requests not yet applied
        self._thread: threading.Thread | None = None
        self._closed = False
        self.generation = next(_generations)

    # --- public ---------------------------------------------------------------------------------------
    def execute_write_fn(self, fn: Callable[[Any], Any], *, block: bool = True):
        """Run ``fn(cursor)`` on the writer thread in one transaction; returns its result after COMMIT.

        An exception in ``fn`` rolls the transaction back and is raised here. ``block=False`` returns the
        queued ``WriteRequest`` at once (``.wait()`` gives the result or raises).
        """
        if not callable(fn):
            raise TypeError("execute_write_fn needs a callable taking a cursor")
        req = self.submit(_FN, "fn", fn)
        return req.wait() if block else req

    def submit(self, handler, op: str, payload) -> WriteRequest:
        """Queue a request for ``handler.commit_batch(writer, cursor, [requests])`` (no waiting)."""
        if self._owner == threading.get_ident() or (
                self._thread is not None and threading.current_thread() is self._thread):
            raise MedvizError("a write function cannot queue another write (it would wait for itself); "
                              "use the cursor it was given")
        req = WriteRequest(op, payload, handler)
        if getattr(handler, "inline", False) and not self._pending and self._wlock.acquire(blocking=False):
            try:                                   # the writer is free and nothing is queued: write here
                if not self._closed and not self._pending:
                    self._apply(handler, [req])
                    return req
            finally:
                self._release()
        with self._lock:
            if self._closed:
                raise MedvizError("the store writer is closed")
            self._q.put(req)
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._bump()               # writes may have happened while no thread ran
                self._thread = threading.Thread(target=self._run, name="medviz-store-writer", daemon=True)
                self._thread.start()
        return req

    def queued(self) -> int:
        """How many requests wait for the writer now."""
        return self._q.qsize()

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self.submit(_FN, "noop", None).wait()

    def close(self) -> None:
        """Finish what is queued and stop the thread; later submissions raise."""
        with self._lock:
            self._closed = True
            t = self._thread
        if t is not None and t.is_alive():
            self._q.put(None)
            t.join()
        with self._wlock:                          # an inline write in progress finishes first
            if self._cur is not None:
                try:
                    self._cur.close()
                except duckdb.Error:
                    pass
                self._cur = None

    @property
    def closed(self) -> bool:
        return self._closed

    # --- writer thread --------------------------------------------------------------------------------
    def _bump(self) -> None:
        self.generation = next(_generations)

    def _acquire(self) -> None:
        self._wlock.acquire()

    def _release(self) -> None:
        self._owner = None
        self._last_write = time.perf_counter()
        self._wlock.release()

    def _apply(self, handler, run: list[WriteRequest]) -> None:
        """Apply one run of requests with the writer's cursor; the caller holds ``_wlock``."""
        self._owner = threading.get_ident()
        if self._cur is None:
            self._cur = self.store.new_cursor()
        if time.perf_counter() - self._last_write > _IDLE_SECONDS:
            self._bump()                           # idle a while: writes may have happened outside the writer
        try:
            self._dispatch(self._cur, run, handler)
        finally:
            try:
                self._cur.abort()                  # a result a write left unfetched must not block the next
            except duckdb.Error:
                pass

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._q.get(timeout=_IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:
                        if self._q.empty():
                            self._thread = None
                            return
                    continue
                if first is None:
                    return
                taken = [first]
                stop = False
                while len(taken) < _DRAIN_MAX:
                    try:
                        r = self._q.get_nowait()
                    except queue.Empty:
                        break
                    if r is None:
                        stop = True
                        break
                    taken.append(r)
                for run in _runs(taken):
                    self._acquire()
                    try:
                        self._apply(run[0].handler, run)
                    finally:
                        self._release()
                        with self._lock:
                            self._pending -= len(run)
                if stop:
                    return
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _dispatch(self, cur, run: list[WriteRequest], handler) -> None:
        try:
            handler.commit_batch(self, cur, run)
        except BaseException as e:  # noqa: BLE001 - never leave a caller waiting forever
            for req in run:
                if not req.event.is_set():
                    req.finish(error=MedvizError(f"the store writer failed ({e!r}); reload to see whether it "
                                                 "was saved"))
            if not isinstance(e, Exception):
                raise


def _runs(reqs: list[WriteRequest]):
    """Consecutive requests of the same handler, in queue order, at most ``handler.max_batch`` each."""
    run: list[WriteRequest] = []
    for r in reqs:
        if run and (r.handler is not run[0].handler or len(run) >= max(1, int(run[0].handler.max_batch))):
            yield run
            run = []
        run.append(r)
    if run:
        yield run


# --- one writer per Store ---------------------------------------------------------------------------------
class PerStore:
    """One object per ``Store`` (made by ``factory(store)`` on first use; a closed one is replaced)."""

    def __init__(self, factory):
        self._factory = factory
        self._objs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, store):
        with self._lock:
            obj = self._objs.get(store)
            if obj is None or obj.closed:
                obj = self._factory(store)
                self._objs[store] = obj
            return obj

    def pop(self, store):
        with self._lock:
            return self._objs.pop(store, None)

    def stores(self) -> list:
        with self._lock:
            return list(self._objs.keys())


_writers = PerStore(StoreWriter)


def store_writer(store) -> StoreWriter:
    """The single writer of this store (created on first use)."""
    return _writers.get(store)


def execute_write_fn(store, fn: Callable[[Any], Any], *, block: bool = True):
    """``store_writer(store).execute_write_fn(fn, block=block)``."""
    return store_writer(store).execute_write_fn(fn, block=block)


def close_store_writer(store) -> None:
    """Finish pending writes and stop the writer thread (before ``store.close()``)."""
    w = _writers.pop(store)
    if w is not None:
        w.close()


def _close_all() -> None:
    for store in _writers.stores():
        close_store_writer(store)


atexit.register(_close_all)
