"""Both scorers against hand-computed cases and against loop oracles written from the official code."""
import json
import random
import subprocess
import sys

import pandas as pd
import pytest

from medviz import answers, evaluate, scoring
from medviz.benchmarks import mediconfusion as mc_bench
from medviz.predictions import vlmevalkit as vlm_pred


# --- MediConfusion -------------------------------------------------------------------------------------

def _slots(rows):
    return pd.DataFrame(rows, columns=["pair_id", "slot", "answer", "parsed", "categories"])


def test_mediconfusion_hand_computed():
    # p1: both right. p2: same letter twice (confused, one right). p3: one invalid. p4: both wrong, different.
    s = _slots([
        ("p1", 1, "A", "A", ["X"]), ("p1", 2, "B", "B", ["X"]),
        ("p2", 1, "A", "A", ["X", "Y"]), ("p2", 2, "B", "A", ["Y"]),
        ("p3", 1, "B", None, ["Y"]), ("p3", 2, "A", "A", ["Y"]),
        ("p4", 1, "A", "B", ["X"]), ("p4", 2, "B", "A", ["X"]),
    ])
    m = scoring.mediconfusion_metrics(s)
    assert m["pairs"] == 4
    assert m["set_accuracy"] == 1 / 4
    assert m["individual_accuracy"] == 4 / 8          # p1 x2, p2 slot1, p3 slot2
    assert m["confusion"] == 1 / 3                    # valid pairs p1, p2, p4; confused p2
    assert m["invalid"] == 1 / 8
    assert m["precision"] == 1 / 2                    # valid & not confused: p1, p4
    assert m["image_blind"] == 1 / 4
    x, y = m["per_category"]["X"], m["per_category"]["Y"]
    assert x["slots"] == 5 and y["slots"] == 4        # X: p1 x2, p2 slot 1, p4 x2
    assert x["set_accuracy"] == 2 / 5                 # p1 counted once per slot having X
    assert x["individual_accuracy"] == 3 / 5          # p1 x2 + p2 slot1
    assert y["individual_accuracy"] == 2 / 4          # p2 slot1 + p3 slot2
    assert x["confusion"] == 1 / 5                    # X slots in valid pairs: p1 x2, p2 1, p4 x2
    assert y["invalid"] == 1 / 4


def _official_oracle(data, results, stats, tr=3):
    """Loop transcription of MediConfusion's create/update_score_table + print_score, as fractions."""
    keys = ["set_score", "individual_score", "confused", "invalid", "valids", "valid_pairs"]
    score = {k: dict({c: 0 for c in stats}, total=0) for k in keys}
    for pid, sample in data.items():
        ans = results.get(pid, {}).get("answer", {"im1": {"full_answer": None}, "im2": {"full_answer": None}})
        chosen = []
        for n in ("im1", "im2"):
            a = ans[n]
            if a.get("A") is not None:
                sa, sb = a["A"], a["B"]
            else:
                sa, sb = answers.mediconfusion_scores(a.get("full_answer"))
            chosen.append("A" if sa >= sb + tr else "B" if sb >= sa + tr else "-")
        c1, c2 = chosen
        cat1, cat2 = sample["category_1"], sample["category_2"]
        ok1, ok2 = int(c1 == sample["im_1_correct"]), int(c2 == sample["im_2_correct"])
        inv1, inv2 = c1 == "-", c2 == "-"
        confused = int(c1 == c2 and c1 != "-")

        def add(key, cats):
            score[key]["total"] += 1
            for c in cats:
                score[key][c] += 1
        if confused:
            add("confused", cat1 + cat2)
        if ok1:
            add("individual_score", cat1)
        if ok2:
            add("individual_score", cat2)
        if inv1:
            add("invalid", cat1)
        if inv2:
            add("invalid", cat2)
        if not inv1 and not inv2:
            add("valids", cat1 + cat2)
            if not confused:
                add("valid_pairs", cat1 + cat2)
        if ok1 and ok2:
            add("set_score", cat1 + cat2)
    n = len(data)
    out = {"set_accuracy": score["set_score"]["total"] / n,
           "individual_accuracy": score["individual_score"]["total"] / n / 2,
           "invalid": score["invalid"]["total"] / n / 2,
           "confusion": score["confused"]["total"] / score["valids"]["total"] if score["valids"]["total"] else 0,
           "precision": score["set_score"]["total"] / score["valid_pairs"]["total"] if score["valid_pairs"]["total"] else 0,
           "per_category": {}}
    for c, total in stats.items():
        out["per_category"][c] = {"set_accuracy": score["set_score"][c] / total,
                                  "individual_accuracy": score["individual_score"][c] / total}
    return out


