"""The predictions import looks up unknown item ids and the benchmark's options in DuckDB (issue 14: no pandas
copy of every item). The message still names the first unknown id in file order and how many rows have one;
the letters are the ones the benchmark's options give; nothing is written on failure."""
import pandas as pd
import pytest

from medviz.errors import MedvizError
from medviz.ingest import import_predictions, ingest_benchmark

from conftest import snapshot


@pytest.fixture
def bench(store, tmp_path):
    rows = [{"item_id": f"q{k}", "question": "Which organ?", "A": "lung", "B": "liver", "C": f"organ {k}",
             "answer": "ABC"[k % 3]} for k in range(30)]
    p = tmp_path / "b.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    ingest_benchmark(store, str(p), kind="generic", benchmark_id="b", synthetic=True)
    return "b"


def test_first_unknown_id_in_file_order_and_the_count(store, bench, tmp_path):
    ids = ["q1", "zz-late", "q2", "aa-early", "q3", "zz-late"]   # 'aa-early' sorts first; 'zz-late' comes first
    p = tmp_path / "preds.csv"
    pd.DataFrame({"item_id": ids, "model": ["m", "m", "m", "m", "m", "n"], "prediction": "A"}).to_csv(p, index=False)
    before = snapshot(store)
    with pytest.raises(MedvizError) as e:
        import_predictions(store, bench, str(p))
    msg = str(e.value)
    assert "'zz-late'" in msg and "(3 such rows)" in msg and str(p) in msg and "item_id" in msg
    assert snapshot(store) == before


def test_letters_from_the_benchmark_options_per_item(store, bench, tmp_path):
    # option text is matched against each item's own options: "organ 4" is C for q4 only
    p = tmp_path / "preds.csv"
    pd.DataFrame({"item_id": ["q4", "q5", "q6", "q7"], "model": "m",
                  "prediction": ["organ 4", "organ 4", "The answer is B", "lung"]}).to_csv(p, index=False)
    assert import_predictions(store, bench, str(p)) == {"m": 4}
    got = dict(store.cursor().execute("SELECT item_id, parsed FROM predictions WHERE benchmark_id = 'b'").fetchall())
    assert got == {"q4": "C", "q5": None, "q6": "B", "q7": "A"}
