"""Rebuild the sample files (without touching a database): python sample_data/build.py [OUT_DIR]."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from medviz.demo import build_files  # noqa: E402

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "generated")
    print(json.dumps(build_files(out), indent=2, default=str))