FREE_TEXT = ["A", "B", "A.", "B:", "(A)", '("B")', "A and B", "I think the answer is B.", "", None,
             "Option A shows the lesion", "B\nsince", "neither", ".A:", "The image shows A"]


def _random_results(data, rng, judge_share=0.3):
    res = {}
    for pid in data:
        if rng.random() < 0.03:
            continue                                  # unanswered pair: counts as invalid
        slots = {}
        for n in ("im1", "im2"):
            if rng.random() < judge_share:
                slots[n] = {"full_answer": "free text", "A": rng.randint(1, 10), "B": rng.randint(1, 10)}
            else:
                slots[n] = {"full_answer": rng.choice(FREE_TEXT)}
        res[pid] = {"answer": slots}
    return res


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mediconfusion_matches_official_oracle_on_real_dataset(real_dataset, tmp_path, seed):
    data = json.load(open(real_dataset))
    stats = json.load(open(real_dataset.replace("dataset.json", "statistics.json")))
    results = _random_results(data, random.Random(seed))
    rp = tmp_path / f"model{seed}_mc.json"
    rp.write_text(json.dumps(results))
    got = evaluate.score_mediconfusion_files(real_dataset, str(rp))
    want = _official_oracle(data, results, stats)
    for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "precision"):
        assert got[k] == pytest.approx(want[k], abs=1e-12), k
    assert set(got["per_category"]) == set(stats)
    for c in stats:
        for k in ("set_accuracy", "individual_accuracy"):
            assert got["per_category"][c][k] == pytest.approx(want["per_category"][c][k], abs=1e-12), (c, k)


@pytest.mark.parametrize("seed,tr", [(4, 2), (5, 1), (6, 5)])
def test_mediconfusion_tr_matches_official_oracle_on_real_dataset(real_dataset, tmp_path, seed, tr):
    data = json.load(open(real_dataset))
    stats = json.load(open(real_dataset.replace("dataset.json", "statistics.json")))
    results = _random_results(data, random.Random(seed), judge_share=0.6)
    rp = tmp_path / f"model{seed}_gpt4.json"
    rp.write_text(json.dumps(results))
    got = evaluate.score_mediconfusion_files(real_dataset, str(rp), tr=tr)
    want = _official_oracle(data, results, stats, tr=tr)
    for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "precision"):
        assert got[k] == pytest.approx(want[k], abs=1e-12), k
    for c in stats:
        for k in ("set_accuracy", "individual_accuracy"):
            assert got["per_category"][c][k] == pytest.approx(want["per_category"][c][k], abs=1e-12), (c, k)


def test_real_dataset_shape_and_statistics(real_dataset):
    items, pairs = mc_bench.load(real_dataset)
    stats = json.load(open(real_dataset.replace("dataset.json", "statistics.json")))
    assert len(pairs) == 176 and len(items) == 352
    assert mc_bench.category_counts(items) == stats
    assert all(0.9 <= p.biomedclip_sim <= 0.97 for p in pairs)
    firsts = [i.answer for i in items if i.slot == 1]
    assert firsts.count("A") == 88 and firsts.count("B") == 88
    assert all(i.image_status == "missing" for i in items)      # images come from PMC; absent offline


def test_cli_json_contract_mediconfusion(real_dataset, tmp_path):
    data = json.load(open(real_dataset))
    results = {pid: {"answer": {"im1": {"full_answer": s["im_1_correct"]},
                                "im2": {"full_answer": s["im_2_correct"]}}} for pid, s in data.items()}
    rp = tmp_path / "oracle_mc.json"
    rp.write_text(json.dumps(results))
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "score", "mediconfusion", real_dataset, str(rp), "--json"],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert set(res) == {"pairs", "set_accuracy", "individual_accuracy", "confusion", "invalid", "precision",
                        "per_category"}
    assert res["pairs"] == 176 and res["set_accuracy"] == 1.0 and res["confusion"] == 0.0
    assert res["per_category"]["Cerebral"] == {"set_accuracy": 1.0, "individual_accuracy": 1.0}


