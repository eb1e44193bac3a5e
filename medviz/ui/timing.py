"""Env-gated timing of the app's script runs (``MEDVIZ_UI_TIMING=FILE``): one JSON line per run with the wall
time of each named step, for profiling the Review page inside the running server. Off (no cost beyond one
dict lookup) when the variable is not set."""
from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager

_PATH = os.environ.get("MEDVIZ_UI_TIMING")
_PROFILE = os.environ.get("MEDVIZ_UI_PROFILE")      # a folder: one cProfile file per run (profiling only)
_local = threading.local()


def enabled() -> bool:
    return bool(_PATH)


def running() -> bool:
    """A timed run is open on this thread (a fragment rerun has none: it opens its own)."""
    return bool(_PATH) and getattr(_local, "run", None) is not None


def begin(label: str) -> None:
    if _PATH:
        _local.run = {"run": label, "t0": time.perf_counter(), "steps": []}
        if _PROFILE:
            import cProfile
            _local.run["prof"] = cProfile.Profile()
            _local.run["prof"].enable()


@contextmanager
def step(name: str):
    run = getattr(_local, "run", None) if _PATH else None
    if run is None:
        yield
        return
    t = time.perf_counter()
    try:
        yield
    finally:
        run["steps"].append((name, round((time.perf_counter() - t) * 1000, 2)))


def end(**extra) -> None:
    run = getattr(_local, "run", None) if _PATH else None
    if run is None:
        return
    _local.run = None
    prof = run.pop("prof", None)
    if prof is not None:
        prof.disable()
        prof.dump_stats(os.path.join(_PROFILE, f"{time.time():.3f}-{run['run']}.prof"))
    rec = {"run": run["run"], "total_ms": round((time.perf_counter() - run["t0"]) * 1000, 2),
           "wall": time.time(), "steps": run["steps"], **extra}
    with open(_PATH, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
