"""Encoders: registry, fail-fast loading, device choice, real open_clip architectures at random init (shapes,
normalisation, caching, resume), and the weight-free pixels encoder. No network, no pretrained weights."""
from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medviz import encoders as E
from medviz.encoders import hub, loading, registry
from medviz.errors import MedvizError
from medviz.ingest import ingest_benchmark
from medviz.store import embeddings as sql

TINY_CFG = {"embed_dim": 32,
            "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def tiny_clip(seed: int = 0):
    """A real open_clip CLIP (ViT + text transformer) with tiny sizes, random init."""
    import open_clip
    import torch
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**TINY_CFG)
    preprocess = open_clip.transform.image_transform(32, is_train=False)
    tok = open_clip.tokenizer.SimpleTokenizer(context_length=16)
    return model, preprocess, tok


def make_images(folder, n=6, size=200, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        arr = (rng.random((size, size, 3)) * 255).astype(np.uint8)
        p = os.path.join(folder, f"img{i}.png")
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def generic_benchmark(store, tmp_path, rows, bench_id="t"):
    """rows: (item_id, image relative path or None, pair_id, slot, answer)"""
    recs = []
    for item_id, rel, pid, slot, ans in rows:
        recs.append({"item_id": item_id, "image_path": rel or "", "pair_id": pid or "", "slot": slot or "",
                     "question": "What colour is the square?", "A": "red", "B": "blue", "answer": ans,
                     "modality": "CT"})
    csv = tmp_path / f"{bench_id}.csv"
    pd.DataFrame(recs).to_csv(csv, index=False)
    ingest_benchmark(store, str(csv), kind="generic", benchmark_id=bench_id)
    return bench_id


@pytest.fixture
def random_bench(store, tmp_path):
    make_images(tmp_path / "imgs", n=6)
    rows = [(f"i{k}", f"imgs/img{k}.png", f"p{k // 2}", k % 2 + 1, "A") for k in range(6)]
    rows.append(("dup", "imgs/img0.png", None, None, "A"))          # same image content as i0
    return generic_benchmark(store, tmp_path, rows)


pytestmark = pytest.mark.usefixtures("clean_encoders")


# --- registry -----------------------------------------------------------------------------------------

def test_registry_lists_builtins_and_local_dirs(tmp_path, monkeypatch):
    d = tmp_path / "models" / "my-biomedclip"
    d.mkdir(parents=True)
    (d / "open_clip_config.json").write_text("{}")
    monkeypatch.setenv("MEDVIZ_MODELS_DIR", str(tmp_path / "models"))
    specs = {s.id: s for s in E.available_encoders()}
    assert {"biomedclip", "clip-vit-b-16", "clip-vit-l-14", "pixels"} <= set(specs)
    assert E.DEFAULT_ENCODER == "biomedclip"
    assert specs["biomedclip"].source == "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
    assert specs["clip-vit-b-16"].pretrained == "openai"
    assert specs["pixels"].kind == "weight-free" and "NOT CLIP" in specs["pixels"].label
    assert f"local-dir:{d}" in specs
    with pytest.raises(MedvizError, match="unknown encoder"):
        E.get_spec("no-such-encoder")


# --- fail-fast loading ----------------------------------------------------------------------------------

def test_learned_encoder_without_weights_or_network_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf"), raising=False)
    import open_clip  # noqa: F401 - import time (seconds on a busy machine) is not what this test bounds
    for enc_id in ("clip-vit-b-16", "biomedclip"):
        t = time.perf_counter()
        with pytest.raises(MedvizError, match="not in the local Hugging Face cache"):
            E.load_encoder(enc_id)
        assert time.perf_counter() - t < 10
        assert E.loaded_encoder(enc_id) is None


def test_local_dir_without_weights_is_refused_not_randomised(tmp_path):
    d = tmp_path / "copy"
    d.mkdir()
    (d / "open_clip_config.json").write_text('{"model_cfg": {}}')
    with pytest.raises(MedvizError, match="refusing to run with random weights"):
        E.load_encoder(f"local-dir:{d}")
    with pytest.raises(MedvizError, match="does not exist"):
        E.load_encoder(f"local-dir:{tmp_path / 'absent'}")


def test_local_dir_copy_roundtrip_keeps_the_weights(tmp_path, monkeypatch):
    """`medviz models prepare` format: open_clip folder written by save_for_hf, loaded back bit-identical."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, _, tok = tiny_clip(seed=3)
    d = tmp_path / "tiny"
    loading.save_local_copy(model, TINY_CFG, str(d))
    enc = E.load_encoder(f"local-dir:{d}", device="cpu")
    assert enc.weights_digest == loading.state_digest(model)
    assert enc.spec.kind == "learned" and enc.spec.source == f"local-dir:{d}"


def test_hub_weights_in_local_cache_load_offline(tmp_path, monkeypatch):
    """Air-gapped route 2: a copied Hugging Face cache. Cached hf-hub weights load with the hub offline."""
    import huggingface_hub.constants as c
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path), raising=False)
    model, _, _ = tiny_clip(seed=5)
    repo = tmp_path / "models--medviz-test--tiny-clip"
    loading.save_local_copy(model, TINY_CFG, str(repo / "snapshots" / ("0" * 40)))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    registry.register_runtime(registry.EncoderSpec("hub-tiny", "tiny", "learned", "hf-hub:medviz-test/tiny-clip",
                                                   model_name="hf-hub:medviz-test/tiny-clip"))
    assert hub.weights_cached(registry.get_spec("hub-tiny")) is True
    enc = E.load_encoder("hub-tiny", device="cpu")
    assert enc.weights_digest == loading.state_digest(model)


# --- device -----------------------------------------------------------------------------------------------

def test_device_fallback_to_cpu(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert loading.pick_device() == "cpu"
    assert loading.pick_device("auto") == "cpu"
    with pytest.raises(MedvizError, match="CUDA is not available"):
        loading.pick_device("cuda")
    with pytest.raises(MedvizError, match="unknown device"):
        loading.pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loading.pick_device() == "cuda"


# --- real architectures at random init ---------------------------------------------------------------------

def test_vit_b16_random_init_shapes_and_normalisation(tmp_path):
    import open_clip
    import torch
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-16", pretrained=None)
    enc = E.register_model("test-vit-b-16-random", model, preprocess, open_clip.get_tokenizer("ViT-B-16"),
                           device="cpu", source="open_clip ViT-B-16, random init (test)")
    paths = make_images(tmp_path / "v", n=2, size=300)
    x = torch.stack([enc.preprocess(Image.open(p)) for p in paths])
    assert x.shape == (2, 3, 224, 224)
    v = enc.encode_batch(x)
    assert v.shape == (2, 512) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    tok = enc.patch_tokens(x)
    assert tok.shape == (2, 14, 14, 768)
    t = enc.encode_texts(["a chest x-ray", "a brain MRI"])
    assert t.shape == (2, 512) and np.allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert enc.weights_digest.startswith("sha256:")


def test_cache_dedup_and_rerun_embeds_only_new(store, tmp_path, random_bench):
    model, pre, tok = tiny_clip()
    E.register_model("tiny", model, pre, tok, device="cpu")
    r1 = E.compute_embeddings(store, random_bench, "tiny", batch_size=4)
    assert (r1.n_items, r1.n_images, r1.n_new, r1.n_cached, r1.n_missing) == (7, 6, 6, 0, 0)
    assert r1.weights_digest == loading.state_digest(model)
    r2 = E.compute_embeddings(store, random_bench, "tiny", batch_size=4)
    assert (r2.n_new, r2.n_cached) == (0, 6)
    # a new image appears: only it is embedded
    make_images(tmp_path / "more", n=1, seed=9)
    generic_benchmark(store, tmp_path, [("a", "imgs/img0.png", None, None, "A"),
                                        ("b", "more/img0.png", None, None, "A")], bench_id="t2")
    r3 = E.compute_embeddings(store, "t2", "tiny")
    assert (r3.n_new, r3.n_cached) == (1, 1)
    assert E.computed_encoders(store, random_bench) == ["tiny"]
    # vectors equal a direct forward pass of the same model
    meta, vecs = sql.benchmark_embeddings(store.cursor(), random_bench, "tiny", r1.weights_digest, decode=r1.decode)
    import torch
    direct = loading.LoadedEncoder.encode_batch(
        E.loaded_encoder("tiny"), torch.stack([pre(Image.open(tmp_path / "imgs" / "img1.png").convert("RGB"))]))
    assert np.allclose(vecs[list(meta.item_id).index("i1")], direct[0], atol=1e-5)


def test_new_weights_under_same_id_do_not_mix(store, random_bench):
    m1, pre, tok = tiny_clip(seed=1)
    E.register_model("tiny", m1, pre, tok, device="cpu")
    d1 = E.compute_embeddings(store, random_bench, "tiny").weights_digest
    m2, _, _ = tiny_clip(seed=2)
    E.register_model("tiny", m2, pre, tok, device="cpu")
    r = E.compute_embeddings(store, random_bench, "tiny")
    assert r.weights_digest != d1 and r.n_new == 6 and r.n_cached == 0


def test_interrupted_run_resumes(store, random_bench, monkeypatch):
    model, pre, tok = tiny_clip()
    E.register_model("tiny", model, pre, tok, device="cpu")
    real = sql.insert_embeddings
    calls = {"n": 0}

    def flaky(tx, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(tx, *a, **kw)
    monkeypatch.setattr(sql, "insert_embeddings", flaky)
    with pytest.raises(KeyboardInterrupt):
        E.compute_embeddings(store, random_bench, "tiny", batch_size=2)
    monkeypatch.setattr(sql, "insert_embeddings", real)
    r = E.compute_embeddings(store, random_bench, "tiny", batch_size=2)
    # the first batch survived the interruption (a later one may also have committed: the writer runs ahead)
    assert r.n_cached in (2, 4) and r.n_cached + r.n_new == 6


def test_missing_images_are_skipped_and_counted(store, tmp_path):
    make_images(tmp_path / "imgs", n=2)
    bench = generic_benchmark(store, tmp_path, [("a", "imgs/img0.png", "p", 1, "A"),
                                                ("b", "imgs/img1.png", "p", 2, "B")], bench_id="m")
    os.remove(tmp_path / "imgs" / "img1.png")            # vanished after ingest: decode fails, counted
    r = E.compute_embeddings(store, bench, "pixels")
    assert (r.n_new, r.n_failed) == (1, 1) and r.errors


def test_mediconfusion_without_images(store, real_dataset):
    ingest_benchmark(store, real_dataset, kind="mediconfusion", benchmark_id="mc")
    r = E.compute_embeddings(store, "mc", "pixels")
    assert (r.n_items, r.n_missing, r.n_new) == (352, 352, 0)
    pid = store.cursor().execute("SELECT pair_id FROM pairs WHERE benchmark_id = 'mc' LIMIT 1").fetchone()[0]
    ex = E.explain_pair(store, "mc", pid)
    assert ex.provided["BiomedCLIP_sim"] >= 0.9 and ex.provided["DINO_sim"] is not None
    assert ex.encoder_cosine is None and "image missing" in ex.encoder_reason
    assert ex.visual is None and ex.quadrant is None and ex.options is None
    assert ex.embeds_alike is True and ex.looks_different is None


def test_cache_recheck_needs_no_decoding(store, random_bench, monkeypatch):
    E.compute_embeddings(store, random_bench, "pixels")
    from medviz.encoders import embed
    monkeypatch.setattr(embed, "_decode", lambda *a: (_ for _ in ()).throw(AssertionError("decoded")))
    assert E.compute_embeddings(store, random_bench, "pixels").n_cached == 6


def test_cli_embed_explain_models(store, tmp_path, random_bench, capsys):
    from medviz.cli import main
    db = store.path
    store.close()
    assert main(["embed", random_bench, "--encoder", "pixels", "--db", db]) == 0
    assert "6 new" in capsys.readouterr().out
    assert main(["explain", random_bench, "p0", "--encoder", "pixels", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "SSIM" in out and "pixels (weight-free)" in out
    assert main(["models", "list"]) == 0
    assert "biomedclip" in capsys.readouterr().out
    assert main(["embed", "nope", "--encoder", "pixels", "--db", db]) == 2


def test_insert_embeddings_is_idempotent(store):
    v = np.eye(3, dtype=np.float32)
    with store.transaction() as tx:
        assert sql.insert_embeddings(tx, "e", "d1", ["a", "b", "a"], v, decode="exact") == 2   # duplicate in the batch
        assert sql.insert_embeddings(tx, "e", "d1", ["a", "c"], v[:2], decode="exact") == 1
        assert sql.insert_embeddings(tx, "e", "d2", ["a"], v[:1], decode="exact") == 1         # other weights: own key
    got = sql.vectors_for_hashes(store.cursor(), "e", "d1", ["a", "b", "c", "zz"], decode="exact")
    assert sorted(got) == ["a", "b", "c"] and got["a"].shape == (3,)
