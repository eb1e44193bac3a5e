"""Loading encoders: device choice, fail-fast weight resolution, the weights digest, and the loaded cache.

``load_encoder(id)`` returns a ``LoadedEncoder`` (kept for the life of the process). Learned encoders load
through open_clip; when the weights are neither in the local Hugging Face cache nor reachable within a few
seconds, a ``MedvizError`` says so and how to fix it. Nothing ever stands in with random weights: a
``local-dir:`` folder without a weights file is refused (open_clip alone would warn and continue).

The weights digest is a SHA-256 over the model's state dict (names, shapes, bytes), so the cache can tell
two different checkpoints under one id apart and every number can name the exact weights behind it.
"""
from __future__ import annotations

import hashlib
import os
import threading
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from .. import extras
from ..errors import MedvizError
from . import registry
from .hub import hub_endpoint, hub_offline, hub_reachable, weights_cached
from .registry import EncoderSpec

NETWORK_PROBE_TIMEOUT = 3.0
_LOADED: dict[str, "LoadedEncoder"] = {}
_LOCK = threading.Lock()


# --- device -------------------------------------------------------------------------------------------

def pick_device(device: str | None = None) -> str:
    """'cuda' when present, else 'mps', else 'cpu'; an explicit choice that is unavailable is an error."""
    import torch
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MedvizError(f"device '{device}' requested but CUDA is not available here; use --device cpu",
                          field="device")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise MedvizError("device 'mps' requested but Apple MPS is not available here", field="device")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise MedvizError(f"unknown device '{device}' (cuda, cuda:N, mps, cpu)", field="device")
    return device


