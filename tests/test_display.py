"""The display pipeline (medviz.display) on pydicom's own test files and on files derived from them:
modality LUT + windowing in Hounsfield units, presets only on CT, MONOCHROME1, SIGMOID, multi-frame,
PNG/JPEG controls, and every test file with pixel data either displays or gives a reason (none raises)."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file, get_testdata_files

from medviz import display
from medviz.display import CT_PRESETS, View
from medviz.errors import MedvizError

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")
MULTI = get_testdata_file("rtdose.dcm")            # 15 frames


def hu(path):
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def test_ct_brain_preset_maps_hounsfield_units_linearly():
    w, c = CT_PRESETS["Brain"]
    assert (w, c) == (80, 40)
    out = display.to_uint8(display.decode(CT), View(preset="Brain")).astype(float)
    h = hu(CT)
    assert (out[h <= c - w / 2] == 0).all() and (out[h >= c + w / 2] == 255).all()
    inside = (h > c - w / 2 + 1) & (h < c + w / 2 - 1)
    if inside.any():            # the standard's LINEAR: (x - (c - 0.5)) / (w - 1) + 0.5
        expect = ((h[inside] - (c - 0.5)) / (w - 1) + 0.5) * 255
        assert np.abs(out[inside] - expect).max() <= 1.5


def test_ohif_ct_presets_and_presets_follow_modality():
    assert CT_PRESETS == {"Soft tissue": (400, 40), "Lung": (1500, -600), "Liver": (150, 90),
                          "Bone": (2500, 480), "Brain": (80, 40), "Mediastinum": (350, 50)}
    assert "Brain" in display.presets_for("CT") and "Brain" not in display.presets_for("MR")
    assert "Brain" not in display.presets_for(None)
    # a CT preset asked for an MR image leaves the MR on its own window (it does not turn white)
    mr_default = display.to_uint8(display.decode(MR), View())
    mr_brain = display.to_uint8(display.decode(MR), View(preset="Brain"))
    assert np.array_equal(mr_default, mr_brain)
    assert 20 < mr_default.mean() < 200


def test_file_window_uses_pydicom_voi():
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    ds = pydicom.dcmread(MR)
    assert float(ds.WindowWidth) == 1600
    expect = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(float)
    n = int(ds.BitsStored)            # the output range pydicom windows onto (signed data: signed range)
    lo, hi = (-(2 ** (n - 1)), 2 ** (n - 1) - 1) if ds.PixelRepresentation else (0, 2 ** n - 1)
    expect = np.clip((expect - lo) / (hi - lo), 0, 1) * 255
    got = display.to_uint8(display.decode(MR), View()).astype(float)
    assert np.abs(got - expect).max() <= 1.0


def test_monochrome1_low_values_are_white(tmp_path):
    ds = pydicom.dcmread(MR)
    ds.PhotometricInterpretation = "MONOCHROME1"
    p = tmp_path / "mono1.dcm"
    ds.save_as(p)
    m1 = display.to_uint8(display.decode(str(p)), View())
    m2 = display.to_uint8(display.decode(MR), View())
    assert np.array_equal(m1.astype(int), 255 - m2.astype(int))
    low = ds.pixel_array == ds.pixel_array.min()
    high = ds.pixel_array == ds.pixel_array.max()
    assert (m1[low] == m1.max()).all() and (m1[high] == m1.min()).all()     # lowest value = brightest
    assert display.metadata(str(p)).photometric == "MONOCHROME1"


def test_sigmoid_voi_function_goes_through_pydicom(tmp_path):
    ds = pydicom.dcmread(MR)
    ds.VOILUTFunction = "SIGMOID"
    p = tmp_path / "sig.dcm"
    ds.save_as(p)
    sig = display.to_uint8(display.decode(str(p)), View()).astype(float)
    lin = display.to_uint8(display.decode(MR), View()).astype(float)
    assert not np.array_equal(sig, lin)
    # SIGMOID: y = 1 / (1 + exp(-4 (x - c) / w)); a value at the centre maps to mid-gray
    x = display.decode(MR).values
    c, w = 600.0, 1600.0
    expect = 255 / (1 + np.exp(-4 * (x - c) / w))
    assert np.abs(sig - expect).max() <= 1.5


def test_multiframe_frames_differ_and_bad_frame_is_refused():
    meta = display.metadata(MULTI)
    assert meta.n_frames == 15
    f0 = display.decode(MULTI, 0).values
    f7 = display.decode(MULTI, 7).values
    assert f0.shape == f7.shape == (10, 10) and not np.array_equal(f0, f7)
    with pytest.raises(MedvizError, match="frame 16 does not exist"):
        display.decode(MULTI, 15)


def test_metadata_panel_fields():
    m = display.metadata(CT)
    rows = dict(m.rows())
    assert m.modality == "CT" and rows["Modality"] == "CT"
    assert rows["Pixel spacing"].endswith("mm") and rows["Photometric"] == "MONOCHROME2"
    assert dict(display.metadata(MR).rows())["Stored window"] == "W 1600 / L 600"


def test_png_window_brightness_contrast_invert(tmp_path):
    arr = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    p = tmp_path / "ramp.png"
    Image.fromarray(arr).save(p)
    d = display.decode(str(p))
    assert np.array_equal(display.to_uint8(d, View())[0], arr[0])            # full window = identity
    assert np.array_equal(display.to_uint8(d, View(invert=True))[0], 255 - arr[0])
    narrow = display.to_uint8(d, View(window=(64, 128)))[0]
    assert narrow[96] == 0 and narrow[160] == 255 and 100 < narrow[128] < 156
    bright = display.to_uint8(d, View(brightness=50))[0]
    assert bright[0] == 50 and bright[255] == 255
    flat = display.to_uint8(d, View(contrast=0.5))[0]
    assert flat[0] == 64 and flat[255] == 191
    assert display.presets_for(display.metadata(str(p)).modality) == list(display.GENERIC_PRESETS)


def test_render_fits_box_and_upscales_on_request():
    assert display.render(CT, View(), box=64).size == (64, 64)
    assert display.render(MR, View(), box=256).size == (64, 64)
    assert display.render(MR, View(), box=256, upscale=True).size == (256, 256)


def test_missing_and_non_image_files_give_reasons(tmp_path):
    assert "missing" in display.decode_status(str(tmp_path / "nope.dcm"))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    assert display.decode_status(str(junk))


def _with_pixels(path):
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=False)
    except Exception:  # noqa: BLE001 - not DICOM at all: not a case of this test
        return False
    return "PixelData" in ds


def test_every_pydicom_test_file_with_pixel_data_displays_or_gives_a_reason():
    files = [f for f in get_testdata_files() if _with_pixels(f)]
    assert len(files) >= 60
    shown, reasons = 0, {}
    for f in files:
        try:
            im = display.render(f, View(), box=128)
            assert im.mode == "RGB" and min(im.size) >= 1
            shown += 1
        except MedvizError as e:          # anything else propagates and fails the test
            assert e.detail and f in str(e)
            reasons[f] = e.detail
    assert shown >= len(files) - 10, reasons
    for f, why in reasons.items():
        assert display.decode_status(f) == why


def test_load_image_dicom_goes_through_the_display_pipeline(tmp_path):
    """image_load.load_image (encoders, thumbnails) shows DICOM exactly as the viewer does: the file's VOI,
    OHIF presets, (centre, width) windows, MONOCHROME1 low values white, the middle frame of a multi-frame."""
    from medviz import image_load
    gray = lambda im: np.asarray(im.convert("L")).astype(int)       # noqa: E731
    assert np.array_equal(gray(image_load.load_image(MR)), display.to_uint8(display.decode(MR), View()).astype(int))
    assert np.array_equal(gray(image_load.load_image(CT, window="Lung")),
                          display.to_uint8(display.decode(CT), View(preset="Lung")).astype(int))
    assert np.array_equal(gray(image_load.load_image(CT, window=(40, 80))),            # (centre, width)
                          display.to_uint8(display.decode(CT), View(window=(80, 40))).astype(int))
    assert np.array_equal(gray(image_load.load_image(CT, window="Brain")), gray(image_load.load_image(CT, window=(40, 80))))
    ds = pydicom.dcmread(MR)
    ds.PhotometricInterpretation = "MONOCHROME1"
    p = tmp_path / "mono1.dcm"
    ds.save_as(p)
    assert np.array_equal(gray(image_load.load_image(str(p))), 255 - gray(image_load.load_image(MR)))
    n = display.metadata(MULTI).n_frames
    assert np.array_equal(gray(image_load.load_image(MULTI)),
                          display.to_uint8(display.decode(MULTI, n // 2), View()).astype(int))
    with pytest.raises(MedvizError, match="unknown window preset"):
        image_load.load_image(CT, window="no such preset")
