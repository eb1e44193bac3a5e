"""Helpers for the hostile-input tests: bad images, bombs, and peak memory of a step run in a fresh process."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def jpeg(size=(64, 64), color="white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def png(size=(32, 32), color="black") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bomb(w=20000, h=20000) -> bytes:
    """A tiny JPEG whose header claims w x h pixels."""
    data = bytearray(jpeg((100, 100)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(data)


def png_bomb(w=50000, h=50000) -> bytes:
    data = bytearray(png())
    data[16:24] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
    return bytes(data)


def dicom(rows=64, cols=64, *, compressed_rows=None, pixel_bytes=None) -> bytes:
    """A DICOM file: uncompressed rows x cols 16-bit, or (compressed_rows) an RLE one whose header claims
    compressed_rows x compressed_rows but whose compressed stream is a few hundred bytes (a DICOM bomb)."""
    import numpy as np
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = RLELossless if compressed_rows else ExplicitVRLittleEndian
    ds = FileDataset("x.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    n = compressed_rows or rows
    ds.Rows, ds.Columns = n, (compressed_rows or cols)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if compressed_rows:
        # RLE header (1 segment at offset 64) + a run that would repeat zeros across the whole image
        header = (1).to_bytes(4, "little") + (64).to_bytes(4, "little") + b"\0" * 56
        ds.PixelData = encapsulate([header + bytes([0x81, 0]) * 200])
        ds["PixelData"].VR = "OB"
    else:
        arr = (np.arange(rows * cols, dtype=np.uint16) % 4096).reshape(rows, cols)
        ds.PixelData = arr.tobytes() if pixel_bytes is None else arr.tobytes()[:pixel_bytes]
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def peak_rss(code: str, timeout: int = 120) -> tuple[float, str]:
    """Run ``code`` in a fresh Python (this checkout first on the path); returns (peak RSS in MiB, stdout).

    The child prints its own peak resident set as the last line: VmHWM from /proc (it starts afresh at
    exec, unlike ``ru_maxrss``, which inherits the forking pytest's), else ``resource``'s figure."""
    wrapped = code + (
        "\ntry:\n    print(int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]))\n"
        "except (OSError, IndexError):\n    import resource\n"
        "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, timeout=timeout,
                         env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    return int(lines[-1]) / 1024, "\n".join(lines[:-1])


@pytest.fixture
def write_csv(tmp_path):
    """A generic benchmark CSV with one row per (item_id, image_path), images written under <dir>/images."""
    import pandas as pd

    def make(rows: list[tuple[str, str]], files: dict[str, bytes] | None = None, folder: str = "gen") -> str:
        d = tmp_path / folder
        (d / "images").mkdir(parents=True, exist_ok=True)
        for name, data in (files or {}).items():
            target = d / "images" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        p = d / "bench.csv"
        pd.DataFrame([{"item_id": i, "image_path": rel, "question": "q", "A": "a", "B": "b", "answer": "A"}
                      for i, rel in rows]).to_csv(p, index=False)
        return str(p)
    return make


def dump(obj) -> str:
    return json.dumps(obj)
