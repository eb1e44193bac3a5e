"""When every exported annotation is of an item target, the export statement leaves out the per-pair
aggregation: the same rows, the same bytes, as the full statement."""
from __future__ import annotations

import shutil

import pytest

from medviz import __version__, auth
from medviz.annotations import Annotation, close_writer, get_writer
from medviz.export import COLUMNS, export_annotations
from medviz.store import Store
from medviz.store import annotation_export as xsql

MC, GMAI = "sample-mediconfusion", "sample-gmai"


@pytest.fixture
def store2(sample_store_file, tmp_path):
    path = str(tmp_path / "s.duckdb")
    shutil.copy(sample_store_file, path)
    s = Store(path)
    w = get_writer(s)
    for k, text in enumerate(["=1+1", "plain", "\x00nul", "-minus", "ok, comma"]):
        w.save(Annotation(GMAI, "item", str(1 + k), ["Refusal", "Perceptual error/Detail missed"][: 1 + k % 2],
                          f"r{k % 2}", model=None if k % 2 else "image-blind-baseline", rationale=text,
                          proposed_answer=None), auth.local(f"r{k % 2}"))
    yield s
    close_writer(s)
    s.close()


def _rows(store, benchmark_id, *, pairs, for_csv):
    q, params = xsql.export_query(benchmark_id=benchmark_id, model=None, modality=None, columns=COLUMNS,
                                  version=__version__, base_url="http://h", sims_table=None, for_csv=for_csv,
                                  pairs=pairs)
    return store.new_cursor().execute(q, params).fetchall()


def test_items_only_statement_gives_the_same_rows_as_the_full_one(store2):
    cur = store2.cursor()
    assert not xsql.has_pair_targets(cur, GMAI) and not xsql.has_pair_targets(cur, None)
    for for_csv in (True, False):
        full = _rows(store2, GMAI, pairs=True, for_csv=for_csv)
        assert len(full) == 7 and full == _rows(store2, GMAI, pairs=False, for_csv=for_csv)


def test_a_pair_annotation_switches_back_to_the_full_statement(store2, tmp_path):
    before = export_annotations(store2, None, benchmark_id=GMAI)
    get_writer(store2).save(Annotation(MC, "pair", "s001", ["Refusal"], "r9"), auth.local("r9"))
    assert xsql.has_pair_targets(store2.cursor(), None) and not xsql.has_pair_targets(store2.cursor(), GMAI)
    assert export_annotations(store2, None, benchmark_id=GMAI) == before
    both = export_annotations(store2, None).decode("utf-8").splitlines()
    pair_row = next(r for r in both if r.startswith(f"{MC},pair,s001,"))
    assert ";" in pair_row.split(",")[3]           # the pair's two item ids, from the per-pair aggregation
