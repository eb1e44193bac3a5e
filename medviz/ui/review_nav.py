"""Review navigation: which unit is open (``?pair=ID`` deep links), previous / next, the "next untagged
error" queue, and their keyboard shortcuts (K / J / N). When Review was opened from a list (an Errors filter
or a model-vs-model slice; ``?list=...``, see ``medviz.readmodels.lists``) previous / next step through that
list, the bar says where the unit sits in it, and a link goes back to the same page of the list."""
from __future__ import annotations

import threading
import time

import streamlit as st

from .. import limits
from ..errors import MedvizError
from ..readmodels.errors import ErrorFilter
from ..readmodels.lists import ReviewList, position
from ..readmodels.review import UnitView, neighbour, next_untagged
from ..annotations import reading
from . import data, encoder_panel, pair_viewer, reading_panel, review_keys, tagging, timing
from .text import code, md

_HINT = "_next_untagged_hint"     # (generation, benchmark, models, from, answer) of the last next-untagged query
OPTION_DEFAULTS = {"review_queue": "all", "advance_after_save": True}     # the Options popover's lasting values
QUEUES = {"all": "every pair", "errors": "errors (Errors-page filter)",
          "mine": "my queue (pairs I have not read yet)", "adjudication": "adjudication queue (readers disagree)"}


def next_in(ids: list[str], current: str | None) -> str | None:
    """The first of ``ids`` (sorted) after ``current``, wrapping to the first; None when empty."""
    if not ids:
        return None
    after = [u for u in ids if current is None or u > current]
    return after[0] if after else ids[0]


class _Prefetcher:
    """One long-lived background thread that runs the newest prefetch job. A new page run replaces a job not
    yet started (J pressed three times warms only the last pair's neighbours), prefetches never run two at a
    time (each competes with the page runs for the GIL), and the thread keeps its per-thread resources (the
    in-memory DuckDB connection of ``scoring``) instead of opening new ones for every page run."""

    # measured (save -> next pair, A/B in one run, 24 saves each): 0.05 s 172 ms, 0.10 s 158 ms, 0.15 s 181 ms
    # (at the fastest keyboard pace the warm-up then ends after the next save has started)
    QUIET_S = 0.10

    def __init__(self):
        self._lock = threading.Condition()
        self._job = None
        self._busy = False
        self._thread: threading.Thread | None = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until no job is queued or running (tests: a job left by one test must not run inside the next)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._job is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def submit(self, job) -> None:
        with self._lock:
            self._job = job
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="medviz-prefetch")
                self._thread.start()
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._job is None:
                    self._lock.wait()
                # a short quiet time first: the page run that submitted the job is still being sent to the
                # browser by the server's event loop, and warming holds the GIL (figure building) against it
                deadline = time.monotonic() + self.QUIET_S
                while (left := deadline - time.monotonic()) > 0:
                    self._lock.wait(left)
                job, self._job = self._job, None
                self._busy = True
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed warm-up costs only the time it would have saved
                pass
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()


_PREFETCHER = _Prefetcher()


def _next_untagged(ctx, current: str | None, hints: dict) -> str | None:
    """``readmodels.review.next_untagged`` over the cached error units and tagged units; the answer is also
    kept in ``hints`` (see ``Navigator._after_my_save``). Runs on the page's thread or the prefetch thread."""
    gen = data.generation()           # before the reads: a write during them makes the hint look older
    errs = data.error_unit_ids(ctx.db_path, ctx.benchmark_id, ctx.models, data.filter_json(ErrorFilter()))
    found = next_untagged(errs, data.tagged_units(ctx.db_path, ctx.benchmark_id), current)
    hints["last"] = (gen, ctx.benchmark_id, ctx.models, current, found)
    return found


