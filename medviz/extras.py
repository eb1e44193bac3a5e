"""The optional extras: the one place that knows which packages are truly optional and what to install.

Everything else medviz imports is a declared dependency and is imported plainly: a failing import there is a
bug and must surface as one, not as "not available". In the style of fiftyone-brain's ``ensure_requirements``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .errors import MedvizError


@dataclass(frozen=True)
class Extra:
    module: str        # top-level module imported
    package: str       # PyPI distribution
    extra: str         # pip install 'medviz[<extra>]'
    purpose: str


EXTRAS: dict[str, Extra] = {e.module: e for e in (
    Extra("umap", "umap-learn", "umap", "UMAP layouts of embeddings"),
    Extra("transformers", "transformers", "biomedclip", "BiomedCLIP's PubMedBERT text tower"),
    # Learned encoders; the weight-free pixels encoder, scoring, review and tagging work without them.
    Extra("torch", "torch", "encoders", "learned encoders (BiomedCLIP, CLIP)"),
    Extra("open_clip", "open_clip_torch", "encoders", "learned encoders (BiomedCLIP, CLIP)"),
)}


def available(module: str) -> bool:
    """Is the optional ``module`` installed? (Only names in EXTRAS may be asked.)"""
    _extra(module)
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):      # a broken or half-removed install counts as missing
        return False


def requirement_error(module: str, *, hint: str = "", field: str | None = None) -> MedvizError:
    e = _extra(module)
    return MedvizError(f"{e.purpose}: needs the {e.package} package (pip install 'medviz[{e.extra}]' or "
                       f"pip install {e.package}){'; ' + hint if hint else ''}", field=field)


def ensure_requirements(module: str, *, hint: str = "", field: str | None = None) -> None:
    """Raise a MedvizError saying what to install when the optional ``module`` is missing."""
    if not available(module):
        raise requirement_error(module, hint=hint, field=field)


def missing_extra(err: ImportError) -> str | None:
    """The EXTRAS module an ImportError is about, or None (then it is a real bug: let it surface)."""
    name = (getattr(err, "name", None) or "").split(".")[0]
    return name if name in EXTRAS else None


def _extra(module: str) -> Extra:
    try:
        return EXTRAS[module]
    except KeyError:
        raise ValueError(f"'{module}' is not an optional extra; valid: {', '.join(EXTRAS)}") from None
