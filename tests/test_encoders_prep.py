"""Fast preparation for embedding (medviz.encoders.prep): uint8 crops from the decode threads, normalisation on
the model's device, JPEG draft decoding. Checked against open_clip's own preprocess on CPU."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from medviz import encoders as E
from medviz.encoders import embed, prep
from medviz.errors import MedvizError

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
T = pytest.importorskip("torchvision.transforms")

pytestmark = pytest.mark.usefixtures("clean_encoders")

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def clip_pre(size=224):
    return open_clip.transform.image_transform(size, is_train=False, mean=MEAN, std=STD)


def smooth(h, w, seed=0, grey=False):
    """A smooth random picture (blobs + mild noise), so JPEG behaves as on photographs and scans."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = []
    for _ in range(1 if grey else 3):
        img = np.zeros((h, w))
        for _ in range(5):
            cx, cy, r = rng.random(3)
            img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.01 + 0.05 * r))
        chans.append(img / img.max() + 0.03 * rng.standard_normal((h, w)))
    arr = (np.clip(np.stack(chans, -1), 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(arr[..., 0] if grey else arr)


def fast(pre, path, gap=None):
    plan = prep.plan_for(pre)
    buf = prep.new_batch(1, plan, pin=False)
    prep.prepare_into(plan, path, buf[0], gap)
    assert buf.dtype == torch.uint8
    return prep.to_model_input(buf, plan, "cpu")[0]


def exact(pre, path):
    return pre(embed.open_native(path))


def psnr(a, b):
    d = (a - b) * torch.tensor(STD).view(3, 1, 1)        # back to [0, 1] pixel units
    mse = float((d ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def test_plan_recognises_open_clip_eval_transform_only():
    plan = prep.plan_for(clip_pre(224))
    assert plan is not None and plan.size == (224,) and plan.crop == (224, 224)
    assert plan.mean == MEAN and plan.std == STD and plan.resample == Image.BICUBIC
    assert plan.resized_size(1000, 500) == (448, 224) and plan.resized_size(500, 1000) == (224, 448)
    train = open_clip.transform.image_transform(224, is_train=True)
    assert prep.plan_for(train) is None                          # random crops: not a fixed resize + crop
    assert prep.plan_for(E.load_encoder("pixels").preprocess) is None
    odd = T.Compose([T.Resize(32), T.CenterCrop(32), T.Grayscale(3), T.ToTensor(), T.Normalize(MEAN, STD)])
    assert prep.plan_for(odd) is None                            # an unknown step in the middle


@pytest.mark.parametrize("kind", ["rgb-png", "grey-png", "rgb-jpeg", "grey-jpeg", "small-jpeg", "palette-png"])
def test_exact_mode_equals_preprocess(tmp_path, kind):
    pre = clip_pre(224)
    if kind == "rgb-png":
        im, name = smooth(300, 517, 1), "a.png"
    elif kind == "grey-png":
        im, name = smooth(640, 333, 2, grey=True), "b.png"
    elif kind == "rgb-jpeg":
        im, name = smooth(1024, 1024, 3), "c.jpg"
    elif kind == "grey-jpeg":
        im, name = smooth(900, 1200, 4, grey=True), "d.jpg"
    elif kind == "small-jpeg":
        im, name = smooth(150, 180, 5), "e.jpg"                  # upsampled by the resize
    else:
        im, name = smooth(260, 260, 6).convert("P"), "f.png"
    p = str(tmp_path / name)
    im.save(p)
    got, want = fast(pre, p, None), exact(pre, p)
    assert got.shape == want.shape == (3, 224, 224) and got.dtype == want.dtype == torch.float32
    assert torch.equal(got, want)
    if kind in ("small-jpeg",) or not name.endswith(".jpg"):       # drafting touches only large JPEGs
        assert torch.equal(fast(pre, p, 2.0), want)


def test_padding_when_crop_exceeds_resized_image(tmp_path):
    pre = T.Compose([T.Resize(32, interpolation=T.InterpolationMode.BICUBIC, max_size=40), T.CenterCrop(32),
                     T.ToTensor(), T.Normalize(MEAN, STD)])
    p = str(tmp_path / "thin.png")
    smooth(100, 10, 7).save(p)                                    # resizes to 4 x 40, then zero-padded to 32 wide
    assert torch.equal(fast(pre, p), pre(Image.open(p).convert("RGB")))


def test_jpeg_draft_decodes_smaller_and_stays_close(tmp_path):
    pre = clip_pre(224)
    p = str(tmp_path / "big.jpg")
    smooth(1024, 1024, 8).save(p, quality=90)
    plan = prep.plan_for(pre)
    for gap, side in ((2.0, 512), (1.0, 256)):
        im, box, size = prep.open_image(p, lambda w, h: tuple(int(v * gap) for v in plan.resized_size(w, h)))
        assert im.size == (side, side) and size == (1024, 1024) and box == (0, 0, side, side)
    want = exact(pre, p)
    got2, got1 = fast(pre, p, 2.0), fast(pre, p, 1.0)
    assert got2.shape == want.shape and not torch.equal(got2, want)
    assert psnr(got2, want) > 45 and psnr(got1, want) > 38 and psnr(got2, want) > psnr(got1, want)


def test_jpeg_draft_on_a_real_photograph():
    skimage = pytest.importorskip("skimage")
    path = os.path.join(os.path.dirname(skimage.__file__), "data", "retina.jpg")   # a real 1411 px fundus image
    if not os.path.exists(path):
        pytest.skip("scikit-image sample retina.jpg not installed")
    pre = clip_pre(224)
    want = exact(pre, path)
    d = (fast(pre, path, 2.0) - want) * torch.tensor(STD).view(3, 1, 1)
    assert psnr(fast(pre, path, 2.0), want) > 50 and float(d.abs().max()) <= 4 / 255 + 1e-6


def test_draft_gap_settings(monkeypatch):
    monkeypatch.delenv("MEDVIZ_EXACT_DECODE", raising=False)
    monkeypatch.delenv("MEDVIZ_DRAFT_GAP", raising=False)
    assert prep.draft_gap() == prep.DRAFT_GAP and prep.draft_gap(True) is None
    monkeypatch.setenv("MEDVIZ_EXACT_DECODE", "1")
    assert prep.draft_gap() is None and prep.draft_gap(False) == prep.DRAFT_GAP
    monkeypatch.delenv("MEDVIZ_EXACT_DECODE")
    monkeypatch.setenv("MEDVIZ_DRAFT_GAP", "1")
    assert prep.draft_gap() == 1.0
    for bad in ("abc", "0.5"):
        monkeypatch.setenv("MEDVIZ_DRAFT_GAP", bad)
        with pytest.raises(MedvizError, match="MEDVIZ_DRAFT_GAP"):
            prep.draft_gap()


def test_embed_paths_fast_path_matches_plain_path_and_skips_bad_rows(tmp_path, monkeypatch):
    """Same vectors as the per-image preprocess + stack path (exact mode), a corrupt image mid-batch left out."""
    torch.manual_seed(0)
    model = open_clip.model.CLIP(embed_dim=32, vision_cfg={"image_size": 32, "layers": 2, "width": 64,
                                                           "patch_size": 8, "head_width": 32},
                                 text_cfg={"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                                           "layers": 1})
    enc = E.register_model("prep-tiny", model, clip_pre(32), None, device="cpu")
    paths = []
    for i in range(7):
        p = str(tmp_path / f"im{i}.{'jpg' if i % 2 else 'png'}")
        smooth(120 + 20 * i, 200, i, grey=i % 3 == 0).save(p)
        paths.append(p)
    with open(tmp_path / "bad.jpg", "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths.insert(3, str(tmp_path / "bad.jpg"))

    def run():
        out, failed = {}, []
        for idx, vecs, errors in embed.embed_paths(enc, paths, batch_size=4, workers=2, exact_decode=True):
            out.update(zip(idx, vecs))
            failed += [i for i, _ in errors]
        assert failed == [3]
        return out
    got = run()
    monkeypatch.setattr(prep, "plan_for", lambda pre: None)
    want = run()
    assert sorted(got) == sorted(want) == [0, 1, 2, 4, 5, 6, 7]
    for i in got:
        assert np.allclose(got[i], want[i], atol=1e-5)


def test_cli_embed_exact_decode_flag_reaches_the_pipeline(store, tmp_path, monkeypatch):
    import pandas as pd

    from medviz.cli import main
    from medviz.ingest import ingest_benchmark
    os.makedirs(tmp_path / "imgs")
    smooth(64, 64, 1).save(tmp_path / "imgs" / "a.jpg")
    pd.DataFrame([{"item_id": "a", "image_path": "imgs/a.jpg", "question": "q", "A": "x", "B": "y",
                   "answer": "A"}]).to_csv(tmp_path / "b.csv", index=False)
    ingest_benchmark(store, str(tmp_path / "b.csv"), kind="generic", benchmark_id="b")
    db = store.path
    store.close()
    seen = []
    real = embed.embed_paths

    def spy(*a, **kw):
        seen.append(kw.get("exact_decode"))
        return real(*a, **kw)
    monkeypatch.setattr(embed, "embed_paths", spy)
    assert main(["embed", "b", "--encoder", "pixels", "--exact-decode", "--db", db]) == 0
    assert main(["embed", "b", "--encoder", "pixels", "--db", db]) == 0      # cached: no decoding at all
    assert seen == [True]
