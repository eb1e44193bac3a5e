"""Loading benchmarks and predictions into the store; re-imports replace atomically."""
import json
import os

import pandas as pd

from medviz import evaluate
from medviz.demo import BLIND_MODEL, RANDOM_MODEL, SYNTH_MODEL, build_demo
from medviz.ingest import import_predictions, ingest_benchmark
from medviz.store import Store, core


def test_real_mediconfusion_without_images(store, real_dataset):
    res = ingest_benchmark(store, real_dataset)
    images = res.pop("images")
    assert res == {"benchmark_id": "mediconfusion", "kind": "mediconfusion", "items": 352, "pairs": 176,
                   "images_missing": 352}
    assert images["counts"] == {"missing": 352} and images["escapes"] == []
    assert images["problems"][0] == {"record": "pair 10001, image 1", "status": "missing",
                                     "reason": "no images folder was given (--images)", "field": "im_1_local"}
    cur = store.cursor()
    p = core.pair(cur, "mediconfusion", "10001")
    assert abs(p["biomedclip_sim"] - 0.9245057) < 1e-6 and abs(p["dino_sim"] - 0.6720365) < 1e-6
    assert p["ai_question"].startswith("What is the condition")
    it = core.item(cur, "mediconfusion", "10001-2")
    assert it["answer"] == "B" and list(it["categories"]) == ["Cerebral", "Vascular"]
    assert it["modality"] == "Angiography" and it["image_status"] == "missing"


def test_real_mediconfusion_with_some_images(store, real_dataset, tmp_path):
    from PIL import Image
    data = json.load(open(real_dataset))
    first = data["10001"]
    Image.new("RGB", (64, 48), "gray").save(tmp_path / f"{first['im_1_local']}.jpg")
    res = ingest_benchmark(store, real_dataset, images_dir=str(tmp_path))
    uses = sum((r["im_1_local"] == first["im_1_local"]) + (r["im_2_local"] == first["im_1_local"])
               for r in data.values())                    # ROCO images recur across pairs
    assert uses >= 1 and res["images_missing"] == 352 - uses
    it = core.item(store.cursor(), "mediconfusion", "10001-1")
    assert it["image_status"] == "ok" and it["image_path"].endswith(f"{first['im_1_local']}.jpg")
    assert len(it["image_sha256"]) == 64


def test_store_scores_equal_file_scores(store, real_dataset, tmp_path):
    data = json.load(open(real_dataset))
    results = {pid: {"answer": {"im1": {"full_answer": "A"}, "im2": {"full_answer": s["im_2_correct"]}}}
               for pid, s in data.items()}
    rp = tmp_path / "always_a_mc.json"
    rp.write_text(json.dumps(results))
    ingest_benchmark(store, real_dataset)
    assert import_predictions(store, "mediconfusion", str(rp)) == {"always_a": 352}    # the mode is not the name
    from_store = evaluate.score_store(store, "mediconfusion")["always_a"]
    from_files = evaluate.score_mediconfusion_files(real_dataset, str(rp))
    for k in ("set_accuracy", "individual_accuracy", "confusion", "invalid", "precision"):
        assert from_store[k] == from_files[k]
    assert from_store["set_accuracy"] == 0.5          # pairs whose image 1 answer is A


def test_reimport_replaces_a_models_run(store, sample_files):
    build = ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    assert build["items"] == 10 and build["images_missing"] == 0
    p = sample_files["gmai_preds"][RANDOM_MODEL]
    import_predictions(store, "g", p, model="m")
    df = pd.read_excel(p)
    df["prediction"] = "A"
    p2 = os.path.join(os.path.dirname(p), "m2_GMAI-MMBench_SAMPLE.xlsx")
    df.to_excel(p2, index=False)
    import_predictions(store, "g", p2, model="m")
    rows = store.cursor().execute("SELECT raw FROM predictions WHERE model = 'm'").fetchall()
    assert len(rows) == 10 and {r[0] for r in rows} == {"A"}


