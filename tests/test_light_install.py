"""A light ``pip install medviz`` (no torch, torchvision, open_clip): scoring, ingest, the demo with the
weight-free pixels encoder and the model list work; a learned encoder names the extra to install.

The packages are hidden from a subprocess by a meta-path hook, so this runs in the full test environment.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
HIDE = '''
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "open_clip", "timm"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Hide())
'''


def _medviz(tmp_path, *args):
    hook = tmp_path / "hide"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HIDE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "medviz.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def test_light_install_runs_without_torch(tmp_path):
    db = str(tmp_path / "d.duckdb")
    _medviz(tmp_path, "--help")                 # writes the hook
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(tmp_path / "hide")))
    assert probe.returncode != 0 and "torch" in probe.stderr
    r = _medviz(tmp_path, "demo", "--db", db, "--out", str(tmp_path / "sd"))
    assert r.returncode == 0, r.stderr
    assert "sample database ready" in r.stdout
    r = _medviz(tmp_path, "scores", "sample-mediconfusion", "--db", db, "--json")
    assert r.returncode == 0 and "set_accuracy" in r.stdout, r.stderr
    tsv = next((tmp_path / "sd" / "gmai").glob("*.tsv"))
    xlsx = sorted((tmp_path / "sd" / "gmai").glob("*.xlsx"))[0]
    r = _medviz(tmp_path, "score", "gmai", str(tsv), str(xlsx), "--json")
    assert r.returncode == 0 and '"overall"' in r.stdout, r.stderr
    r = _medviz(tmp_path, "models", "list")
    assert r.returncode == 0, r.stderr
    assert "needs pip install 'medviz[encoders]'" in r.stdout
    r = _medviz(tmp_path, "embed", "sample-gmai", "--encoder", "biomedclip", "--db", db)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pip install 'medviz[encoders]'" in r.stderr
