"""One definition of correct / wrong / invalid / same answer for both images (confused, image-blind).

``scoring.RULES`` is SQL. The store's materialisation (``predictions.correct``, ``unit_outcomes``) embeds it
and pandas evaluates it through DuckDB. These tests check, on random data with invalid answers, withheld
keys, unanswered pairs and judge scores, that the two paths agree with each other and with a plain-Python
reading of the official rules.
"""
import json
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from medviz import evaluate, ingest, scoring
from medviz.item import Item
from medviz.store import core

LETTERS = ["A", "B", "C", None]


def _py_correct(parsed, answer):
    """Plain-Python reading: invalid is never correct; with the key withheld a letter's correctness is unknown."""
    if parsed is None:
        return False
    return None if answer is None else parsed == answer


def _py_same(first, second):
    """MediConfusion's ``c1 == c2 and c1 != '-'``."""
    return first is not None and first == second


@pytest.mark.parametrize("seed", [0, 1])
def test_rules_in_pandas_match_plain_python(seed):
    rng = random.Random(seed)
    n = 5000
    parsed = [rng.choice(LETTERS) for _ in range(n)]
    answer = [rng.choice(LETTERS) for _ in range(n)]
    parsed_nan = [float("nan") if p is None and rng.random() < 0.5 else p for p in parsed]  # NaN is missing too
    got = scoring.correct(parsed_nan, answer)
    want = [_py_correct(p, a) for p, a in zip(parsed, answer)]
    assert [None if v is pd.NA else bool(v) for v in got] == want
    same = scoring.same_answer(parsed_nan, answer)
    assert same.dtype == bool and list(same) == [_py_same(p, a) for p, a in zip(parsed, answer)]


def _random_store(store, rng, n_units=400):
    """A benchmark of pairs and single items with random keys (some withheld) and random parsed letters."""
    items = []
    for u in range(n_units):
        if rng.random() < 0.6:
            for slot in (1, 2):
                items.append(Item(item_id=f"p{u}-{slot}", question="q", options={"A": "x", "B": "y", "C": "z"},
                                  answer=rng.choice(["A", "B", "C", None]), pair_id=f"p{u}", slot=slot))
        else:
            items.append(Item(item_id=f"i{u}", question="q", options={"A": "x", "B": "y"},
                              answer=rng.choice(["A", "B", None])))
    rows = []
    for model in ("m1", "m2"):
        for it in items:
            if rng.random() < 0.1:
                continue                                   # unanswered: no prediction row
            rows.append({"benchmark_id": "b", "model": model, "item_id": it.item_id, "raw": None,
                         "score_a": None, "score_b": None, "parsed": rng.choice(LETTERS),
                         # a wrong value on purpose: the store must derive `correct` itself
                         "correct": rng.choice([True, False, None]), "hit": None, "log": None})
    store_synthetic(store, items, rows)
    return items, pd.DataFrame(rows)