class Navigator:
    def __init__(self, ctx):
        self.ctx = ctx
        self.ukey = f"unit::{ctx.benchmark_id}"

    # --- queues ---------------------------------------------------------------------------------------
    def review_list(self) -> ReviewList | None:
        """The list Review was opened from (URL), if any, unless a reader's own queue is chosen in Options."""
        if st.session_state.get("review_queue", "all") not in ("all", "errors"):
            return None
        return ReviewList.from_query(st.query_params)

    def queue(self) -> list[str]:
        rl = self.review_list()
        if rl is not None:
            return data.list_unit_ids(self.ctx.db_path, self.ctx.benchmark_id, rl.items())
        q = st.session_state.get("review_queue", "all")
        if q == "mine":
            if self.ctx.reviewer is None:
                return []
            return reading.my_queue(self.ctx.store, self.ctx.benchmark_id, self.ctx.reviewer,
                                    data.unit_ids(self.ctx.db_path, self.ctx.benchmark_id))
        if q == "adjudication":
            return reading.adjudication_targets(self.ctx.store, self.ctx.benchmark_id)
        if q == "errors":
            f = st.session_state.get("errors_filter") or ErrorFilter()
            return data.error_unit_ids(self.ctx.db_path, self.ctx.benchmark_id, self.ctx.models, data.filter_json(f))
        return data.unit_ids(self.ctx.db_path, self.ctx.benchmark_id)

    def next_untagged_from(self, current: str | None) -> str | None:
        """``readmodels.review.next_untagged`` over the cached error units and tagged units."""
        return _next_untagged(self.ctx, current, self._hints())

    def _hints(self) -> dict:
        """This session's box for the last next-untagged answer (written by the prefetch thread too: one
        assignment of a tuple, read as a whole)."""
        return st.session_state.setdefault(_HINT, {})

    def _after_my_save(self, current: str | None) -> str | None:
        """The next untagged error after saving ``current``: the answer this page run computed before the save
        (its prefetch target), when the save was the only write since; else asked again. Exact: tagging
        ``current`` cannot change the first untagged error after it unless that was ``current`` itself."""
        hint = self._hints().get("last")
        if hint is not None:
            gen, bench, models, at, found = hint
            if (gen + 1 == data.generation() and bench == self.ctx.benchmark_id and models == self.ctx.models
                    and at == current and found is not None and found != current):
                return found
        return self.next_untagged_from(current)

    # --- state ----------------------------------------------------------------------------------------
    def current_unit(self) -> str | None:
        qp = st.query_params
        raw = qp.get("pair")
        asked = limits.bounded_param(raw)
        if raw and asked is None:          # 60 KB in the address: ignored, never searched or echoed
            st.error(md(f"the pair id in the address is {len(raw):,} characters long (the limit is "
                        f"{limits.MAX_PARAM}); it was ignored"))
        if asked and asked != st.session_state.get("_pair_from_url"):
            st.session_state["_pair_from_url"] = asked
            st.session_state[self.ukey] = asked
        unit = st.session_state.get(self.ukey)
        all_ids = data.unit_ids(self.ctx.db_path, self.ctx.benchmark_id)
        if unit is not None and unit not in set(all_ids):
            st.error(md(MedvizError(f"there is no pair or item '{unit}' in benchmark '{self.ctx.benchmark_id}'; "
                                     "showing the first one instead", record=unit)))
            unit = None
        if unit is None:
            unit = all_ids[0] if all_ids else None
        if unit is not None and qp.get("pair") != unit:
            qp["pair"] = unit
            st.session_state["_pair_from_url"] = unit
        st.session_state[self.ukey] = unit
        return unit

    def go(self, unit: str | None) -> None:
        if unit is None:
            st.session_state["_nav_msg"] = "No untagged errors left for the selected models."
            return
        left = st.session_state.get(self.ukey)
        if left is not None and left != unit:
            tagging.forget(self.ctx.benchmark_id, left)
        st.session_state[self.ukey] = unit
        st.session_state["_pair_from_url"] = unit
        st.query_params["pair"] = unit

    def step(self, n: int) -> None:
        self.go(neighbour(self.queue(), st.session_state.get(self.ukey), n))

    def next_untagged(self, after_save: bool = False) -> None:
        """N: the next untagged error; in "my queue" / "adjudication queue" the next pair of that queue.
        ``after_save``: called right after this session saved the open pair."""
        cur = st.session_state.get(self.ukey)
        if st.session_state.get("review_queue", "all") in ("mine", "adjudication"):
            nxt = next_in([u for u in self.queue() if u != cur], cur)
            if nxt is None:
                st.session_state["_nav_msg"] = "Nothing left in this queue."
                return
            self.go(nxt)
            return
        self.go(self._after_my_save(cur) if after_save else self.next_untagged_from(cur))

    def prefetch(self, current: str) -> None:
        """Warm the caches (unit view, the form's visible annotations, figure, encoder panel) of the pairs most
        likely opened next: where "save" (or N) goes first, then J. Done by one background worker per process
        (``_Prefetcher``), after this run's last element is sent; save / J then draw from caches."""
        q = self.queue()
        own_queue = st.session_state.get("review_queue", "all") in ("mine", "adjudication")
        first = next_in([u for u in q if u != current], current) if own_queue else None
        hints = self._hints()
        ctx = self.ctx
        enc = st.session_state.get("encoder_review")      # read here: session state is not for other threads
        if enc is None:
            try:
                enc = (data.computed_encoders(ctx.db_path, ctx.benchmark_id) or [None])[0]
            except MedvizError:
                enc = None
        viewer_state = {k: v for k, v in st.session_state.items() if str(k).startswith("vw_")}
        patch_open = bool(st.session_state.get(encoder_panel.PATCH_OPEN))

        def warm():
            timing.begin("prefetch_job")
            try:
                _warm()
            finally:
                timing.end()

        def _warm():
            # where "save" (or N) will most likely go, computed here, after the page run has been sent
            with timing.step("p.next_untagged"):
                try:
                    nxt_untagged = first if own_queue else _next_untagged(ctx, current, hints)
                except Exception:  # noqa: BLE001 - J's neighbour is still worth warming
                    nxt_untagged = None
            targets = []
            for u in (nxt_untagged, neighbour(q, current, 1)):     # two at most: they compete for the CPU
                if u is not None and u != current and u not in targets:
                    targets.append(u)
            for nxt in targets:
                try:
                    with timing.step("p.unit_view"):
                        uv = data.unit_view(ctx.db_path, ctx.benchmark_id, nxt, ctx.models)
                    if ctx.reviewer is not None:      # the form's read (kept across a save on another unit)
                        with timing.step("p.visible"):
                            tagging.visible(ctx, nxt)
                    with timing.step("p.figure"):
                        pair_viewer.warm_unit(uv, viewer_state)
                    if uv.is_pair and enc:
                        with timing.step("p.explanation"):
                            data.explanation(ctx.db_path, ctx.benchmark_id, nxt, enc)
                        if patch_open:
                            encoder_panel.warm(ctx, nxt, enc)
                except Exception:  # noqa: BLE001 - a failed warm-up only costs the time it would have saved
                    pass
        _PREFETCHER.submit(warm)

    def after_save(self) -> None:
        """Called from the save callback: move on to the next untagged error (unless switched off)."""
        if st.session_state.get("advance_after_save", True):
            self.next_untagged(after_save=True)

    # --- widgets --------------------------------------------------------------------------------------
    @staticmethod
    def keep_options() -> None:
        """Before any widget: the Options values survive the runs in which the (lazy) popover is closed and its
        widgets are not built (Streamlit drops a widget's value after a run without it; a value written back
        through session state is kept)."""
        ss = st.session_state
        for k, default in OPTION_DEFAULTS.items():
            ss[k] = ss.get(k, default)

    def render_bar(self, uv: UnitView) -> None:
        q = self.queue()
        i, n = position(q, uv.unit_id)
        pos = f"{i if i is not None else '–'} / {n}"
        rl = self.review_list()
        if rl is not None:
            pos += f" of: {rl.label()}"
            page_name, query = rl.back()
            from . import navigation
            st.page_link(navigation.page(page_name), label="Back to the list", icon=":material/arrow_upward:",
                         query_params={"b": self.ctx.benchmark_id, **query})
        kind = "Pair" if uv.is_pair else "Item"
        # one horizontal container, not columns: a column is one more element for the browser to draw per run
        bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
        bar.markdown(f"## {kind} {code(uv.unit_id)} <span style='font-size:0.9rem;color:#666;white-space:nowrap'>"
                     f"{pos}</span>", unsafe_allow_html=True, width="stretch")
        bar.button("Prev", key="nav_prev", help="Previous pair (K)", on_click=self.step, args=(-1,), shortcut="K",
                   icon=":material/arrow_back:")
        bar.button("Next", key="nav_next", on_click=self.step, args=(1,), shortcut="J",
                   icon=":material/arrow_forward:")
        bar.button("Untagged", key="nav_untagged", help="Next untagged error (N)", on_click=self.next_untagged,
                   shortcut="N", icon=":material/skip_next:")
        # lazy: its widgets are built only while it is open (opening it is one page run); a save or J/K then
        # sends none of them. Their values live on in session state (``keep_options``).
        with bar.popover("Options", icon=":material/tune:", key="review_options",
                          on_change="rerun") as opts:
            if opts.open:
                st.radio("Step through", list(QUEUES), format_func=QUEUES.get, key="review_queue")
                st.toggle("After saving, open the next pair (next untagged error, or next in my queue)",
                          key="advance_after_save")
                st.text_input("Go to pair / item id", key="goto_id", on_change=self._goto,
                              max_chars=limits.MAX_PARAM)
                reading_panel.plan_form(self.ctx)
                st.caption("Keys: " + review_keys.caption())
        msg = st.session_state.pop("_nav_msg", None)
        if msg:
            st.info(md(msg))
        saved = st.session_state.pop("_saved_msg", None)
        if saved:
            st.success(md(saved), icon=":material/check:")
        confused = uv.confused_models()
        if confused:
            st.warning("Same answer for both images (image-blind on this pair): "
                       + ", ".join(md(m, inline=True) for m in confused))

    def _goto(self) -> None:
        v = (limits.bounded_param(st.session_state.get("goto_id")) or "").strip()
        if v:
            self.go(v)