def test_gmai_images_are_written_beside_the_db(store, sample_files):
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    paths = [r[0] for r in store.cursor().execute("SELECT image_path FROM items WHERE benchmark_id='g'").fetchall()]
    # content-addressed, relative to the files folder (a database moved with its folder keeps working)
    assert all(p.startswith("images/") and os.path.exists(store.image_file(p)) for p in paths)
    assert not [d for d in os.listdir(os.path.join(store.files_dir, "images")) if d.startswith(".staging")]


def test_vlmevalkit_judged_result_keeps_hit_and_log(store, sample_files, tmp_path):
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    p = sample_files["gmai_preds"][SYNTH_MODEL]
    res = pd.read_excel(p).assign(hit=1, log="judge said yes")
    rp = tmp_path / "x_GMAI-MMBench_SAMPLE_openai_result.xlsx"
    res.to_excel(rp, index=False)
    import_predictions(store, "g", p, model="x", result_path=str(rp))
    rows = store.cursor().execute("SELECT DISTINCT hit, log FROM predictions WHERE model='x'").fetchall()
    assert rows == [(1, "judge said yes")]


def test_demo_database(tmp_path):
    with Store(str(tmp_path / "demo.duckdb")) as s:
        summary = build_demo(s, str(tmp_path / "sd"))
        assert [b["benchmark_id"] for b in summary["benchmarks"]] == ["sample-mediconfusion", "sample-gmai",
                                                                      "sample-generic"]
        models = core.models(s.cursor(), "sample-mediconfusion")
        synth = dict(zip(models.model, models.synthetic))
        assert synth == {BLIND_MODEL: False, RANDOM_MODEL: False, SYNTH_MODEL: True}
        scores = evaluate.score_store(s, "sample-mediconfusion")
        assert scores[BLIND_MODEL]["image_blind"] == 1.0 and scores[BLIND_MODEL]["set_accuracy"] == 0.0
        assert all(i == "ok" for i in s.cursor().execute("SELECT image_status FROM items").df()["image_status"])


def test_demo_answer_keys_are_true_of_the_images(sample_files):
    from PIL import Image
    from medviz.demo import optic_disc_side
    data = json.load(open(sample_files["mc_dataset"]))
    s004 = data["s004"]
    im1 = Image.open(os.path.join(sample_files["mc_images"], f"{s004['im_1_local']}.jpg"))
    im2 = Image.open(os.path.join(sample_files["mc_images"], f"{s004['im_2_local']}.jpg"))
    side = {"A": "left", "B": "right"}
    assert optic_disc_side(im1) == side[s004["im_1_correct"]]
    assert optic_disc_side(im2) == side[s004["im_2_correct"]]
    assert optic_disc_side(im1) != optic_disc_side(im2)          # the flip really moved the disc


def test_unit_outcomes_follow_reimports(store, sample_files):
    ingest_benchmark(store, sample_files["mc_dataset"], kind="mediconfusion", benchmark_id="mc",
                     images_dir=sample_files["mc_images"])
    import_predictions(store, "mc", sample_files["mc_results"][BLIND_MODEL], model="m")
    cur = store.cursor()
    rows = cur.execute("SELECT unit_id, confused, all_correct, letters FROM unit_outcomes WHERE model = 'm'").fetchall()
    assert len(rows) == 8 and all(r[1] and not r[2] for r in rows)   # image-blind: every pair confused
    data = json.load(open(sample_files["mc_dataset"]))
    right = {pid: {"answer": {"im1": {"full_answer": d["im_1_correct"]}, "im2": {"full_answer": d["im_2_correct"]}}}
             for pid, d in data.items()}
    p = os.path.join(os.path.dirname(sample_files["mc_dataset"]), "m_mc.json")
    json.dump(right, open(p, "w"))
    import_predictions(store, "mc", p, model="m")
    rows = cur.execute("SELECT confused, all_correct FROM unit_outcomes WHERE model = 'm'").fetchall()
    assert len(rows) == 8 and all(not c and ok for c, ok in rows)


