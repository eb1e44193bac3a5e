"""Weight-free measures of how different two images really look — no encoder, no weights.

Both images are converted to grey and resized to 128x128, then:
- SSIM (structural similarity, 1 = identical, near 0 = unrelated structure; skimage's implementation);
- intensity-histogram distance: Hellinger distance of the 32-bin grey histograms (0 = same intensity
  distribution, 1 = disjoint). A flipped image has histogram distance 0 but lower SSIM.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHOD = "grey128-ssim7/hellinger32"
SIZE = 128
BINS = 32


@dataclass
class VisualDifference:
    ssim: float
    hist_distance: float
    method: str = METHOD


def grey(im, size: int = SIZE) -> np.ndarray:
    from PIL import Image
    return np.asarray(im.convert("L").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity
    return float(structural_similarity(a, b, data_range=1.0, win_size=7))


def hist_distance(a: np.ndarray, b: np.ndarray, bins: int = BINS) -> float:
    ha, _ = np.histogram(a, bins=bins, range=(0.0, 1.0))
    hb, _ = np.histogram(b, bins=bins, range=(0.0, 1.0))
    pa, pb = ha / max(ha.sum(), 1), hb / max(hb.sum(), 1)
    bc = float(np.sum(np.sqrt(pa * pb)))
    return float(np.sqrt(max(0.0, 1.0 - bc)))


def compare_images(im1, im2) -> VisualDifference:
    a, b = grey(im1), grey(im2)
    return VisualDifference(ssim(a, b), hist_distance(a, b))


def compare_files(path1: str, path2: str) -> VisualDifference:
    from ..image_load import load_image
    return compare_images(load_image(path1), load_image(path2))