# --- GMAI-MMBench ------------------------------------------------------------------------------------

def _gmai_tsv(path, rows):
    cols = ["index", "question", "A", "B", "C", "D", "E", "answer", "category", "modality", "clinical VQA task",
            "department", "perceptual granularity", "image"]
    with open(path, "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(str(r.get(c, "")) for c in cols) + "\n")


def _oracle_vlmeval(pred, choices):
    """Independent transcription of can_infer (option, then text) for the oracle."""
    pred = str(pred)
    opt = answers.vlmeval_can_infer_option(pred, choices)
    return opt if opt else answers.vlmeval_can_infer_text(pred, dict(choices))


def test_gmai_hand_computed(tmp_path):
    rows = [
        dict(index=1, question="q", A="CT", B="MR", C="X-ray", D="None", E="", answer="A", modality="CT",
             **{"clinical VQA task": "AR", "department": "Radiology", "perceptual granularity": "image level"}),
        dict(index=2, question="q", A="CT", B="MR", C="NA", D="", E="", answer="B", modality="MR",
             **{"clinical VQA task": "AR", "department": "Neuro", "perceptual granularity": "image level"}),
        dict(index=3, question="q", A="lung", B="liver", C="heart", D="kidney", E="spleen", answer="E", modality="CT",
             **{"clinical VQA task": "OR", "department": "Radiology", "perceptual granularity": "box level"}),
    ]
    tsv = tmp_path / "GMAI-MMBench_VAL.tsv"
    _gmai_tsv(tsv, rows)
    pred = pd.DataFrame({"index": [1, 2, 3], "prediction": ["A", "D", "spleen"]})   # D is not an option of row 2
    pp = tmp_path / "m_GMAI-MMBench_VAL.tsv"
    pred.to_csv(pp, sep="\t", index=False)
    res = evaluate.score_gmai_files(str(tsv), str(pp))
    assert res["rows"] == 3 and res["overall"] == 2 / 3
    assert res["by"]["modality"] == {"CT": 1.0, "MR": 0.0}
    assert res["by"]["department"] == {"Neuro": 0.0, "Radiology": 1.0}
    assert res["by"]["perceptual granularity"] == {"box level": 1.0, "image level": 0.5}


def test_gmai_options_follow_pandas_na(tmp_path):
    from medviz.benchmarks import gmai
    row = {"index": "1", "question": "q", "A": "x", "B": "None", "C": "", "D": "NA", "E": "n/a"}
    assert list(gmai.options_of(row)) == ["A"]
    # and agrees with what pandas itself reads (VLMEvalKit uses pandas)
    p = tmp_path / "t.tsv"
    pd.DataFrame([row]).to_csv(p, sep="\t", index=False)
    df = pd.read_csv(p, sep="\t")
    assert [c for c in "ABCDE" if not pd.isna(df.loc[0, c])] == ["A"]


def test_gmai_matches_oracle_random(tmp_path):
    rng = random.Random(7)
    rows, preds = [], []
    vocab = ["lung", "liver", "heart", "kidney", "spleen", "bone", "brain"]
    for i in range(400):
        k = rng.randint(2, 5)
        opts = rng.sample(vocab, k)
        r = {"index": i, "question": "Which organ?", "answer": rng.choice("ABCDE"[:k]),
             "modality": rng.choice(["CT", "MR", "US"]), "clinical VQA task": rng.choice(["OR-A", "DD"]),
             "department": rng.choice(["Radiology", "Urology"]), "perceptual granularity": "image level"}
        for j, ch in enumerate("ABCDE"):
            r[ch] = opts[j] if j < k else rng.choice(["", "None", "NA"])
        rows.append(r)
        p = rng.choice([rng.choice("ABCDEZ"), f"The answer is {rng.choice('ABCD')}", rng.choice(vocab),
                        f"({rng.choice('ABC')}) {rng.choice(vocab)}", "A or B", "Cannot determine the answer",
                        " ".join(rng.choice(vocab + list("ABCD")) for _ in range(rng.randint(1, 14)))])
        preds.append(p)
    tsv = tmp_path / "bench.tsv"
    _gmai_tsv(tsv, rows)
    pp = tmp_path / "m_GMAI-MMBench_VAL.xlsx"
    pd.DataFrame({"index": range(400), "prediction": preds}).to_excel(pp, index=False)
    got = evaluate.score_gmai_files(str(tsv), str(pp))
    hits, by_mod = [], {}
    for r, p in zip(rows, preds):
        choices = {c: r[c] for c in "ABCDE" if r[c] not in ("", "None", "NA")}
        h = _oracle_vlmeval(p, choices) == r["answer"]
        hits.append(h)
        by_mod.setdefault(r["modality"], []).append(h)
    assert got["overall"] == pytest.approx(sum(hits) / len(hits), abs=1e-12)
    for m, hs in by_mod.items():
        assert got["by"]["modality"][m] == pytest.approx(sum(hs) / len(hs), abs=1e-12)


def test_cli_json_contract_gmai(sample_files):
    p = next(iter(sample_files["gmai_preds"].values()))
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "score", "gmai", sample_files["gmai_tsv"], p, "--json"],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert set(res) == {"rows", "overall", "by"}
    assert set(res["by"]) == {"clinical VQA task", "department", "perceptual granularity", "modality", "category"}
    assert 0 <= res["overall"] <= 1 and res["rows"] == 10


