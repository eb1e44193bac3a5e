"""Run a bench script again in a fresh Python process (``--child ...`` modes) and read the JSON object it
prints on its last line: every side of a comparison starts from a cold process (imports, caches, RSS)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(script: str, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, os.path.abspath(script), *args], capture_output=True, text=True, env=env,
                       cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed:\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])
