"""Image encoders (BiomedCLIP, CLIP, local copies, weight-free pixels): cached embeddings and explanations of
why a pair confuses models. No Streamlit here; the app and the CLI (medviz/cli/encoders.py) call these.

- ``registry``: encoder specs (ids, sources, local copies folder)
- ``hub``: the Hugging Face hub (reachable? weights cached? force offline)
- ``loading``: device choice, loading with fail-fast weight checks, the weights digest, local copies
- ``embed``: batched, resumable embedding into the store; ``explain``: pair explanations, maps, zero-shot
- ``visual``: SSIM / histogram differences; ``demo``: the demo hook (pixels embeddings of the samples)

Learned encoders need the ``encoders`` extra (torch, open_clip); ``medviz.extras`` says so when missing.
"""
from __future__ import annotations

from .embed import EmbedResult, compute_embeddings, computed_encoders
from .explain import (OptionAlignment, PairExplanation, Thresholds, explain_pair, patch_similarity_map, quadrant,
                      quadrant_thresholds, reset_quadrant_thresholds, set_quadrant_thresholds, zero_shot_probe)
from .loading import LoadedEncoder, load_encoder, loaded_encoder, pick_device, register_model
from .maps import PCA_FIT_SAMPLE, embedding_map, map_methods, neighbours, pca_2d
from .registry import DEFAULT_ENCODER, PIXELS, EncoderSpec, available_encoders, get_spec
from .visual import VisualDifference, compare_files, compare_images

__all__ = [
    "DEFAULT_ENCODER", "PCA_FIT_SAMPLE", "PIXELS", "EmbedResult", "EncoderSpec", "LoadedEncoder",
    "OptionAlignment", "PairExplanation", "Thresholds", "VisualDifference", "available_encoders", "compare_files",
    "compare_images", "compute_embeddings", "computed_encoders", "embedding_map", "explain_pair", "get_spec",
    "load_encoder", "loaded_encoder", "map_methods", "neighbours", "patch_similarity_map", "pca_2d", "pick_device", "quadrant",
    "quadrant_thresholds", "register_model", "reset_quadrant_thresholds", "set_quadrant_thresholds", "zero_shot_probe",
]
