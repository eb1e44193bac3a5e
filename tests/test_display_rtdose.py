"""RT dose grids are displayed in dose units: stored value × DoseGridScaling (pydicom's ``apply_modality_lut``
leaves that scaling out), with the unit in the metadata panel. pydicom's own RT dose test files."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medviz import decoding, display
from medviz.display import View

RTDOSE = get_testdata_file("rtdose.dcm")                  # 15 frames, DoseUnits RELATIVE, scaling 1e-6
RTDOSE_1 = get_testdata_file("rtdose_1frame.dcm")


@pytest.mark.parametrize("path,frame", [(RTDOSE, 0), (RTDOSE, 7), (RTDOSE_1, 0)])
def test_values_are_the_stored_grid_times_dose_grid_scaling(path, frame):
    ds = pydicom.dcmread(path)
    scale = float(ds.DoseGridScaling)
    stored = ds.pixel_array[frame] if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1 else ds.pixel_array
    d = display.decode(path, frame)
    assert d.meta.modality == "RTDOSE"
    assert np.allclose(d.values, stored.astype(np.float64) * scale, rtol=1e-6)
    assert 0 < float(d.values.max()) < 10                   # a dose (here relative), not raw counts (~1e6)
    lo, hi = display.value_range(d)
    w, c = display.shown_window(d, View())                   # the W/L overlay speaks dose too
    assert w == pytest.approx(hi - lo, rel=1e-5) and c == pytest.approx((hi + lo) / 2, rel=1e-5)


def test_the_metadata_panel_names_the_unit_and_the_scaling(tmp_path):
    rows = dict(display.metadata(RTDOSE).rows())
    assert rows["Values"] == "relative dose, stored × DoseGridScaling 1e-06"
    ds = pydicom.dcmread(RTDOSE_1)                          # the same grid in Gy
    ds.DoseUnits = "GY"
    ds.save_as(tmp_path / "gy.dcm")
    assert dict(display.metadata(str(tmp_path / "gy.dcm")).rows())["Values"] == \
        "dose in Gy, stored × DoseGridScaling 1e-06"


def test_the_picture_is_unchanged_and_narrow_dose_windows_work(tmp_path):
    """Scaling is linear: the file window shows the same picture as the stored values would; a reader's
    window narrower than 1 Gy (impossible as a LINEAR window) is applied, not widened to 1."""
    d = display.decode(RTDOSE, 0)
    raw = decoding.Decoded(values=d.values / np.float32(1e-6), meta=decoding.replace(d.meta, value_step=1.0),
                           ds=d.ds)
    assert np.abs(display.to_uint8(d, View()).astype(int) - display.to_uint8(raw, View()).astype(int)).max() <= 1
    lo, hi = display.value_range(d)
    narrow = display.to_uint8(d, View(window=(0.1, (lo + hi) / 2)))
    assert set(np.unique(narrow)) - {0, 255}                 # some values inside a 0.1 Gy window: gray levels
    assert (narrow == 0).sum() > 0 and (narrow == 255).sum() > 0


def test_a_dose_file_without_a_usable_scaling_shows_stored_values_and_says_so(tmp_path):
    ds = pydicom.dcmread(RTDOSE_1)
    del ds.DoseGridScaling
    ds.save_as(tmp_path / "noscale.dcm")
    d = display.decode(str(tmp_path / "noscale.dcm"))
    assert float(d.values.max()) == float(pydicom.dcmread(RTDOSE_1).pixel_array.max())
    assert dict(d.meta.rows())["Values"] == "stored dose values (no usable DoseGridScaling)"