def test_wilson_interval_known_values():
    lo, hi = scoring.wilson(5, 10)
    assert lo == pytest.approx(0.2365931, abs=1e-6) and hi == pytest.approx(0.7634069, abs=1e-6)
    assert all(map(lambda v: v != v, scoring.wilson(0, 0)))      # NaN when nothing was scored


def test_tsv_reader_agrees_with_pandas_on_quoting(tmp_path):
    """Quoted fields (QUOTE_ALL as VLMEvalKit writes, embedded tabs, quotes and newlines) read as pandas reads them."""
    import csv as _csv
    from medviz.benchmarks import gmai
    df = pd.DataFrame({"index": [1, 2, 3], "question": ['say "hi"\tnow', "two\nlines", "plain"],
                       "A": ["x", "None", "z"], "B": ["", "y", 'q"'], "image": ["aGk=", "aGk=", "aGk="]})
    for quoting in (_csv.QUOTE_ALL, _csv.QUOTE_MINIMAL):
        p = tmp_path / f"q{quoting}.tsv"
        df.to_csv(p, sep="\t", index=False, quoting=quoting)
        rows = [r for _, r in gmai.iter_rows(str(p))]
        back = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False)
        assert [r["question"] for r in rows] == list(back["question"])
        assert [r["B"] for r in rows] == list(back["B"])
        assert [list(gmai.options_of(r)) for r in rows] == [["A"], ["B"], ["A", "B"]]


# --- GMAI-MMBench: options as pandas reads the prediction file (issue 13) -------------------------------

# Hand-worked against VLMEvalKit's exact matching. The prediction file carries the option columns, as
# VLMEvalKit writes it; pandas reads A (numbers, no blank) as int -> "7", B and C (numbers and blanks) as
# float -> "7.0". build_choices drops NaN cells; can_infer_text matches str(option).lower() inside the answer.
NUMBER_ROWS = [
    # index, A, B, C, answer, prediction, category   official choices -> inferred -> hit
    (1, 7, 3, 12, "A", "7", "count"),          # {A:"7", B:"3.0", C:"12.0"} -> A ("7" in "7")   -> 1
    (2, 2, 7, 9, "B", "7", "count"),           # {A:"2", B:"7.0", C:"9.0"}  -> none            -> 0
    (3, 1, 10, "", "A", "10", "size"),         # {A:"1", B:"10.0"} -> A ("1" in "10" only)      -> 1
    (4, 5, 6, 8, "C", "8.0", "size"),          # {A:"5", B:"6.0", C:"8.0"} -> C                 -> 1
    (5, 4, "", 5, "C", "5", "size"),           # {A:"4", C:"5.0"} -> none ("5.0" not in "5")    -> 0
    (6, 3, 4, 6, "A", "none of these", "size"),  # no letter, no option text                     -> 0
]
# official: hits 1,0,1,1,0,0 -> overall 3/6; by category: count 1/2, size 2/4.
# with the benchmark TSV's text instead ("7", "10", "5"): 1,1,0,1,1,0 -> 4/6 (what medviz reported before).
# (Row 6 keeps the prediction column text: a column of bare numbers would itself be read as float, "7.0".)


