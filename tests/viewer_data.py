"""A small benchmark for the viewer's tests (AppTest and Chromium): pydicom's own test files (CT_small,
MR_small, rtdose with 15 frames, MR_small re-labelled MONOCHROME1) and generated PNGs of different sizes
(synthetic), as a generic JSONL benchmark with pairs ctmr, sizes, mono, multi and gone (no image files, with
captions)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file

PAIRS = ["ctmr", "sizes", "mono", "multi", "gone"]


def build_viewer_db(d, *, benchmark_id: str = "viewer") -> str:
    from medviz.cli import main
    shutil.copy(get_testdata_file("CT_small.dcm"), d / "ct.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), d / "mr.dcm")
    shutil.copy(get_testdata_file("rtdose.dcm"), d / "multi.dcm")
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(d / "mono1.dcm")
    ramp = np.tile(np.linspace(30, 220, 120).astype(np.uint8), (40, 1))
    Image.fromarray(ramp).save(d / "wide.png")
    Image.fromarray(np.full((300, 100), 60, np.uint8)).save(d / "tall.png")
    rows = [("ctmr-1", "ctmr", 1, "ct.dcm", "CT", "axial CT of the head"),
            ("ctmr-2", "ctmr", 2, "mr.dcm", "MRI", "T1 MR of the head"),
            ("size-1", "sizes", 1, "wide.png", "X-ray", ""), ("size-2", "sizes", 2, "tall.png", "X-ray", ""),
            ("m1-1", "mono", 1, "mono1.dcm", "MRI", ""), ("m1-2", "mono", 2, "mr.dcm", "MRI", ""),
            ("mf-1", "multi", 1, "multi.dcm", "RT dose", ""), ("mf-2", "multi", 2, "mr.dcm", "MRI", ""),
            ("gone-1", "gone", 1, "", "CT", "Axial CT shows a mass in the left lobe"),
            ("gone-2", "gone", 2, "", "CT", "Coronal CT, normal lung <b>fields</b>")]
    with open(d / "bench.jsonl", "w") as f:
        for item, pair, slot, img, mod, cap in rows:
            f.write(json.dumps({"item_id": item, "pair_id": pair, "slot": slot, "image_path": img,
                                "question": "Which is shown?", "A": "yes", "B": "no", "answer": "A",
                                "modality": mod, "caption": cap}) + "\n")
    db = str(d / "v.duckdb")
    assert main(["ingest", str(d / "bench.jsonl"), "--kind", "generic", "--id", benchmark_id, "--db", db]) == 0
    return db
