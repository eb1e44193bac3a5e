"""The one check for truly optional packages: it names what to install, and real import bugs still surface."""
from __future__ import annotations

import sys

import pytest

from medviz import extras
from medviz.errors import MedvizError


def test_missing_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)          # import umap -> ImportError; find_spec -> error
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None)
    assert not extras.available("umap")
    with pytest.raises(MedvizError) as e:
        extras.ensure_requirements("umap", hint="use method='pca'", field="method")
    msg = str(e.value)
    assert "pip install 'medviz[umap]'" in msg and "umap-learn" in msg and "method='pca'" in msg
    assert e.value.field == "method"


def test_only_declared_extras_may_be_asked():
    with pytest.raises(ValueError, match="not an optional extra; valid: umap, transformers"):
        extras.available("pandas")


def test_import_errors_are_classified():
    assert extras.missing_extra(ModuleNotFoundError("x", name="transformers.models")) == "transformers"
    assert extras.missing_extra(ModuleNotFoundError("x", name="medviz.oops")) is None
    assert extras.missing_extra(ImportError("cannot import name 'x'")) is None


def test_embedding_map_umap_without_umap_names_the_extra(monkeypatch, store):
    from medviz.encoders import maps
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(maps, "vectors", lambda *a: (None, None, None))
    assert maps.map_methods() == ["pca"]
    with pytest.raises(MedvizError, match=r"medviz\[umap\]"):
        maps.embedding_map(store, "b", "pixels", method="umap")