def _number_files(tmp_path, with_options=True, ext="tsv"):
    rows = [dict(index=i, question="How many?", A=a, B=b, C=c, D="", E="", answer=ans, category=cat,
                 modality="CT", **{"clinical VQA task": "counting", "department": "Radiology",
                                   "perceptual granularity": "image level"})
            for i, a, b, c, ans, _, cat in NUMBER_ROWS]
    tsv = tmp_path / "GMAI-MMBench_VAL.tsv"
    _gmai_tsv(tsv, rows)
    # the prediction file as VLMEvalKit writes it: the benchmark's columns (read by pandas) + prediction
    pred = pd.read_csv(tsv, sep="\t").drop(columns=["image"])
    pred["prediction"] = [r[5] for r in NUMBER_ROWS]
    if not with_options:
        pred = pred[["index", "prediction"]]
    pp = tmp_path / f"numbers_GMAI-MMBench_VAL.{ext}"
    if ext == "xlsx":
        pred.to_excel(pp, index=False)
    else:
        pred.to_csv(pp, sep="\t", index=False)
    return tsv, pp


@pytest.mark.parametrize("ext", ["tsv", "xlsx"])
def test_gmai_number_options_follow_pandas_reading_of_prediction_file(tmp_path, ext):
    tsv, pp = _number_files(tmp_path, ext=ext)
    back = vlm_pred.read_table(str(pp))
    assert back["A"].dtype.kind == "i" and back["B"].dtype.kind == "f"      # the premise of the case
    res = evaluate.score_gmai_files(str(tsv), str(pp))
    assert res["rows"] == 6
    assert res["overall"] == pytest.approx(3 / 6, abs=1e-12)
    assert res["by"]["category"] == {"count": pytest.approx(1 / 2), "size": pytest.approx(2 / 4)}


def test_gmai_prediction_file_without_option_columns_uses_the_benchmark_options(tmp_path):
    tsv, pp = _number_files(tmp_path, with_options=False)
    assert evaluate.score_gmai_files(str(tsv), str(pp))["overall"] == pytest.approx(4 / 6, abs=1e-12)


def test_vlmevalkit_options_are_str_of_what_pandas_read(tmp_path):
    df = pd.DataFrame({"index": [1, 2], "A": [7, 8], "B": [1.5, None], "C": ["x", None], "prediction": ["7", "B"]})
    assert vlm_pred.file_options(df) == ['{"A": "7", "B": "1.5", "C": "x"}', '{"A": "8"}']
    assert vlm_pred.file_options(df[["index", "prediction"]]) is None


def test_store_import_scores_number_options_like_the_file(store, tmp_path):
    import base64
    import io
    from PIL import Image
    from medviz import ingest
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    png = base64.b64encode(buf.getvalue()).decode()
    tsv, pp = _number_files(tmp_path)
    text = tsv.read_text().splitlines()
    tsv.write_text("\n".join([text[0]] + [line + png for line in text[1:]]) + "\n")   # image is the last column
    ingest.ingest_benchmark(store, str(tsv), kind="gmai", benchmark_id="numbers")
    ingest.import_predictions(store, "numbers", str(pp))
    m = evaluate.score_store(store, "numbers")["numbers"]
    assert m["overall"] == pytest.approx(3 / 6, abs=1e-12)
    assert m["by"]["category"] == {"count": pytest.approx(1 / 2), "size": pytest.approx(2 / 4)}


# --- MediConfusion judge threshold --tr (issue 13) ---------------------------------------------------------