def store_synthetic(store, items, rows, models=("m1", "m2")) -> None:
    """Benchmark 'b' (SYNTHETIC) with these items and prediction rows (PREDICTION_SCHEMA dicts), one transaction."""
    with store.transaction() as tx:
        core.insert_benchmark(tx, "b", "generic", "synthetic", None, synthetic=True)
        core.append_items(tx, core.items_to_arrow("b", items))
        core.finish_benchmark(tx, "b")
        for model in models:
            t = pa.Table.from_pylist([r for r in rows if r["model"] == model], schema=core.PREDICTION_SCHEMA)
            core.replace_predictions(tx, "b", model, t, source="synthetic", mode=None, synthetic=True, note=None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_store_sql_and_pandas_agree_on_random_data(store, seed):
    rng = random.Random(seed)
    items, preds = _random_store(store, rng)
    cur = store.cursor()
    key = {it.item_id: it.answer for it in items}

    # per prediction: the stored `correct` (SQL) = the pandas rule = plain Python
    stored = cur.execute("SELECT model, item_id, parsed, correct FROM predictions ORDER BY model, item_id").df()
    pandas_rule = scoring.correct(stored["parsed"], stored["item_id"].map(key))
    assert [None if v is pd.NA else bool(v) for v in pandas_rule] == \
        [None if pd.isna(v) else bool(v) for v in stored["correct"]]
    assert [None if pd.isna(v) else bool(v) for v in stored["correct"]] == \
        [_py_correct(None if pd.isna(p) else p, key[i]) for p, i in zip(stored["parsed"], stored["item_id"])]

    # per pair: unit_outcomes (SQL) = scoring.pair_table (pandas) = plain Python
    units = cur.execute("SELECT model, unit_id, n_items, all_correct, any_wrong, any_invalid, confused "
                        "FROM unit_outcomes WHERE benchmark_id = 'b'").df().set_index(["model", "unit_id"])
    frame = core.scoring_frame(cur, "b")
    frame["parsed"] = frame["parsed"].astype(object).where(frame["parsed"].notna(), None)
    checked = 0
    for model, df in frame[frame["pair_id"].notna()].groupby("model"):
        pt = scoring.pair_table(df)                  # pairs with both slots answered
        for pid, r in pt.iterrows():
            u = units.loc[(model, pid)]
            p1, p2 = r["parsed_1"], r["parsed_2"]
            assert bool(u["confused"]) == bool(r["confused"]) == _py_same(p1, p2), (model, pid)
            assert bool(u["any_invalid"]) == bool(r["invalid_1"] or r["invalid_2"])
            both = [_py_correct(p1, key[f"{pid}-1"]), _py_correct(p2, key[f"{pid}-2"])]
            assert bool(r["set_ok"]) == (both == [True, True])
            # SQL bool_and skips unknowns: NULL only when both are unknown
            known = [b for b in both if b is not None]
            assert (None if pd.isna(u["all_correct"]) else bool(u["all_correct"])) == (all(known) if known else None)
            checked += 1
    assert checked > 100
    # a unit with one answered slot is never confused
    singles = units[units["n_items"] == 1]
    assert len(singles) and not singles["confused"].any()


def _mc_dataset(rng, n_pairs):
    cats = ["Cerebral", "Vascular", "Cardiac", "Pulmonary"]
    data = {}
    for p in range(n_pairs):
        c1 = rng.choice("AB")
        data[str(20000 + p)] = {
            "im_1": f"r/{p}a.jpg", "im_2": f"r/{p}b.jpg", "im_1_local": 2 * p, "im_2_local": 2 * p + 1,
            "category_1": rng.sample(cats, rng.randint(1, 2)), "category_2": rng.sample(cats, rng.randint(1, 2)),
            "question": "q?", "option_A": "x", "option_B": "y", "im_1_correct": c1,
            "im_2_correct": "B" if c1 == "A" else "A", "BiomedCLIP_sim": 0.95, "DINO_sim": 0.5}
    return data


FREE = ["A", "B", "A.", "B:", "(A)", "A and B", "I think the answer is B.", "", None, ".A:", "neither"]


@pytest.mark.parametrize("seed,tr", [(0, 3), (1, 2), (2, 5)])
def test_mediconfusion_file_scores_equal_store_outcomes(store, tmp_path, seed, tr):
    """File scoring (pandas) and the store's unit outcomes (SQL) count the same confused / correct pairs."""
    rng = random.Random(seed)
    data = _mc_dataset(rng, 250)
    results = {}
    for pid in data:
        if rng.random() < 0.05:
            continue                                       # unanswered pair
        ans = {}
        for n in ("im1", "im2"):
            if rng.random() < 0.4:                         # judge scores
                ans[n] = {"full_answer": "text", "A": rng.randint(0, 10), "B": rng.randint(0, 10)}
            else:
                ans[n] = {"full_answer": rng.choice(FREE)}
        results[pid] = {"answer": ans}
    ds, rp = tmp_path / "dataset.json", tmp_path / f"judge{seed}_gpt4.json"
    ds.write_text(json.dumps(data))
    rp.write_text(json.dumps(results))
    res = evaluate.score_mediconfusion_files(str(ds), str(rp), tr=tr)
    ingest.ingest_benchmark(store, str(ds), kind="mediconfusion", benchmark_id="mc")
    ingest.import_predictions(store, "mc", str(rp), tr=tr)
    cur = store.cursor()
    confused, set_ok = cur.execute("SELECT count(*) FILTER (WHERE confused), count(*) FILTER (WHERE all_correct "
                                   "AND n_items = 2) FROM unit_outcomes WHERE benchmark_id = 'mc'").fetchone()
    n = res["pairs"]
    assert n == 250
    assert confused == pytest.approx(res["image_blind"] * n, abs=1e-9)
    assert set_ok == pytest.approx(res["set_accuracy"] * n, abs=1e-9)
    n_correct = cur.execute("SELECT count(*) FILTER (WHERE correct) FROM predictions").fetchone()[0]
    assert n_correct == pytest.approx(res["individual_accuracy"] * 2 * n, abs=1e-9)
    # the model is named without its mode (Results/<model>/<model>_<mode>.json); the mode is stored apart
    assert evaluate.score_store(store, "mc")[f"judge{seed}"]["image_blind"] == pytest.approx(res["image_blind"])
    assert cur.execute("SELECT mode FROM models").fetchone()[0] == "gpt4"
    assert cur.execute("SELECT tr FROM models").fetchone()[0] == tr


def test_outcomes_keep_row_order_on_large_input():
    n = 300_000
    first = np.array(["A", "B"], dtype=object)[np.arange(n) % 2]
    second = np.array(["A", "B", "A"], dtype=object)[np.arange(n) % 3]
    got = scoring.same_answer(first, second)
    assert np.array_equal(got, first == second)


def test_migration_v4_adds_tr_and_rederives_correct(tmp_path):
    from medviz.store import Store
    db = str(tmp_path / "old.duckdb")
    rng = random.Random(5)
    with Store(db) as s:
        _random_store(s, rng, n_units=60)
        want = s.cursor().execute("SELECT model, item_id, correct FROM predictions ORDER BY ALL").fetchall()
        cur = s.cursor()                     # make it look like a store written before v4
        cur.execute("ALTER TABLE models DROP COLUMN tr")
        cur.execute("UPDATE predictions SET correct = NULL")
        cur.execute("UPDATE benchmarks SET kind = 'mediconfusion'")
        cur.execute("UPDATE schema_version SET version = 3 WHERE component = 'core'")
        cur.execute("DROP TABLE IF EXISTS schema_code")      # written by older code: no stamp of this code
    with Store(db) as s:
        cur = s.cursor()
        assert s.schema_versions()["core"] == len(core.MIGRATIONS)
        assert cur.execute("SELECT DISTINCT tr FROM models").fetchall() == [(3.0,)]
        assert cur.execute("SELECT model, item_id, correct FROM predictions ORDER BY ALL").fetchall() == want


def test_rule_connections_of_finished_threads_are_closed():
    import threading
    out = []
    t = threading.Thread(target=lambda: out.append(scoring.same_answer(["A"], ["A"])[0]))
    t.start()
    t.join()
    assert out == [True]
    scoring.same_answer(["A"], ["B"])
    assert t.ident not in scoring._cons and threading.get_ident() in scoring._cons
