"""Issue 11: CSV export neutralises a leading NUL as well as the OWASP set (=, +, -, @, tab, CR), and import
undoes it exactly. Before: a rationale starting with NUL then "=" reached the spreadsheet as a formula in
readers that drop the NUL."""
import csv
import io
import shutil

import pytest

from medviz import auth
from medviz.annotations import Annotation, close_writer, get_writer
from medviz.export import export_annotations, neutralise, unneutralise
from medviz.store import Store

MC = "sample-mediconfusion"
HOSTILE = ["\x00=HYPERLINK(\"http://attacker.example/\",\"x\")", "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("cell", HOSTILE)
def test_formula_starts_including_nul_are_neutralised_and_undone(cell):
    assert neutralise(cell).startswith("'") and unneutralise(neutralise(cell)) == cell


def test_export_of_a_nul_led_rationale(sample_store_file, tmp_path):
    path = str(tmp_path / "x.duckdb")
    shutil.copy(sample_store_file, path)
    s = Store(path)
    try:
        get_writer(s).save(Annotation(MC, "pair", "s001", ["Visual confusion/Image ignored"], "rev",
                                      rationale=HOSTILE[0]), auth.local("rev"))
        data = export_annotations(s, None, fmt="csv", benchmark_id=MC)
    finally:
        close_writer(s)
        s.close()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8") if isinstance(data, bytes) else data)))
    assert [r["rationale"] for r in rows if "attacker" in r["rationale"]] == ["'" + HOSTILE[0]]
