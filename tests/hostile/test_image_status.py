"""Issue 11, "a bad image never aborts a benchmark": per-image status and reason, the load goes on, the CLI
summarises, escaping paths are never read, and the pixel limit holds for every format at ingest and display.

Before: each of these files refused the whole dataset (or, for escapes through links, was read)."""
import json
import os
import shutil

import pytest

from medviz import image_load, images
from medviz.cli import main as cli_main
from medviz.errors import MedvizError
from medviz.ingest import ingest_benchmark
from medviz.store import core
from tests.conftest import snapshot

from .conftest import dicom, jpeg, jpeg_bomb, peak_rss, png, png_bomb


def _status(store, bench, item_id):
    it = core.item(store.cursor(), bench, item_id)
    return it["image_status"], it["image_reason"]


@pytest.fixture
def outside(tmp_path):
    """A valid image outside every images folder: reading it would give status ok."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.jpg").write_bytes(jpeg())
    return d


def test_every_bad_image_gets_a_status_and_the_load_succeeds(store, write_csv, outside, tmp_path):
    files = {"good.jpg": jpeg(), "good.png": png(), "ct.dcm": dicom(), "empty.jpg": b"",
             "cut.jpg": jpeg()[:300], "cut.png": png()[:40], "text.jpg": b"hello, not an image\n" * 5,
             "bomb.jpg": jpeg_bomb(), "bomb.png": png_bomb(), "bomb.dcm": dicom(compressed_rows=12000),
             "cut.dcm": dicom(pixel_bytes=1000), "head.dcm": b"\0" * 128 + b"DICM" + b"\x02\x00\x10"}
    rows = [("ok-jpg", "images/good.jpg"), ("ok-png", "images/good.png"), ("ok-dcm", "images/ct.dcm"),
            ("empty", "images/empty.jpg"), ("cut-jpg", "images/cut.jpg"), ("cut-png", "images/cut.png"),
            ("text", "images/text.jpg"), ("bomb-jpg", "images/bomb.jpg"), ("bomb-png", "images/bomb.png"),
            ("bomb-dcm", "images/bomb.dcm"), ("cut-dcm", "images/cut.dcm"), ("head-dcm", "images/head.dcm"),
            ("gone", "images/nope.jpg"), ("dotdot", "../outside/secret.jpg"),
            ("absolute", str(outside / "secret.jpg")), ("link-out", "images/link.jpg"),
            ("dir-link-out", "images/linked/secret.jpg"), ("link-in", "images/alias.jpg")]
    p = write_csv(rows, files)
    img = os.path.join(os.path.dirname(p), "images")
    os.symlink(outside / "secret.jpg", os.path.join(img, "link.jpg"))
    os.symlink(outside, os.path.join(img, "linked"))
    os.symlink(os.path.join(img, "good.jpg"), os.path.join(img, "alias.jpg"))

    res = ingest_benchmark(store, p, benchmark_id="gen")
    assert res["items"] == len(rows)
    expect = {
        "ok-jpg": ("ok", None), "ok-png": ("ok", None), "ok-dcm": ("ok", None), "link-in": ("ok", None),
        "empty": ("unreadable", "empty file (0 bytes)"),
        "cut-jpg": ("unreadable", "truncated JPEG"), "cut-png": ("unreadable", "truncated PNG"),
        "text": ("unreadable", "not an image"),
        "bomb-jpg": ("unreadable", "over the pixel limit: 20000x20000 = 400,000,000 pixels"),
        "bomb-png": ("unreadable", "over the pixel limit: 50000x50000"),
        "bomb-dcm": ("unreadable", "over the pixel limit: 12000x12000 = 144,000,000 pixels"),
        "cut-dcm": ("unreadable", "truncated DICOM: pixel data has 1,000 of 8,192 bytes"),
        "head-dcm": ("unreadable", "undecodable DICOM"),
        "gone": ("missing", "no file 'images/nope.jpg' in the images folder"),
        "dotdot": ("unreadable", "outside the images folder: '../outside/secret.jpg' climbs out with '..'"),
        "absolute": ("unreadable", "outside the images folder: absolute path"),
        "link-out": ("unreadable", "outside the images folder: 'images/link.jpg' is a symbolic link pointing outside"),
        "dir-link-out": ("unreadable", "outside the images folder: a folder in 'images/linked/secret.jpg' is a "
                                       "symbolic link pointing outside"),
    }
    for item_id, (status, reason) in expect.items():
        got_status, got_reason = _status(store, "gen", item_id)
        assert got_status == status, (item_id, got_status, got_reason)
        assert (got_reason is None) if reason is None else (reason in got_reason), (item_id, got_reason)
    assert res["images"]["counts"] == {"ok": 4, "missing": 1, "unreadable": 13}
    it = core.item(store.cursor(), "gen", "link-in")
    assert it["image_path"] == os.path.join(os.path.realpath(img), "good.jpg")   # the link's target, inside
    assert it["image_sha256"] == core.item(store.cursor(), "gen", "ok-jpg")["image_sha256"]
    # escaping paths are never recorded as a path to read
    for item_id in ("dotdot", "absolute", "link-out", "dir-link-out"):
        assert core.item(store.cursor(), "gen", item_id)["image_path"] is None


def test_cli_prints_counts_first_problems_and_warnings_for_escapes(store, write_csv, outside, capsys):
    p = write_csv([("a", "images/good.jpg"), ("b", "images/empty.jpg"), ("c", "../outside/secret.jpg"),
                   ("d", "images/nope.jpg")], {"good.jpg": jpeg(), "empty.jpg": b""})
    store.close()
    assert cli_main(["ingest", p, "--id", "gen", "--db", store.path]) == 0
    out, err = capsys.readouterr()
    assert "images: 1 ok, 1 missing, 2 unreadable" in out
    assert "item b: unreadable (empty file (0 bytes))" in out
    assert "item d: missing (no file 'images/nope.jpg' in the images folder)" in out
    assert (f"warning: file {p}, record item c, field 'image_path': outside the images folder: "
            "'../outside/secret.jpg' climbs out with '..'; not read") in err
    assert "Traceback" not in out + err


def test_mediconfusion_local_path_escaping_is_reported_with_pair_and_field(store, sample_files, tmp_path, outside):
    data = json.load(open(sample_files["mc_dataset"]))
    first = next(iter(data))
    data[first]["im_1_local"] = "../outside/secret"            # joined as <images>/<im_1_local>.jpg
    p = tmp_path / "dataset.json"
    p.write_text(json.dumps(data))
    imgs = tmp_path / "imgs"
    shutil.copytree(sample_files["mc_images"], imgs)
    res = ingest_benchmark(store, str(p), benchmark_id="mc", images_dir=str(imgs))
    assert res["images"]["escapes"] == [{"record": f"pair {first}, image 1", "field": "im_1_local",
                                         "reason": "outside the images folder: '../outside/secret.jpg' climbs "
                                                   "out with '..'"}]
    assert _status(store, "mc", f"{first}-2")[0] == "ok"


def test_mediconfusion_truncated_image_is_unreadable_and_the_rest_load(store, sample_files, tmp_path):
    imgs = tmp_path / "imgs"
    shutil.copytree(sample_files["mc_images"], imgs)
    victim = sorted(os.listdir(imgs))[0]
    (imgs / victim).write_bytes((imgs / victim).read_bytes()[:200])
    res = ingest_benchmark(store, sample_files["mc_dataset"], benchmark_id="mc", images_dir=str(imgs))
    counts = res["images"]["counts"]
    assert counts["unreadable"] >= 1 and counts["ok"] == res["items"] - counts["unreadable"]
    assert res["images"]["problems"][0]["reason"] == "truncated JPEG (no end-of-image marker)"
    assert res["images"]["problems"][0]["record"].startswith("pair s0")


def _tsv_with_images(tmp_path, sample_files, changes: dict[int, str]) -> str:
    import pandas as pd
    df = pd.read_csv(sample_files["gmai_tsv"], sep="\t", dtype=str, keep_default_na=False)
    for row, value in changes.items():
        df.loc[row, "image"] = value
    p = tmp_path / "bad.tsv"
    df.to_csv(p, sep="\t", index=False)
    return str(p)


def test_gmai_bad_images_get_status_and_the_rest_load(store, sample_files, tmp_path):
    import base64
    import pandas as pd
    df = pd.read_csv(sample_files["gmai_tsv"], sep="\t", dtype=str, keep_default_na=False)
    raw = base64.b64decode(df.loc[2, "image"])
    p = _tsv_with_images(tmp_path, sample_files, {
        1: base64.b64encode(png_bomb()).decode(), 2: base64.b64encode(raw[: len(raw) // 2]).decode(),
        4: "iVBORw0KGgo!!!not-base64***"})
    res = ingest_benchmark(store, p, kind="gmai", benchmark_id="g")
    assert res["items"] == 10 and res["images"]["counts"] == {"ok": 7, "unreadable": 3}
    ids = df["index"].tolist()
    assert "over the pixel limit" in _status(store, "g", ids[1])[1]
    assert "truncated" in _status(store, "g", ids[2])[1]
    assert _status(store, "g", ids[4]) == ("unreadable", "not an image: the 'image' column is not valid base64")
    assert [p["record"] for p in res["images"]["problems"]] == sorted(f"index {ids[i]}" for i in (1, 2, 4))


def test_display_refuses_a_dicom_bomb_from_its_header_with_bounded_memory(tmp_path):
    """Before: a 12,000 x 12,000 DICOM was decoded on display (2.76 GB for the issue's file)."""
    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(dicom(compressed_rows=12000))
    assert bomb.stat().st_size < 2000
    with pytest.raises(MedvizError, match="over the pixel limit: 12000x12000"):
        image_load.load_image(str(bomb))
    with pytest.raises(MedvizError, match="over the pixel limit"):
        image_load.dicom_to_array(str(bomb))           # the encoders' path
    base, _ = peak_rss("from medviz import image_load\nfrom medviz.errors import MedvizError\n")
    mib, out = peak_rss(
        "from medviz import image_load\nfrom medviz.errors import MedvizError\n"
        f"try:\n    image_load.load_image({str(bomb)!r})\nexcept MedvizError as e:\n    print('refused:', e)\n")
    print(f"peak RSS, DICOM bomb on display: {mib:.0f} MiB (imports alone {base:.0f} MiB)")
    assert "refused:" in out and "over the pixel limit" in out
    assert mib - base < 50, (mib, base)            # decoding it would take 12000*12000*(2+4) bytes = 824 MiB


def test_display_applies_the_pixel_limit_to_png_and_jpeg_too(tmp_path):
    for name, data in (("b.png", png_bomb()), ("b.jpg", jpeg_bomb())):
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(MedvizError, match="over the pixel limit"):
            image_load.load_image(str(f))


def test_default_pixel_limit_is_40_megapixels():
    from medviz import limits
    assert limits.MAX_PIXELS == 40_000_000 == images.MAX_PIXELS
    assert images._pixels_reason(8000, 5000) is None and images._pixels_reason(8001, 5000) is not None


def test_a_failed_load_still_leaves_the_store_unchanged(store, sample_files, write_csv):
    ingest_benchmark(store, sample_files["gmai_tsv"], kind="gmai", benchmark_id="g")
    before = snapshot(store)
    p = write_csv([("x", "images/a.jpg"), ("x", "images/a.jpg")], {"a.jpg": jpeg()})   # duplicate id
    with pytest.raises(MedvizError, match="duplicate item_id"):
        ingest_benchmark(store, p, benchmark_id="g")
    assert snapshot(store) == before


def test_compressed_dicom_without_its_decoder_gets_a_status_at_ingest(monkeypatch):
    """A compressed transfer syntax whose decoder is not installed (a light install) is refused at ingest
    with the reason and the fix, not at display; with the decoder (the dicom extra, installed here) it passes."""
    from pydicom.data import get_testdata_file
    with open(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"), "rb") as f:
        data = f.read()
    assert images.inspect_bytes(data) == ("dicom", None)

    class Missing:
        is_available = False
    import pydicom.pixels
    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: Missing())
    fmt, reason = images.inspect_bytes(data)
    assert fmt is None and "no decoder" in reason and "JPEG Baseline" in reason and "medviz[dicom]" in reason