def default_batch_size(device: str) -> int:
    """Batch size for a ViT-B-sized tower: scaled to the card's memory on CUDA, small on CPU."""
    if device.startswith("cuda"):
        import torch
        gb = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
        return int(max(32, min(512, 32 * (gb // 4))))
    return 64 if device == "mps" else 16


def state_digest(model) -> str:
    """SHA-256 over parameter/buffer names, shapes, dtypes and bytes (in name order)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(-1).view(__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return "sha256:" + h.hexdigest()[:24]


# --- the loaded encoder -------------------------------------------------------------------------------

@dataclass
class LoadedEncoder:
    """A model ready to embed: preprocessing, image/text towers, patch tokens. Vectors come back L2-normalised."""
    spec: EncoderSpec
    model: object
    preprocess: object             # PIL image -> CHW float tensor
    tokenizer: object | None
    device: str
    weights_digest: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def has_text(self) -> bool:
        return self.tokenizer is not None and hasattr(self.model, "encode_text")

    def _autocast(self):
        import torch
        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return torch.autocast("cpu", enabled=False)

    def stack(self, tensors, pin: bool = False):
        """Preprocessed images -> one batch (pinned host memory for fast non-blocking CUDA copies)."""
        import torch
        x = torch.stack(tensors)
        return x.pin_memory() if pin else x

    def encode_batch(self, batch) -> np.ndarray:
        """(n, C, H, W) tensor -> (n, d) float32 unit vectors."""
        import torch
        with torch.inference_mode(), self._autocast():
            x = batch.to(self.device, non_blocking=True)
            feats = self.model.encode_image(x)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray | None:
        if not self.has_text:
            return None
        import torch
        with torch.inference_mode(), self._autocast():
            tokens = self.tokenizer(texts).to(self.device)
            feats = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
        return feats.cpu().numpy()

    def logit_scale(self) -> float:
        ls = getattr(self.model, "logit_scale", None)
        try:
            return float(ls.exp().item()) if ls is not None else 100.0
        except Exception:  # noqa: BLE001 - non-tensor attribute
            return 100.0

    def patch_tokens(self, batch) -> np.ndarray:
        """(n, gh, gw, c) last-block patch tokens (final norm applied), for similarity maps."""
        import torch
        visual = self.model.visual
        if not hasattr(visual, "forward_intermediates"):
            raise MedvizError(f"encoder '{self.id}' does not expose patch tokens (not a ViT)", field="encoder")
        with torch.inference_mode(), self._autocast():
            out = visual.forward_intermediates(batch.to(self.device), indices=1, normalize_intermediates=True,
                                               intermediates_only=True, output_fmt="NCHW")
            t = out["image_intermediates"][-1].float()
        return t.permute(0, 2, 3, 1).cpu().numpy()


class PixelsEncoder(LoadedEncoder):
    """Weight-free: grey levels at 32x32, standardised and L2-normalised. Not a learned encoder."""
    SIZE = 32
    PATCH_SIZE = 64
    VERSION = "pixels-v1 (grey 32x32, zero-mean unit-norm)"

    def __init__(self):
        super().__init__(registry.get_spec(registry.PIXELS), None, self._prep, None, "cpu",
                         "sha256:" + hashlib.sha256(self.VERSION.encode()).hexdigest()[:24])

    @classmethod
    def _grey(cls, im, size):
        from PIL import Image
        g = im.convert("L").resize((size, size), Image.BILINEAR)
        return np.asarray(g, dtype=np.float32) / 255.0

    def _prep(self, im):
        return self._grey(im, self.SIZE)[None]

    def stack(self, tensors, pin: bool = False):
        return np.stack(tensors)               # numpy only: the pixels encoder never imports torch

    def encode_batch(self, batch) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32).reshape(len(batch), -1)
        x = x - x.mean(axis=1, keepdims=True)
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(n > 0, n, 1.0)

    def encode_texts(self, texts):
        return None

    def patch_tokens_from_images(self, images) -> np.ndarray:
        """8x8 grid of 8x8-pixel patches of the 64x64 grey image, centred on the image mean."""
        out = []
        for im in images:
            g = self._grey(im, self.PATCH_SIZE)
            g = g - g.mean()
            out.append(g.reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(8, 8, 64))
        return np.stack(out)


# --- resolving and loading weights ----------------------------------------------------------------------

def _fix_hint(spec: EncoderSpec) -> str:
    if spec.model_name and spec.model_name.startswith("local-dir:"):
        return ("Check the folder holds open_clip_config.json and the weights written by `medviz models prepare`; "
                "models with a Hugging Face text tower (BiomedCLIP) also need that tower's config in the local "
                "Hugging Face cache (copy ~/.cache/huggingface/hub from a connected machine).")
    return (f"On an air-gapped machine, prepare a copy elsewhere with `medviz models prepare {spec.id} --out DIR`, "
            f"copy DIR into {registry.models_dir()} (or $MEDVIZ_MODELS_DIR) and use encoder 'local-dir:DIR'.")


def _check_local_dir(spec: EncoderSpec) -> str:
    path = spec.model_name[len("local-dir:"):]
    if not os.path.isdir(path):
        raise MedvizError("local encoder folder does not exist", file=path, field="encoder")
    if not os.path.isfile(os.path.join(path, registry.CONFIG_NAME)):
        raise MedvizError(f"no {registry.CONFIG_NAME} in the local encoder folder", file=path, field="encoder")
    w = registry.weights_file(path)
    if w is None:
        raise MedvizError(f"no weights file ({' or '.join(registry.WEIGHT_NAMES)}) in the local encoder folder; "
                          "refusing to run with random weights", file=path, field="encoder")
    return w


def _load_open_clip(spec: EncoderSpec, device: str | None) -> LoadedEncoder:
    extras.ensure_requirements("open_clip", hint=f"to load encoder '{spec.id}'", field="encoder")
    import open_clip
    device = pick_device(device)
    offline = False
    if spec.model_name.startswith("local-dir:"):
        _check_local_dir(spec)
        offline = not hub_reachable()           # BiomedCLIP-style HF text towers may still want their config
    else:
        cached = weights_cached(spec)
        if cached is not True:
            if not hub_reachable():
                raise MedvizError(
                    f"encoder '{spec.id}': weights ({spec.source}) are not in the local Hugging Face cache and "
                    f"the hub ({hub_endpoint()[0]}) is not reachable. " + _fix_hint(spec), field="encoder")
        else:
            offline = not hub_reachable(1.0)
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    ctx = hub_offline() if offline else nullcontext()
    try:
        with ctx:
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.model_name, pretrained=spec.pretrained, device=device)
            try:
                tokenizer = open_clip.get_tokenizer(spec.model_name)
            except Exception:  # noqa: BLE001 - a model without a usable tokenizer still embeds images
                tokenizer = None
    except MedvizError:
        raise
    except ImportError as e:
        missing = extras.missing_extra(e)
        if missing is None:
            raise
        raise extras.requirement_error(missing, hint=f"to load encoder '{spec.id}'", field="encoder") from None
    except Exception as e:  # noqa: BLE001 - open_clip/hub raise many types; the user needs the message
        raise MedvizError(f"cannot load encoder '{spec.id}' from {spec.source}: {str(e)[:300]}. " + _fix_hint(spec),
                          field="encoder") from None
    model.eval()
    return LoadedEncoder(spec, model, preprocess, tokenizer, device, state_digest(model))


def load_encoder(encoder_id: str | None = None, *, device: str | None = None) -> LoadedEncoder:
    """The loaded encoder for ``encoder_id`` (default BiomedCLIP), loading it on first use."""
    encoder_id = encoder_id or registry.DEFAULT_ENCODER
    with _LOCK:
        enc = _LOADED.get(encoder_id)
        if enc is not None:
            return enc
        spec = registry.get_spec(encoder_id)
        if spec.id == registry.PIXELS:
            enc = PixelsEncoder()
        elif encoder_id in registry._RUNTIME and not spec.model_name:
            raise MedvizError(f"encoder '{encoder_id}' was registered without a model", field="encoder")
        else:
            enc = _load_open_clip(spec, device)
        _LOADED[encoder_id] = enc
        return enc


def loaded_encoder(encoder_id: str) -> LoadedEncoder | None:
    """The encoder if it is already loaded in this process (never loads)."""
    if encoder_id == registry.PIXELS:
        return load_encoder(encoder_id)
    return _LOADED.get(encoder_id)


def register_model(encoder_id: str, model, preprocess, tokenizer=None, *, label: str | None = None,
                   source: str = "in-process model", device: str | None = None) -> LoadedEncoder:
    """Use an already-built open_clip model under ``encoder_id`` (tests, benchmarks, notebooks)."""
    spec = EncoderSpec(encoder_id, label or encoder_id, "learned", source, has_text=tokenizer is not None,
                       note="registered in this process")
    registry.register_runtime(spec)
    dev = pick_device(device)
    model = model.to(dev).eval()
    enc = LoadedEncoder(spec, model, preprocess, tokenizer, dev, state_digest(model))
    with _LOCK:
        _LOADED[encoder_id] = enc
    return enc


def unload(encoder_id: str) -> None:
    with _LOCK:
        _LOADED.pop(encoder_id, None)


def save_local_copy(model, model_cfg: dict, out_dir: str, *, preprocess_cfg: dict | None = None,
                    tokenizer=None, extra: dict | None = None) -> str:
    """Write an open_clip folder (open_clip_config.json + weights) that loads as ``local-dir:<out_dir>``.

    Written to ``<out_dir>.partial`` first and renamed, so a half-written copy is never picked up.
    """
    import json
    import shutil
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise MedvizError("output folder exists and is not empty", file=out_dir)
    tmp = out_dir + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    import safetensors.torch
    safetensors.torch.save_file(tensors, os.path.join(tmp, registry.WEIGHT_NAMES[0]))
    if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(tmp)           # HF text towers (BiomedCLIP's PubMedBERT tokenizer)
    conf = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg or {}}
    if extra:
        conf["medviz"] = extra
    with open(os.path.join(tmp, registry.CONFIG_NAME), "w") as f:
        json.dump(conf, f, indent=2)
    if os.path.exists(out_dir):
        os.rmdir(out_dir)
    os.replace(tmp, out_dir)
    return out_dir
