"""Every malformed input named in issue 2: a message naming file/record/field, and the store unchanged."""
import json
import os

import pandas as pd
import pytest

from medviz.errors import MedvizError
from medviz.ingest import import_predictions, ingest_benchmark
from tests.conftest import snapshot


@pytest.fixture
def loaded(store, sample_files):
    """A store that already holds data, so 'unchanged' means something."""
    ingest_benchmark(store, sample_files["mc_dataset"], kind="mediconfusion", benchmark_id="mc",
                     images_dir=sample_files["mc_images"])
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    import_predictions(store, "g", next(iter(sample_files["gmai_preds"].values())), model="m")
    return store


def _fails(store, fn, *needles):
    before = snapshot(store)
    with pytest.raises(MedvizError) as e:
        fn()
    msg = str(e.value)
    for n in needles:
        assert n in msg, (n, msg)
    assert snapshot(store) == before, "the failed load changed the store"
    return msg


def _mc_dataset(tmp_path, sample_files, mutate):
    data = json.load(open(sample_files["mc_dataset"]))
    mutate(data)
    p = tmp_path / "dataset.json"
    p.write_text(json.dumps(data))
    return str(p)


def test_truncated_json(loaded, tmp_path, sample_files):
    p = tmp_path / "dataset.json"
    p.write_text(open(sample_files["mc_dataset"]).read()[:500])
    _fails(loaded, lambda: ingest_benchmark(loaded, str(p), benchmark_id="mc"), str(p), "not valid JSON", "truncated")


def test_pair_missing_im_2_correct(loaded, tmp_path, sample_files):
    p = _mc_dataset(tmp_path, sample_files, lambda d: d["s003"].pop("im_2_correct"))
    _fails(loaded, lambda: ingest_benchmark(loaded, p, benchmark_id="mc"), p, "record s003", "im_2_correct")


def test_letter_other_than_a_or_b(loaded, tmp_path, sample_files):
    p = _mc_dataset(tmp_path, sample_files, lambda d: d["s002"].update(im_1_correct="C"))
    _fails(loaded, lambda: ingest_benchmark(loaded, p, benchmark_id="mc"), "record s002", "im_1_correct", "'C'")


def _tsv_with(tmp_path, sample_files, row_no, **changes):
    df = pd.read_csv(sample_files["gmai_tsv"], sep="\t", dtype=str, keep_default_na=False)
    for k, v in changes.items():
        if v is None:
            df = df.drop(columns=[k])
        else:
            df.loc[row_no, k] = v
    p = tmp_path / "bad.tsv"
    df.to_csv(p, sep="\t", index=False)
    return str(p)


# Bad images (empty, truncated, not an image, over the pixel limit, escaping the images folder, invalid
# base64) no longer refuse the whole file: issue 11 made each one a per-image status with its reason. Those
# cases moved to tests/hostile/test_image_status.py, which asserts the status, the reason, the record and field
# in the CLI's warning, and that the rest of the file loads.


def test_tsv_missing_required_column(loaded, tmp_path, sample_files):
    p = _tsv_with(tmp_path, sample_files, 0, question=None)
    _fails(loaded, lambda: ingest_benchmark(loaded, p, kind="gmai", benchmark_id="g"), p, "'question'")


def test_prediction_for_unknown_item(loaded, tmp_path):
    p = tmp_path / "preds.csv"
    pd.DataFrame({"item_id": ["0", "999"], "model": ["m", "m"], "prediction": ["A", "B"]}).to_csv(p, index=False)
    _fails(loaded, lambda: import_predictions(loaded, "g", str(p)), str(p), "item 999", "item_id")


def test_xlsx_that_is_not_a_spreadsheet(loaded, tmp_path):
    p = tmp_path / "m_GMAI-MMBench_SAMPLE.xlsx"
    p.write_text("index\tprediction\n0\tA\n")
    _fails(loaded, lambda: import_predictions(loaded, "g", str(p)), str(p), "not an Excel")


def test_non_utf8_text(loaded, tmp_path, sample_files):
    p = tmp_path / "dataset.json"
    p.write_bytes(open(sample_files["mc_dataset"], "rb").read().replace(b"Which imaging", "Wh\xefch".encode("latin-1"), 1))
    _fails(loaded, lambda: ingest_benchmark(loaded, str(p), benchmark_id="mc"), str(p), "UTF-8")
    t = tmp_path / "bad.tsv"
    t.write_bytes(open(sample_files["gmai_tsv"], "rb").read().replace(b"Which", b"Wh\xefch", 1))
    _fails(loaded, lambda: ingest_benchmark(loaded, str(t), kind="gmai", benchmark_id="g"), str(t), "UTF-8")
    c = tmp_path / "preds.csv"
    c.write_bytes(b"item_id,model,prediction\n0,m,caf\xe9\n")
    _fails(loaded, lambda: import_predictions(loaded, "g", str(c)), str(c), "UTF-8")


def test_second_process_gets_a_clear_message(store):
    import subprocess
    import sys
    code = ("import sys\nfrom medviz.store import Store\nfrom medviz.errors import DatabaseInUse\n"
            "try:\n    Store(sys.argv[1])\nexcept DatabaseInUse as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, store.path], capture_output=True, text=True, timeout=60)
    assert f"in use by PID {os.getpid()}" in out.stdout, out.stdout + out.stderr


def test_cli_shows_message_not_traceback(tmp_path):
    import subprocess
    import sys
    p = tmp_path / "dataset.json"
    p.write_text('{"1": {')
    out = subprocess.run([sys.executable, "-m", "medviz.cli", "ingest", str(p), "--db", str(tmp_path / "x.duckdb")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "not valid JSON" in out.stderr
