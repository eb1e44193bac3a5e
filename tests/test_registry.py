"""The benchmark-kind registry: one row per kind drives ingest, prediction reading, parsing and scoring."""
from __future__ import annotations

import pytest

from medviz import registry
from medviz.errors import MedvizError

SAMPLE_KEYS = {"mediconfusion": ("mc_dataset", "mc_results"), "gmai": ("gmai_tsv", "gmai_preds"),
               "generic": ("generic_csv", "generic_preds")}


def test_every_kind_has_a_sample_and_a_loader():
    assert set(registry.BENCHMARK_KINDS) == set(SAMPLE_KEYS)
    for k in registry.BENCHMARK_KINDS.values():
        assert callable(k.loader.load), k.name
        assert k.metrics and all(m in registry.METRIC_LABELS for m in k.metrics), k.name
        assert k.parser in ("mediconfusion", "vlmeval") and k.scorer in ("pairs", "items")
        assert k.review_layout in ("pairs", "items", "auto")


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(MedvizError) as e:
        registry.get_kind("vqa-rad")
    msg = str(e.value)
    assert "unknown benchmark kind 'vqa-rad'" in msg
    for name in ("mediconfusion", "gmai", "generic"):
        assert name in msg
    with pytest.raises(MedvizError, match="valid: mediconfusion, vlmevalkit, generic"):
        registry.get_prediction_format("csv")


def test_unknown_kind_at_ingest_is_a_clear_error_and_writes_nothing(store, sample_files):
    with pytest.raises(MedvizError, match="unknown benchmark kind 'nope'.*mediconfusion, gmai, generic"):
        from medviz.ingest import ingest_benchmark
        ingest_benchmark(store, sample_files["generic_csv"], kind="nope")
    assert store.cursor().execute("SELECT count(*) FROM benchmarks").fetchone()[0] == 0


def test_detection_by_extension(tmp_path):
    assert registry.detect_kind("a/b/dataset.JSON") == "mediconfusion"
    assert registry.detect_kind("MedQA.tsv") == "gmai"
    assert registry.detect_kind("x.jsonl") == "generic"
    with pytest.raises(MedvizError, match="pass --kind"):
        registry.detect_kind("x.parquet")
    assert registry.detect_prediction_format("r.json", "mediconfusion") == "mediconfusion"
    assert registry.detect_prediction_format("r.json", "gmai") == "vlmevalkit"
    assert registry.detect_prediction_format("r.xlsx", "mediconfusion") == "vlmevalkit"
    assert registry.detect_prediction_format("r.csv", "generic") == "generic"


@pytest.mark.parametrize("kind", sorted(SAMPLE_KEYS))
def test_each_kind_round_trips(kind, store, sample_files):
    """Ingest the sample file of each kind with the kind detected from its name, import its predictions with
    the detected format, and score: the registry row's claims (pairs, metrics) hold for what was stored."""
    from medviz.evaluate import score_store
    from medviz.ingest import import_predictions, ingest_benchmark
    from medviz.store import core
    spec = registry.get_kind(kind)
    bench_key, preds_key = SAMPLE_KEYS[kind]
    path = sample_files[bench_key]
    assert registry.detect_kind(path) == kind
    images = sample_files["mc_images"] if kind == "mediconfusion" else None
    res = ingest_benchmark(store, path, benchmark_id=f"rt-{kind}", images_dir=images)
    assert res["kind"] == kind and res["items"] > 0
    cur = store.cursor()
    assert core.benchmark(cur, f"rt-{kind}")["kind"] == kind
    if spec.review_layout == "pairs":
        assert res["pairs"] * 2 == res["items"]
    elif spec.review_layout == "items":
        assert res["pairs"] == 0
    preds = sample_files[preds_key]
    for p in (preds.values() if isinstance(preds, dict) else [preds]):
        import_predictions(store, f"rt-{kind}", p)
    scores = score_store(store, f"rt-{kind}")
    assert scores
    for m in scores.values():
        if spec.paired:
            assert m["pairs"] == res["pairs"] and 0 <= m["set_accuracy"] <= 1
        else:
            assert m["rows"] > 0 and 0 <= m["overall"] <= 1


@pytest.mark.parametrize("kind", ["mediconfusion", "gmai"])
def test_file_scorer_matches_store_scorer(kind, store, sample_files):
    """`medviz score KIND` (files, via the registry) and the stored run agree on the headline metric."""
    from medviz.evaluate import score_store
    from medviz.ingest import import_predictions, ingest_benchmark
    spec = registry.get_kind(kind)
    bench_key, preds_key = SAMPLE_KEYS[kind]
    model, pred = sorted(sample_files[preds_key].items())[0]
    images = sample_files["mc_images"] if kind == "mediconfusion" else None
    ingest_benchmark(store, sample_files[bench_key], benchmark_id="b", images_dir=images)
    import_predictions(store, "b", pred, model="m")
    stored = score_store(store, "b")["m"]
    files = spec.score_files(sample_files[bench_key], pred)
    key = "set_accuracy" if spec.paired else "overall"
    assert files[key] == pytest.approx(stored[key])


def test_generic_kind_has_no_file_scorer():
    assert registry.kind_names(with_file_scorer=True) == ["mediconfusion", "gmai"]
    with pytest.raises(MedvizError, match="no file scorer"):
        registry.get_kind("generic").score_files("a.csv", "b.csv")
