"""Issue 11, "bounded resources for every input": spreadsheet bombs refused before openpyxl parses them (peak
memory measured in a fresh process), error messages that quote at most a bounded amount, deep JSON refused
with a message, upload names and URL parameters bounded, and the defaults the README lists.

Before: a 307 KB .xlsx of whitespace took the server to 4.1 GB and 23 s and its error echoed a 630 MB cell;
deep JSON raised RecursionError (a traceback from `medviz ingest`)."""
import json
import os
import re
import subprocess
import sys
import time
import zipfile

import pandas as pd
import pytest

from medviz import limits
from medviz.errors import MedvizError
from medviz.ingest import import_predictions, ingest_benchmark
from tests.conftest import snapshot

from .conftest import ROOT, peak_rss

_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.'
    'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
    'org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def whitespace_xlsx(path, mib: int) -> str:
    """A valid spreadsheet: header index/prediction, one row whose prediction is ``mib`` MiB of spaces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in _PARTS.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                    b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>index</t></is>'
                    b'</c><c r="B1" t="inlineStr"><is><t>prediction</t></is></c></row><row r="2"><c r="A2"><v>0</v>'
                    b'</c><c r="B2" t="inlineStr"><is><t xml:space="preserve">')
            block = b" " * (1 << 20)
            for _ in range(mib):
                f.write(block)
            f.write(b"</t></is></c></row></sheetData></worksheet>")
    return str(path)


@pytest.fixture
def gmai_store(store, sample_files):
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    return store


@pytest.mark.parametrize("mib,needle", [(200, "would expand to 200.0 MiB, over the 128.0 MiB limit"),
                                        (60, "compresses")])
def test_xlsx_bomb_is_refused_before_parsing_with_bounded_memory_and_time(gmai_store, tmp_path, mib, needle):
    bomb = whitespace_xlsx(tmp_path / "m_GMAI-MMBench_SAMPLE.xlsx", mib)
    assert os.path.getsize(bomb) < 400_000                     # a few hundred KB on disk, like the file
    before = snapshot(gmai_store)
    with pytest.raises(MedvizError) as e:
        import_predictions(gmai_store, "g", bomb)
    assert needle in str(e.value) and len(str(e.value)) < 600
    assert snapshot(gmai_store) == before
    base, _ = peak_rss("from medviz.predictions import vlmevalkit\nfrom medviz.errors import MedvizError\n")
    t0 = time.perf_counter()
    mib_rss, out = peak_rss(
        "from medviz.predictions import vlmevalkit\nfrom medviz.errors import MedvizError\n"
        f"try:\n    vlmevalkit.read({bomb!r})\nexcept MedvizError as e:\n    print('refused:', e)\n")
    took = time.perf_counter() - t0
    print(f"xlsx bomb ({os.path.getsize(bomb):,} bytes, {mib} MiB of whitespace): peak RSS {mib_rss:.0f} MiB "
          f"(imports alone {base:.0f} MiB), {took:.1f} s including Python start-up")
    assert "refused:" in out and needle in out
    assert mib_rss - base < 50 and took < 20


def test_xlsx_cell_count_is_bounded(gmai_store, tmp_path, monkeypatch):
    p = tmp_path / "m_GMAI-MMBench_SAMPLE.xlsx"
    pd.DataFrame({"index": range(200), "prediction": ["A"] * 200}).to_excel(p, index=False)
    limits.check_xlsx(str(p))                                   # fine under the default
    monkeypatch.setattr(limits, "MAX_XLSX_CELLS", 300)          # 402 cells with the header
    with pytest.raises(MedvizError, match="more than 300 cells"):
        import_predictions(gmai_store, "g", str(p))


def test_error_messages_quote_a_bounded_amount(store, tmp_path):
    huge = "A" * 50 + "x" * 1_000_000
    p = tmp_path / "bench.csv"
    pd.DataFrame([{"item_id": "i1", "question": "q", "A": "a", "B": "b", "answer": huge}]).to_csv(p, index=False)
    with pytest.raises(MedvizError) as e:
        ingest_benchmark(store, str(p), benchmark_id="gen")
    assert "(1,000,050 characters)" in str(e.value) and len(str(e.value)) < 400
    assert len(str(MedvizError("y" * 10_000_000, record="r" * 10_000))) < 2_800   # the safety net


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_gets_a_message_everywhere(gmai_store, tmp_path):
    deep = _nested(100_000)
    ds = tmp_path / "dataset.json"
    ds.write_text('{"1": {"question": ' + deep + "}}")
    with pytest.raises(MedvizError, match="nests deeper than 64 levels"):
        ingest_benchmark(gmai_store, str(ds), benchmark_id="mc")
    jl = tmp_path / "bench.jsonl"
    jl.write_text(json.dumps({"item_id": "1", "question": "q", "A": "a", "B": "b", "answer": "A"}) + "\n"
                  + '{"item_id": ' + deep + "}\n")
    with pytest.raises(MedvizError, match="line 2.*nests deeper"):
        ingest_benchmark(gmai_store, str(jl), benchmark_id="gen")
    pj = tmp_path / "m_GMAI-MMBench_SAMPLE.json"
    pj.write_text('{"0": ' + deep + "}")
    with pytest.raises(MedvizError, match="nests deeper"):
        import_predictions(gmai_store, "g", str(pj))
    pl = tmp_path / "preds.jsonl"
    pl.write_text('{"item_id": "0", "model": "m", "prediction": ' + deep + "}\n")
    with pytest.raises(MedvizError, match="line 1.*nests deeper"):
        import_predictions(gmai_store, "g", str(pl))


def test_deep_json_from_the_cli_is_a_message_not_a_traceback(tmp_path):
    ds = tmp_path / "dataset.json"
    ds.write_text(_nested(200_000))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "ingest", str(ds), "--db", str(tmp_path / "x.duckdb")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "RecursionError" not in out.stderr
    assert "nests deeper than 64 levels" in out.stderr


def test_json_depth_scan_ignores_brackets_inside_strings():
    assert not limits.json_depth_exceeds(json.dumps({"q": "[" * 1000}))
    assert limits.json_depth_exceeds(_nested(65)) and not limits.json_depth_exceeds(_nested(64))


@pytest.mark.parametrize("name,needle", [("a\x00b.csv", "which a file name cannot hold"),
                                         ("x" * 300 + ".csv", "is 304 characters long; the limit is 255"),
                                         ("../../etc/passwd", "which a file name cannot hold")])
def test_upload_names_are_bounded(name, needle):
    with pytest.raises(MedvizError) as e:
        limits.check_upload_name(name)
    assert needle in str(e.value) and len(str(e.value)) < 300 and "\x00" not in str(e.value)


def test_ordinary_upload_names_pass():
    assert limits.check_upload_name("GPT-4o_GMAI-MMBench_VAL (1).xlsx") == "GPT-4o_GMAI-MMBench_VAL (1).xlsx"


def test_query_parameters_are_bounded():
    assert limits.bounded_param("10001") == "10001"
    assert limits.bounded_param("x" * 60_000) is None and limits.bounded_param(None) is None
    assert limits.bounded_param("a\x00") is None


def test_default_limits_and_the_readme_lists_them():
    assert (limits.MAX_PIXELS, limits.MAX_IMAGE_BYTES, limits.MAX_XLSX_UNCOMPRESSED, limits.MAX_XLSX_RATIO,
            limits.MAX_XLSX_CELLS, limits.MAX_JSON_BYTES, limits.MAX_JSON_DEPTH, limits.MAX_TSV_LINE) == (
        40_000_000, 256 << 20, 128 << 20, 200, 5_000_000, 512 << 20, 64, 512 << 20)
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Limits"):]
    for name in ("MAX_PIXELS", "MAX_IMAGE_BYTES", "MAX_XLSX_UNCOMPRESSED", "MAX_XLSX_RATIO", "MAX_XLSX_CELLS",
                 "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_TSV_LINE"):
        assert re.search(rf"MEDVIZ_{name}\b", section), name


def test_a_limit_can_be_changed_by_environment(tmp_path):
    env = dict(os.environ, MEDVIZ_MAX_PIXELS="1000", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", "from medviz import limits, images; "
                          "print(limits.MAX_PIXELS, images.MAX_PIXELS)"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.stdout.split() == ["1000", "1000"], out.stderr
    env["MEDVIZ_MAX_PIXELS"] = "lots"
    out = subprocess.run([sys.executable, "-c", "import medviz.limits"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert "MEDVIZ_MAX_PIXELS must be a whole number, found 'lots'" in out.stderr


def test_prediction_and_annotation_files_are_bounded_before_parsing(gmai_store, tmp_path, monkeypatch):
    """CSV/TSV/xlsx/Parquet files read by pandas get a size bound (MEDVIZ_MAX_TABLE_BYTES) checked before any
    parser runs; the store is unchanged."""
    from medviz.annotations import close_writer
    from medviz.auth import file_owner
    from medviz.export import import_annotations
    p = tmp_path / "m_GMAI-MMBench_SAMPLE.tsv"
    pd.DataFrame({"index": range(200), "prediction": ["A"] * 200}).to_csv(p, sep="\t", index=False)
    ann = tmp_path / "tags.csv"
    ann.write_text("benchmark_id,target_type,target_id\n" + "g,item,0\n" * 200)
    before = snapshot(gmai_store)
    monkeypatch.setattr(limits, "MAX_TABLE_BYTES", 1000)
    with pytest.raises(MedvizError, match="prediction file is .*; at most 1,000 bytes") as e:
        import_predictions(gmai_store, "g", str(p))
    assert e.value.file == str(p) and "MEDVIZ_MAX_TABLE_BYTES" in str(e.value)
    with pytest.raises(MedvizError, match="annotation file is") as e:
        import_annotations(gmai_store, str(ann), by=file_owner())
    close_writer(gmai_store)
    assert e.value.file == str(ann)
    assert snapshot(gmai_store) == before
