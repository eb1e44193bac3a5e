"""Explanations with embeddings that mean something: identical / flipped images through the weight-free
pixels encoder and SSIM, and a colour 'CLIP' whose image and text vectors are colour by construction."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from medviz import encoders as E
from medviz.encoders.visual import compare_images
from medviz.errors import MedvizError

from test_encoders import generic_benchmark


pytestmark = pytest.mark.usefixtures("clean_encoders")


def scene(flip=False, colour=(200, 30, 30), size=160):
    """A coloured square in the left part of a grey gradient: structure that a flip moves."""
    g = np.tile(np.linspace(40, 120, size, dtype=np.float32), (size, 1))
    arr = np.stack([g, g, g], axis=-1)
    arr[30:90, 10:70] = colour
    arr = arr.astype(np.uint8)
    im = Image.fromarray(arr)
    return im.transpose(Image.FLIP_LEFT_RIGHT) if flip else im


@pytest.fixture
def bench(store, tmp_path):
    (tmp_path / "im").mkdir()
    scene().save(tmp_path / "im" / "red.png")
    scene().save(tmp_path / "im" / "red_copy.png")      # identical pixels, separate file
    scene(flip=True).save(tmp_path / "im" / "red_flip.png")
    scene(colour=(30, 30, 200)).save(tmp_path / "im" / "blue.png")
    rows = [("same-1", "im/red.png", "same", 1, "A"), ("same-2", "im/red_copy.png", "same", 2, "A"),
            ("flip-1", "im/red.png", "flip", 1, "A"), ("flip-2", "im/red_flip.png", "flip", 2, "A"),
            ("col-1", "im/red.png", "col", 1, "A"), ("col-2", "im/blue.png", "col", 2, "B"),
            ("lone", None, "gone", 1, "A"), ("lone-2", "im/blue.png", "gone", 2, "B")]
    return generic_benchmark(store, tmp_path, rows, bench_id="x")


def test_visual_difference_identical_and_flipped():
    same = compare_images(scene(), scene())
    flip = compare_images(scene(), scene(flip=True))
    assert same.ssim == pytest.approx(1.0) and same.hist_distance == pytest.approx(0.0, abs=1e-9)
    assert flip.ssim < 0.9                                   # structure moved
    assert flip.hist_distance == pytest.approx(0.0, abs=1e-6)  # same intensities
    other = compare_images(scene(), Image.new("RGB", (160, 160), (255, 255, 255)))
    assert other.hist_distance > 0.9


def test_pixels_pair_explanations_and_quadrant(store, bench):
    E.compute_embeddings(store, bench, "pixels")
    same = E.explain_pair(store, bench, "same", "pixels")
    assert same.encoder_cosine == pytest.approx(1.0, abs=1e-5)
    assert same.visual.ssim == pytest.approx(1.0)
    assert same.quadrant == E.explain.QUADRANTS[(True, False)]
    assert same.encoder_kind == "weight-free" and same.weights_digest.startswith("sha256:")
    assert same.options is None and "no text tower" in same.options_reason
    flip = E.explain_pair(store, bench, "flip", "pixels")
    assert flip.encoder_cosine < same.encoder_cosine and flip.visual.ssim < same.visual.ssim
    # thresholds per modality move the quadrant
    E.set_quadrant_thresholds("CT", encoder_similar=flip.encoder_cosine - 0.01,
                              visually_different=flip.visual.ssim + 0.01)
    assert E.quadrant_thresholds("ct").encoder_similar == pytest.approx(flip.encoder_cosine - 0.01)
    assert E.quadrant_thresholds("MR") == E.Thresholds()
    flip2 = E.explain_pair(store, bench, "flip", "pixels")
    assert flip2.quadrant == "embeds alike, looks different (encoder-blind candidate)"
    with pytest.raises(MedvizError):
        E.set_quadrant_thresholds("CT", encoder_similar=3)
    gone = E.explain_pair(store, bench, "gone", "pixels")
    assert gone.encoder_cosine is None and "image missing" in gone.encoder_reason and gone.visual is None


def test_not_computed_encoder_shows_nothing(store, bench):
    ex = E.explain_pair(store, bench, "same", "clip-vit-b-16")
    assert ex.encoder_cosine is None and "medviz embed" in ex.encoder_reason
    assert ex.options is None and "not loaded" in ex.options_reason
    with pytest.raises(MedvizError, match="not loaded"):
        E.patch_similarity_map(store, bench, "same", "clip-vit-b-16")
    with pytest.raises(MedvizError, match="medviz embed"):
        E.neighbours(store, bench, "clip-vit-b-16", "same-1")
    with pytest.raises(MedvizError, match="unknown encoder"):
        E.explain_pair(store, bench, "same", "clip-typo")


def test_neighbours_map_and_patch_map(store, bench):
    E.compute_embeddings(store, bench, "pixels")
    nb = E.neighbours(store, bench, "pixels", "same-1", k=3)
    assert list(nb.columns[:2]) == ["item_id", "cosine"] and len(nb) == 3
    assert nb.cosine.iloc[0] == pytest.approx(1.0, abs=1e-5)        # an identical image comes first
    assert nb.item_id.iloc[0] in ("same-2", "flip-1", "col-1")
    assert "same-1" not in set(nb.item_id)
    m = E.embedding_map(store, bench, "pixels")
    assert {"item_id", "x", "y", "pair_id", "partner_item_id", "modality"} <= set(m.columns)
    assert "lone" not in set(m.item_id) and len(m) == 7
    assert m.set_index("item_id").partner_item_id["flip-1"] == "flip-2"
    same = m.set_index("item_id").loc[["same-1", "same-2"], ["x", "y"]].to_numpy()
    assert np.allclose(same[0], same[1], atol=1e-5)                 # identical images share a point
    with pytest.raises(MedvizError, match="umap|pca"):
        E.embedding_map(store, bench, "pixels", method="tsne")
    a, b = E.patch_similarity_map(store, bench, "same", "pixels")
    assert a.shape == b.shape == (8, 8) and np.allclose(a, 1.0, atol=1e-5)
    a, b = E.patch_similarity_map(store, bench, "flip", "pixels")
    assert a.min() < 0.99


# --- a colour "CLIP": image vector = mean RGB, text vector = colour words; meaningful by construction -------

COLOURS = ("red", "green", "blue")


class ColourClip(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))

    def encode_image(self, x):
        return x.mean(dim=(2, 3)) - x.mean(dim=(1, 2, 3))[:, None]   # colour, brightness removed

    def encode_text(self, tokens):
        return tokens.float() - tokens.float().mean(dim=1, keepdim=True)


def colour_tokenizer(texts):
    return torch.tensor([[float(c in t.split()[-1].lower()) for c in COLOURS] for t in texts])


def colour_preprocess(im):
    import torchvision.transforms.functional as F
    return F.to_tensor(im.convert("RGB").resize((32, 32)))


def test_option_alignment_and_encoder_blind(store, bench):
    E.register_model("colour", ColourClip(), colour_preprocess, colour_tokenizer, device="cpu",
                     source="test colour encoder (hand-built)")
    E.compute_embeddings(store, bench, "colour")
    col = E.explain_pair(store, bench, "col", "colour")
    assert [o.choice for o in col.options] == ["A", "B"]           # red image -> 'red', blue -> 'blue'
    assert col.encoder_blind is False
    assert col.options[0].probs["A"] > 0.5 and col.provenance["weights_digest"] == col.weights_digest
    flip = E.explain_pair(store, bench, "flip", "colour")
    assert [o.choice for o in flip.options] == ["A", "A"] and flip.encoder_blind is True
    # the probe becomes a model scored like any other
    n = E.zero_shot_probe(store, bench, "colour")
    assert n == 7
    rows = store.cursor().execute(
        "SELECT item_id, parsed, correct FROM predictions WHERE benchmark_id = ? AND model = 'zero-shot colour' "
        "ORDER BY item_id", [bench]).fetchall()
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert got["col-2"] == ("B", True) and got["flip-2"] == ("A", True)
    note = store.cursor().execute("SELECT note FROM models WHERE model = 'zero-shot colour'").fetchone()[0]
    assert "encoder probe" in note


def test_map_carries_model_correctness(store, bench):
    E.register_model("colour", ColourClip(), colour_preprocess, colour_tokenizer, device="cpu")
    E.compute_embeddings(store, bench, "colour")
    E.zero_shot_probe(store, bench, "colour")
    m = E.embedding_map(store, bench, "colour", model="zero-shot colour").set_index("item_id")
    assert m.loc["col-2", "parsed"] == "B" and bool(m.loc["col-2", "correct"]) is True


def test_learned_patch_map_identical_images(store, bench):
    from test_encoders import tiny_clip
    model, pre, tok = tiny_clip()
    E.register_model("tiny", model, pre, tok, device="cpu")
    a, b = E.patch_similarity_map(store, bench, "same", "tiny")
    assert a.shape == b.shape == (4, 4) and np.allclose(a, 1.0, atol=1e-4) and np.allclose(b, 1.0, atol=1e-4)
    a, b = E.patch_similarity_map(store, bench, "col", "tiny")
    assert a.shape == (4, 4) and a.min() < 0.9999


def test_reads_work_after_a_pending_result_on_the_thread_cursor(store, bench):
    """DuckDB 2: a half-fetched execute() result on the shared per-thread cursor must not break our reads."""
    E.compute_embeddings(store, bench, "pixels")
    store.cursor().execute("SELECT * FROM range(10)").fetchone()
    assert len(E.embedding_map(store, bench, "pixels")) == 7
    store.cursor().execute("SELECT * FROM range(10)").fetchone()
    assert E.explain_pair(store, bench, "same", "pixels").encoder_cosine == pytest.approx(1.0, abs=1e-5)
    store.cursor().execute("SELECT * FROM range(10)").fetchone()
    assert len(E.neighbours(store, bench, "pixels", "col-1", k=2)) == 2


def test_pixels_path_never_imports_torch(store, bench):
    """The demo and the app's map/neighbours/quadrant must not pay torch's import for the weight-free encoder."""
    import subprocess
    import sys
    db = store.path
    store.close()
    code = ("import sys; from medviz.store import Store; from medviz import encoders as E; s = Store(sys.argv[1]); "
            "E.compute_embeddings(s, 'x', 'pixels'); E.explain_pair(s, 'x', 'flip', 'pixels'); "
            "E.patch_similarity_map(s, 'x', 'flip', 'pixels'); E.embedding_map(s, 'x', 'pixels'); "
            "E.neighbours(s, 'x', 'pixels', 'col-1'); print(sorted(m for m in ('torch', 'open_clip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, db], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_pca_2d_matches_the_svd_axes_and_samples_large_sets():
    """The one PCA of the 2-D map: the same projection (up to sign) as an SVD of the centred matrix; above
    the fit sample the axes come from a seeded sample (deterministic, still close to the full axes)."""
    from medviz.encoders import pca_2d
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16)) * np.r_[10, 5, np.linspace(1, 0.1, 14)]     # two clear axes
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    ref = xc @ vt[:2].T
    got = pca_2d(x)
    assert got.shape == (300, 2)
    for k in range(2):
        assert np.allclose(np.abs(np.corrcoef(got[:, k], ref[:, k])[0, 1]), 1.0, atol=1e-4)
    sampled = pca_2d(x, fit_sample=100)
    assert np.array_equal(sampled, pca_2d(x, fit_sample=100))          # seeded
    for k in range(2):
        assert abs(np.corrcoef(sampled[:, k], ref[:, k])[0, 1]) > 0.99
    assert pca_2d(x[:1]).shape == (1, 2) and pca_2d(x[:, :1]).shape == (300, 2)


def test_embed_job_with_probe_stores_the_probe_model(store, bench):
    """The server's embed job (what `medviz embed --probe` sends through a server) runs the probe after the
    embeddings; an encoder without a text tower fails the job with the reason."""
    from medviz.jobs import JobRunner
    E.register_model("colour", ColourClip(), colour_preprocess, colour_tokenizer, device="cpu")
    runner = JobRunner(store, workers=1)
    try:
        job = runner.wait(runner.submit("embed", {"benchmark_id": bench, "encoder": "colour", "probe": True}, "t"))
        assert job["state"] == "done", job
        assert job["result"]["probe_predictions"] == 7 and any("encoder probe" in line for line in job["log"])
        n = store.cursor().execute("SELECT count(*) FROM predictions WHERE model = 'zero-shot colour'").fetchone()[0]
        assert n == 7
        job = runner.wait(runner.submit("embed", {"benchmark_id": bench, "encoder": "pixels", "probe": True}, "t"))
        assert job["state"] == "failed" and "text tower" in job["error"], job
    finally:
        runner.close()


def test_the_visual_difference_cache_row_is_written_by_the_one_writer(store, bench, monkeypatch):
    """Review (and its prefetch thread) computes a pair's SSIM once; the cache row goes through the store's one
    writer thread, not a transaction of the caller's own, and the next explanation reads it back."""
    from medviz.encoders import explain
    from medviz.store import embeddings as sql
    from medviz.writer import execute_write_fn
    import threading
    seen = []
    real = sql.insert_visual_diff

    def spy(tx, *a):
        seen.append(threading.current_thread().name)
        return real(tx, *a)
    monkeypatch.setattr(sql, "insert_visual_diff", spy)
    first = E.explain_pair(store, bench, "flip", "pixels")
    execute_write_fn(store, lambda tx: None)          # queued after the cache row: it is written by now
    assert seen == ["medviz-store-writer"]
    monkeypatch.setattr(explain, "compare_files", lambda *a: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = E.explain_pair(store, bench, "flip", "pixels")
    assert again.visual.ssim == pytest.approx(first.visual.ssim) and seen == ["medviz-store-writer"]
