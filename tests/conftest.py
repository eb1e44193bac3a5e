"""Shared fixtures: a temporary store, the sample files, the real MediConfusion annotations from ../shared."""
from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _shared_dir() -> pathlib.Path:
    """$MEDVIZ_SHARED, else the first ``shared/`` beside the checkout or one of its parents (worktrees)."""
    env = os.environ.get("MEDVIZ_SHARED")
    if env:
        return pathlib.Path(env)
    for parent in ROOT.parents:
        if (parent / "shared").is_dir():
            return parent / "shared"
    return ROOT.parent / "shared"


SHARED_MC = _shared_dir() / "data" / "mediconfusion"


@pytest.fixture(autouse=True)
def _review_prefetch_settled():
    """The Review page's prefetch runs on one process-wide thread after a quiet time: let a job a test started
    finish within that test, so it never runs inside (and against the monkeypatches of) the next one."""
    yield
    import sys
    nav = sys.modules.get("medviz.ui.review_nav")
    if nav is not None:
        assert nav._PREFETCHER.wait_idle(30), "a Review prefetch job did not finish"


@pytest.fixture
def store(tmp_path):
    from medviz.store import Store
    s = Store(str(tmp_path / "t.duckdb"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory):
    from medviz.demo import build_files
    out = tmp_path_factory.mktemp("sample")
    return build_files(str(out))


@pytest.fixture
def real_dataset():
    path = SHARED_MC / "dataset.json"
    if not path.exists():
        pytest.skip("../shared/data/mediconfusion is absent")
    return str(path)


def snapshot(store) -> dict:
    """Everything a failed load must leave untouched: every row of every core table, and the files dir."""
    cur = store.cursor()
    out = {}
    for t in ("benchmarks", "items", "pairs", "models", "predictions", "unit_outcomes", "unit_facets"):
        out[t] = sorted(map(repr, cur.execute(f"SELECT * FROM {t}").fetchall()))
    files = []
    for dirpath, _, names in os.walk(store.files_dir):
        files += [os.path.relpath(os.path.join(dirpath, n), store.files_dir) for n in names]
    out["files"] = sorted(files)
    return out


@pytest.fixture
def clean_encoders():
    """Unload learned encoders and forget runtime registrations and thresholds after an encoder test."""
    yield
    from medviz import encoders as E
    from medviz.encoders import loading, registry
    for k in list(loading._LOADED):
        if k != registry.PIXELS:
            loading.unload(k)
    registry._RUNTIME.clear()
    E.reset_quadrant_thresholds()


@pytest.fixture(scope="session")
def sample_store_file(sample_files, tmp_path_factory):
    """A database file with the sample MediConfusion and GMAI benchmarks and their predictions, no annotations.
    Tests copy it before writing."""
    from medviz.demo import SAMPLE_GMAI, SAMPLE_MC, _model_note
    from medviz.ingest import import_predictions, ingest_benchmark
    from medviz.store import Store
    path = str(tmp_path_factory.mktemp("samplestore") / "demo.duckdb")
    with Store(path) as s:
        ingest_benchmark(s, sample_files["mc_dataset"], kind="mediconfusion", benchmark_id=SAMPLE_MC,
                         images_dir=sample_files["mc_images"])
        for model, p in sample_files["mc_results"].items():
            import_predictions(s, SAMPLE_MC, p, model=model, note=_model_note(model))
        ingest_benchmark(s, sample_files["gmai_tsv"], kind="gmai", benchmark_id=SAMPLE_GMAI)
        for model, p in sample_files["gmai_preds"].items():
            import_predictions(s, SAMPLE_GMAI, p, model=model)
    return path


@pytest.fixture
def sample_store(sample_store_file, tmp_path):
    """A writable copy of the sample store (the annotation writer closed afterwards)."""
    import shutil
    from medviz.annotations import close_writer
    from medviz.store import Store
    path = str(tmp_path / "sample-copy.duckdb")
    shutil.copy(sample_store_file, path)
    s = Store(path)
    yield s
    close_writer(s)
    s.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A ``medviz demo`` database for the app tests (one per test module: modules may write to it)."""
    from medviz.cli import main
    d = tmp_path_factory.mktemp("appdemo")
    db = str(d / "demo.duckdb")
    assert main(["demo", "--db", db, "--out", str(d / "sd")]) == 0
    return db


# --- interpreter teardown ------------------------------------------------------------------------------
# DuckDB 2.0's nanobind bindings print "leaked instance" reports at interpreter exit, and when a daemon thread
# (the app's prefetch/warm-up threads that AppTest leaves behind) still holds a cursor, the teardown can abort
# the process after every test has passed — turning a green run red. Once pytest has written its summary, end
# the process with pytest's own exit status and skip that teardown. Nothing about any test's result changes.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _EXIT_STATUS and os.environ.get("MEDVIZ_TEST_FAST_EXIT", "1") == "1":
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