def _tr_files(tmp_path):
    data = {"1": {"im_1": "a", "im_2": "b", "category_1": ["Cerebral"], "category_2": ["Cerebral"], "question": "q",
                  "option_A": "x", "option_B": "y", "im_1_correct": "A", "im_2_correct": "B"},
            "2": {"im_1": "c", "im_2": "d", "category_1": ["Cardiac"], "category_2": ["Cardiac"], "question": "q",
                  "option_A": "x", "option_B": "y", "im_1_correct": "B", "im_2_correct": "A"}}
    # judge scores (FF / gpt4 mode): margins 2, 3, 2 and a parsed letter (10 vs 0)
    results = {"1": {"answer": {"im1": {"full_answer": "t", "A": 7, "B": 5}, "im2": {"full_answer": "t", "A": 2, "B": 5}}},
               "2": {"answer": {"im1": {"full_answer": "t", "A": 4, "B": 6}, "im2": {"full_answer": "A."}}}}
    ds, rp = tmp_path / "dataset.json", tmp_path / "judge_gpt4.json"
    ds.write_text(json.dumps(data))
    rp.write_text(json.dumps(results))
    return ds, rp


def test_mediconfusion_tr_hand_worked(tmp_path):
    # check_answer(a, b, tr): A if a >= b + tr, B if b >= a + tr, else '-'
    # tr=3: p1 (7,5)->'-', (2,5)->B ok; p2 (4,6)->'-', 'A.'->A ok  => set 0/2, indiv 2/4, invalid 2/4, confusion 0
    # tr=2: p1 A ok, B ok;               p2 B ok, A ok            => set 2/2, indiv 4/4, invalid 0
    ds, rp = _tr_files(tmp_path)
    r3 = evaluate.score_mediconfusion_files(str(ds), str(rp))
    assert (r3["set_accuracy"], r3["individual_accuracy"], r3["invalid"], r3["confusion"]) == (0, 0.5, 0.5, 0)
    r2 = evaluate.score_mediconfusion_files(str(ds), str(rp), tr=2)
    assert (r2["set_accuracy"], r2["individual_accuracy"], r2["invalid"], r2["precision"]) == (1, 1, 0, 1)
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "score", "mediconfusion", str(ds), str(rp), "--json",
                          "--tr", "2"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["set_accuracy"] == 1.0


def test_mediconfusion_tr_is_stored_with_the_imported_run(tmp_path):
    from medviz.cli import main
    ds, rp = _tr_files(tmp_path)
    db = str(tmp_path / "tr.duckdb")
    assert main(["ingest", str(ds), "--kind", "mediconfusion", "--id", "mc", "--db", db]) == 0
    assert main(["predictions", "import", "mc", str(rp), "--model", "judge", "--tr", "2", "--db", db]) == 0
    from medviz.store import Store
    with Store(db) as s:
        assert s.cursor().execute("SELECT model, tr FROM models").fetchall() == [("judge", 2.0)]
        assert evaluate.score_store(s, "mc")["judge"]["set_accuracy"] == 1.0
    assert main(["predictions", "import", "mc", str(rp), "--model", "judge", "--db", db]) == 0   # default 3 replaces it
    with Store(db) as s:
        assert s.cursor().execute("SELECT tr FROM models").fetchone()[0] == 3.0
        assert evaluate.score_store(s, "mc")["judge"]["set_accuracy"] == 0.0


@pytest.mark.parametrize("bad", ["0", "-1", "11", "nan", "three"])
def test_mediconfusion_tr_out_of_range_is_a_clear_error(tmp_path, bad):
    ds, rp = _tr_files(tmp_path)
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "score", "mediconfusion", str(ds), str(rp), "--tr", bad],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--tr" in out.stderr


def test_tr_is_refused_where_there_are_no_judge_scores(tmp_path, store):
    from medviz import ingest
    from medviz.errors import MedvizError
    tsv, pp = _number_files(tmp_path, with_options=False)
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "score", "gmai", str(tsv), str(pp), "--tr", "2"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--tr applies to MediConfusion" in out.stderr and "Traceback" not in out.stderr
    g = tmp_path / "g.csv"
    g.write_text("item_id,question,answer,A,B\ni1,q,A,x,y\n")
    ingest.ingest_benchmark(store, str(g), kind="generic", benchmark_id="g")
    preds = tmp_path / "p.csv"
    preds.write_text("item_id,model,prediction\ni1,m,A\n")
    with pytest.raises(MedvizError, match="--tr applies"):
        ingest.import_predictions(store, "g", str(preds), tr=2)
    ingest.import_predictions(store, "g", str(preds))
    assert store.cursor().execute("SELECT model, tr FROM models").fetchall() == [("m", None)]
