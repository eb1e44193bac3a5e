"""Which encoders medviz knows: a stable id, a label, where the weights come from, learned or weight-free.

Built in: BiomedCLIP (the encoder MediConfusion mined its pairs with, the default), OpenAI CLIP ViT-B/16 and
ViT-L/14 (open_clip pretrained tags), the weight-free ``pixels`` encoder, and every local copy found in the
models folder (``$MEDVIZ_MODELS_DIR``, default ``~/.cache/medviz/models``): each sub-folder holding an
``open_clip_config.json`` and weights appears as ``local-dir:<path>``. Any ``local-dir:<path>`` id also
works directly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import MedvizError

DEFAULT_ENCODER = "biomedclip"
PIXELS = "pixels"
CONFIG_NAME = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pt")


@dataclass(frozen=True)
class EncoderSpec:
    id: str
    label: str
    kind: str                 # 'learned' | 'weight-free'
    source: str               # hf-hub:..., open_clip tag 'ViT-B-16/openai', local-dir:/path, or 'built-in'
    model_name: str | None = None     # what open_clip.create_model_and_transforms gets
    pretrained: str | None = None     # open_clip pretrained tag, if any
    has_text: bool = True
    note: str = ""

    @property
    def learned(self) -> bool:
        return self.kind == "learned"


BUILTIN = [
    EncoderSpec("biomedclip", "BiomedCLIP (PubMedBERT + ViT-B/16)", "learned",
                "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
                model_name="hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
                note="the encoder MediConfusion selected its pairs with; needs the transformers package"),
    EncoderSpec("clip-vit-b-16", "OpenAI CLIP ViT-B/16", "learned", "open_clip:ViT-B-16/openai",
                model_name="ViT-B-16-quickgelu", pretrained="openai"),
    EncoderSpec("clip-vit-l-14", "OpenAI CLIP ViT-L/14", "learned", "open_clip:ViT-L-14/openai",
                model_name="ViT-L-14-quickgelu", pretrained="openai"),
    EncoderSpec(PIXELS, "pixels (weight-free, NOT CLIP)", "weight-free", "built-in",
                has_text=False,
                note="normalised 32x32 grey-level intensities; a baseline that needs no weights, not a learned "
                     "encoder"),
]

# Encoders registered at run time (tests, benchmarks, notebooks) with their already-built model.
_RUNTIME: dict[str, EncoderSpec] = {}


def models_dir() -> str:
    return os.environ.get("MEDVIZ_MODELS_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "medviz", "models")


def weights_file(path: str) -> str | None:
    for name in WEIGHT_NAMES:
        p = os.path.join(path, name)
        if os.path.isfile(p):
            return p
    return None


def local_spec(path: str) -> EncoderSpec:
    path = os.path.abspath(os.path.expanduser(path))
    name = os.path.basename(path.rstrip(os.sep)) or path
    return EncoderSpec(f"local-dir:{path}", f"local copy: {name}", "learned", f"local-dir:{path}",
                       model_name=f"local-dir:{path}", note="open_clip folder (open_clip_config.json + weights)")


def local_specs() -> list[EncoderSpec]:
    root = models_dir()
    if not os.path.isdir(root):
        return []
    out = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isfile(os.path.join(path, CONFIG_NAME)):
            out.append(local_spec(path))
    return out


def register_runtime(spec: EncoderSpec) -> None:
    _RUNTIME[spec.id] = spec


def available_encoders() -> list[EncoderSpec]:
    """Every encoder a user can pick: built-ins, local copies, and ones registered in this process."""
    seen = {s.id: s for s in BUILTIN}
    for s in local_specs():
        seen.setdefault(s.id, s)
    for s in _RUNTIME.values():
        seen.setdefault(s.id, s)
    return list(seen.values())


def get_spec(encoder_id: str) -> EncoderSpec:
    for s in BUILTIN:
        if s.id == encoder_id:
            return s
    if encoder_id in _RUNTIME:
        return _RUNTIME[encoder_id]
    if encoder_id.startswith("local-dir:"):
        return local_spec(encoder_id[len("local-dir:"):])
    known = ", ".join(s.id for s in available_encoders())
    raise MedvizError(f"unknown encoder '{encoder_id}'; known: {known} (or local-dir:<folder>)", field="encoder")