def test_image_files_are_read_whole_in_one_call_and_bounded(tmp_path, monkeypatch):
    """read_bounded reads the fstat size (+1 byte) in one call; short reads are continued to the end;
    a file over MAX_IMAGE_BYTES is refused before reading."""
    from medviz import images, limits
    blobs = {"empty": b"", "one": b"x", "big": bytes(range(256)) * 300}
    for name, data in blobs.items():
        (tmp_path / name).write_bytes(data)
        assert images.read_bounded(str(tmp_path / name)) == data
    real_read, calls = os.read, []

    def short_read(fd, n):             # at most 7 bytes per call: the loop must read on to the end
        calls.append(n)
        return real_read(fd, min(n, 7))
    monkeypatch.setattr(images.os, "read", short_read)
    assert images.read_bounded(str(tmp_path / "big")) == blobs["big"]
    assert len(calls) > 1000
    monkeypatch.setattr(images.os, "read", real_read)
    monkeypatch.setattr(limits, "MAX_IMAGE_BYTES", 100)
    res = images.check_file(str(tmp_path / "big"))
    assert res.status == images.UNREADABLE and "limit" in res.reason


def test_generic_loader_gives_arrow_columns_and_pairs(tmp_path):
    """The generic loader builds the items as Arrow columns (no object per item): letters from A.. or
    option_A.., slots inferred in order of appearance, images checked once per path."""
    import pyarrow as pa
    from medviz.benchmarks import generic
    (tmp_path / "a.png").write_bytes(b"not an image")
    rows = [{"item_id": "x1", "question": "Q1", "option_A": "one", "option_B": "two", "answer": "b",
             "pair_id": "p", "image_path": "a.png", "category": "c1; c2"},
            {"item_id": "x2", "question": "Q2", "A": "one", "B": "two", "C": "three", "answer": "C",
             "pair_id": "p", "image_path": "a.png"},
            {"item_id": "x3", "question": "Q3", "A": "one", "B": "two", "answer": "A", "image_path": "gone.png"}]
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table, pairs = generic.load(str(path))
    assert isinstance(table, pa.Table) and table.num_rows == 3
    d = table.to_pydict()
    assert d["item_id"] == ["x1", "x2", "x3"] and d["answer"] == ["B", "C", "A"]
    assert [json.loads(o) for o in d["options"]] == [{"A": "one", "B": "two"}, {"A": "one", "B": "two", "C": "three"},
                                                     {"A": "one", "B": "two"}]
    assert d["n_options"] == [2, 3, 2] and d["slot"] == [1, 2, None] and d["pair_id"] == ["p", "p", None]
    assert d["categories"] == [["c1", "c2"], [], []]
    assert d["image_status"] == ["unreadable", "unreadable", "missing"]
    assert d["image_reason"][2] == "no file 'gone.png' in the images folder"
    assert [(p.pair_id, p.item_1, p.item_2) for p in pairs] == [("p", "x1", "x2")]


def test_option_lists_made_at_ingest_equal_the_sql_over_the_options_json(store, sample_files, tmp_path):
    """items.option_list (built by the loaders in Python, read by the export) is exactly what the SQL over the
    stored options JSON gives — for every loader, and for option text with quotes, backslashes, unicode."""
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    ingest_benchmark(store, sample_files["mc_dataset"], benchmark_id="mc")
    pd.DataFrame({"item_id": ["x1", "x2"], "question": ["q?", "q?"], "A": ['say "yes"', "back\\slash"],
                  "B": ["naïve – ünïcode", "=1+2"], "C": [None, "C: colon"], "answer": ["A", "B"]}
                 ).to_csv(tmp_path / "odd.csv", index=False)
    ingest_benchmark(store, str(tmp_path / "odd.csv"), kind="generic", benchmark_id="odd")
    cur = store.cursor()
    n, differ = cur.execute(f"SELECT count(*), count(*) FILTER (WHERE option_list IS DISTINCT FROM "
                            f"{core.OPTIONS_LIST_SQL.format(o='options')}) FROM items").fetchall()[0]
    assert n > 20 and differ == 0
    got = dict(cur.execute("SELECT item_id, option_list FROM items WHERE benchmark_id = 'odd'").fetchall())
    assert got == {"x1": ['A: say "yes"', "B: naïve – ünïcode"], "x2": ["A: back\\slash", "B: =1+2", "C: C: colon"]}
