"""The Hugging Face hub as medviz sees it: is it reachable, are an encoder's weights already cached, and a
context that forces huggingface_hub offline (so a load with cached weights never waits on the network)."""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from urllib.parse import urlparse

from . import registry
from .registry import EncoderSpec

NETWORK_PROBE_TIMEOUT = 3.0


def hub_endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def hub_reachable(timeout: float = NETWORK_PROBE_TIMEOUT) -> bool:
    """Can we open a TCP connection to the Hugging Face endpoint within ``timeout`` seconds?"""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host, port = hub_endpoint()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_files(spec: EncoderSpec) -> list[tuple[str, str]]:
    """(repo id, file name) pairs the spec needs from the Hugging Face hub."""
    if spec.model_name and spec.model_name.startswith("hf-hub:"):
        repo = spec.model_name[len("hf-hub:"):]
        return [(repo, registry.CONFIG_NAME), (repo, "open_clip_pytorch_model.bin")]
    if spec.pretrained:
        import open_clip
        cfg = open_clip.get_pretrained_cfg(spec.model_name, spec.pretrained) or {}
        hub = (cfg.get("hf_hub") or "").strip("/")
        if hub:
            # 'org/repo' or 'org/repo/file.bin'
            parts = hub.split("/")
            if len(parts) > 2:
                return [("/".join(parts[:2]), "/".join(parts[2:]))]
            return [(hub, "open_clip_pytorch_model.bin")]
    return []


def weights_cached(spec: EncoderSpec) -> bool | None:
    """True/False when we can tell from the local Hugging Face cache; None when unknown."""
    files = _hub_files(spec)
    if not files:
        return None
    from huggingface_hub import try_to_load_from_cache
    for repo, fname in files:
        hit = try_to_load_from_cache(repo, fname)
        if not isinstance(hit, str):
            # open_clip may prefer safetensors; accept either
            alt = try_to_load_from_cache(repo, "open_clip_model.safetensors")
            if not isinstance(alt, str):
                return False
    return True


@contextmanager
def hub_offline():
    """Force huggingface_hub into offline mode for the duration (env and the already-imported constant)."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from huggingface_hub import constants as consts
    old_c = consts.HF_HUB_OFFLINE
    consts.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old
        consts.HF_HUB_OFFLINE = old_c
