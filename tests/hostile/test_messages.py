"""Issue 11, "messages a user can act on": the file's own terms (pair id, `index`), null vs missing, bad
bytes by line and column, truncated files said to look truncated, a UTF-8 BOM accepted, no doubled words.

Before: `item 99999-1` / field `item_id` for a MediConfusion or VLMEvalKit file, "missing" for a null,
"byte 3442 of a read block", a BOM broke the header, "starting at at line 1"."""
import json
import re

import pandas as pd
import pytest

from medviz.ingest import import_predictions, ingest_benchmark
from tests import test_bad_input as bad_input


def _fails(store, fn, *needles, absent=()):
    """The message names every needle, none of ``absent``, has no doubled word; the store is unchanged."""
    msg = bad_input._fails(store, fn, *needles)
    for n in absent:
        assert n not in msg, (n, msg)
    assert not re.search(r"\b(\w+) \1\b", msg), f"doubled word in: {msg}"
    return msg


@pytest.fixture
def loaded(store, sample_files):
    ingest_benchmark(store, sample_files["mc_dataset"], kind="mediconfusion", benchmark_id="mc")
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    return store


def test_mediconfusion_results_for_an_unknown_pair_name_the_pair(loaded, sample_files, tmp_path):
    data = json.load(open(next(iter(sample_files["mc_results"].values()))))
    data["99999"] = next(iter(data.values()))
    p = tmp_path / "m_mc.json"
    p.write_text(json.dumps(data))
    _fails(loaded, lambda: import_predictions(loaded, "mc", str(p)), "record pair 99999", "pair '99999'",
           absent=("99999-1", "item_id", "item "))


def test_vlmevalkit_unknown_index_names_the_index_column(loaded, sample_files, tmp_path):
    df = pd.read_excel(next(iter(sample_files["gmai_preds"].values())))
    df.loc[0, "index"] = 99999
    p = tmp_path / "m_GMAI-MMBench_SAMPLE.xlsx"
    df.to_excel(p, index=False)
    _fails(loaded, lambda: import_predictions(loaded, "g", str(p)), "record index 99999", "field 'index'",
           absent=("item_id",))


def test_null_and_missing_are_told_apart(loaded, tmp_path, sample_files):
    p = bad_input._mc_dataset(tmp_path, sample_files, lambda d: d["s003"].update(im_2_correct=None))
    _fails(loaded, lambda: ingest_benchmark(loaded, p, benchmark_id="mc"), "record s003", "'im_2_correct'",
           "is null")
    p = bad_input._mc_dataset(tmp_path, sample_files, lambda d: d["s003"].pop("im_2_correct"))
    _fails(loaded, lambda: ingest_benchmark(loaded, p, benchmark_id="mc"), "'im_2_correct'", "is missing")
    jl = tmp_path / "bench.jsonl"
    jl.write_text(json.dumps({"item_id": "1", "question": None, "A": "a", "B": "b", "answer": "A"}) + "\n")
    _fails(loaded, lambda: ingest_benchmark(loaded, str(jl), benchmark_id="gen"), "line 1", "'question'", "is null")
    jl.write_text(json.dumps({"item_id": "1", "A": "a", "B": "b", "answer": "A"}) + "\n")
    _fails(loaded, lambda: ingest_benchmark(loaded, str(jl), benchmark_id="gen"), "'question'", "is missing")


def test_non_utf8_tsv_names_line_and_column(loaded, tmp_path, sample_files):
    raw = open(sample_files["gmai_tsv"], "rb").read()
    lines = raw.split(b"\n")
    header = lines[0].decode().split("\t")
    col = header.index("question")
    fields = lines[3].split(b"\t")
    fields[col] = b"Wh\xefch" + fields[col]
    lines[3] = b"\t".join(fields)
    p = tmp_path / "bad.tsv"
    p.write_bytes(b"\n".join(lines))
    msg = _fails(loaded, lambda: ingest_benchmark(loaded, str(p), kind="gmai", benchmark_id="g"),
                 "record line 4", "field 'question'", "byte 0xef", "UTF-8", absent=("read block",))
    assert "character" in msg


def test_non_utf8_csv_names_line_and_column(loaded, tmp_path):
    c = tmp_path / "bench.csv"
    c.write_bytes(b"item_id,question,A,B,answer\n1,q,a,b,A\n2,caf\xe9?,a,b,A\n")
    _fails(loaded, lambda: ingest_benchmark(loaded, str(c), benchmark_id="gen"), "record line 3", "field 'question'",
           "byte 0xe9 at character 6")
    pc = tmp_path / "preds.csv"
    pc.write_bytes(b"item_id,model,prediction\n0,m,A\n1,m,caf\xe9\n")
    _fails(loaded, lambda: import_predictions(loaded, "g", str(pc)), "record line 3", "field 'prediction'", "0xe9")
    pt = tmp_path / "m_GMAI-MMBench_SAMPLE.tsv"
    pt.write_bytes(b"index\tprediction\n0\tA\n1\tcaf\xe9\n")
    _fails(loaded, lambda: import_predictions(loaded, "g", str(pt)), "record line 3", "field 'prediction'")


def test_truncated_tsv_says_it_looks_truncated(loaded, tmp_path, sample_files):
    raw = open(sample_files["gmai_tsv"], "rb").read().rstrip(b"\n")
    last = raw.rfind(b"\n")
    cut = last + (len(raw) - last) // 3                 # a third of the last line is left
    p = tmp_path / "cut.tsv"
    p.write_bytes(raw[:cut])
    n_lines = raw.count(b"\n") + 1
    _fails(loaded, lambda: ingest_benchmark(loaded, str(p), kind="gmai", benchmark_id="g"), "looks truncated",
           f"(line {n_lines})", "stops inside the 'image' column")
    p.write_bytes(raw[:last + 60])                      # cut before the last columns
    _fails(loaded, lambda: ingest_benchmark(loaded, str(p), kind="gmai", benchmark_id="g"), "looks truncated",
           f"record line {n_lines}", "stops after")


def test_truncated_json_says_it_looks_truncated_without_doubled_words(loaded, tmp_path, sample_files):
    p = tmp_path / "dataset.json"
    text = open(sample_files["mc_dataset"]).read()
    p.write_text(text[:text.index('"question"') + 15])        # cut inside a string
    msg = _fails(loaded, lambda: ingest_benchmark(loaded, str(p), benchmark_id="mc"), "looks truncated",
                 "Unterminated string starting at line")
    assert "at at" not in msg


def test_a_utf8_byte_order_mark_is_accepted(store, tmp_path, sample_files):
    bom = b"\xef\xbb\xbf"
    t = tmp_path / "bom.tsv"
    t.write_bytes(bom + open(sample_files["gmai_tsv"], "rb").read())
    assert ingest_benchmark(store, str(t), kind="gmai", benchmark_id="g")["items"] == 10
    c = tmp_path / "bom.csv"
    c.write_bytes(bom + b"item_id,question,A,B,answer\n1,q,a,b,A\n")
    assert ingest_benchmark(store, str(c), benchmark_id="gen")["items"] == 1
    j = tmp_path / "dataset.json"
    j.write_bytes(bom + open(sample_files["mc_dataset"], "rb").read())
    assert ingest_benchmark(store, str(j), benchmark_id="mc")["pairs"] == 8
