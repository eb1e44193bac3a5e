"""Fast image preparation for ``compute_embeddings``: uint8 crops from the decode threads, float math on the device.

open_clip's eval transform is ``Resize(s, bicubic) -> CenterCrop(s) -> RGB -> ToTensor -> Normalize``. When an
encoder's ``preprocess`` is exactly that (``plan_for`` recognises it; anything else keeps the plain
``preprocess`` path), the decode threads do only the PIL part (decode, resize, crop) and write the uint8 pixels
straight into one pinned (n, 3, H, W) batch buffer; ``to_model_input`` then copies 1 byte per value to the
device and does ToTensor's ``/255`` and Normalize there. Without drafting the values are those of
``preprocess`` (same PIL resize and crop, same float operations in the same order).

JPEG drafting (the default): libjpeg decodes a large JPEG at 1/2, 1/4 or 1/8 scale in the DCT domain, at the
smallest scale that keeps it at least ``DRAFT_GAP`` (2) times the resize target (a 1024 px JPEG for a 224 px
model decodes at 512 px), and the bicubic resize then maps the original geometry (the draft box) to the target.
This is what Pillow's ``Image.thumbnail`` does with its default ``reducing_gap=2``; it cuts decode + resize of a
1024 px JPEG ~2.5x and changes the model input slightly (measured on real JPEGs: PSNR 52-57 dB, max 5/255; see
bench/README.md). PNG, DICOM and small JPEGs are not affected. ``MEDVIZ_EXACT_DECODE=1`` (``exact_decode=True``,
``medviz embed --exact-decode``) turns drafting off; ``MEDVIZ_DRAFT_GAP=1`` drafts harder (~8x cheaper than a
full decode, PSNR 41-55 dB, max 28/255).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import MedvizError


@dataclass(frozen=True)
class PrepPlan:
    """The PIL half of an open_clip eval transform, and its Normalize for the device half."""
    size: tuple[int, ...]          # torchvision Resize size: (s,) shorter side, or (h, w)
    max_size: int | None
    resample: int                  # PIL resampling filter
    crop: tuple[int, int]          # (h, w)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def resized_size(self, w: int, h: int) -> tuple[int, int]:
        """(w, h) after Resize, as torchvision computes it."""
        if len(self.size) == 2:
            return self.size[1], self.size[0]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size[0], int(self.size[0] * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_short, new_long) if w <= h else (new_long, new_short)


def plan_for(preprocess) -> PrepPlan | None:
    """A plan when ``preprocess`` is Resize -> CenterCrop -> (convert to RGB) -> ToTensor -> Normalize(3 channels)."""
    steps = list(getattr(preprocess, "transforms", None) or [])
    if len(steps) < 4:                               # not a Compose (the pixels encoder): never import torch
        return None
    try:
        from torchvision import transforms as T
        from torchvision.transforms.functional import pil_modes_mapping
    except ImportError:
        return None
    if not isinstance(steps[0], T.Resize) or not isinstance(steps[1], T.CenterCrop):
        return None
    if not isinstance(steps[-1], T.Normalize) or not isinstance(steps[-2], T.ToTensor):
        return None
    for mid in steps[2:-2]:                          # only conversions to RGB may sit between crop and tensor
        if not (getattr(mid, "mode", None) == "RGB" or getattr(mid, "__name__", "") == "_convert_to_rgb"):
            return None
    resize, crop, norm = steps[0], steps[1], steps[-1]
    size = (resize.size,) if isinstance(resize.size, int) else tuple(resize.size)
    mean, std = tuple(float(v) for v in norm.mean), tuple(float(v) for v in norm.std)
    if len(size) not in (1, 2) or len(mean) != 3 or len(std) != 3 or resize.interpolation not in pil_modes_mapping:
        return None
    return PrepPlan(size, resize.max_size, pil_modes_mapping[resize.interpolation], tuple(crop.size), mean, std)


DRAFT_GAP = 2.0       # decode a JPEG at the smallest DCT scale >= this x the resize target (Image.thumbnail's default)


def exact_decode_default() -> bool:
    return os.environ.get("MEDVIZ_EXACT_DECODE", "0").lower() not in ("", "0", "false", "no")


def draft_gap(exact: bool | None = None) -> float | None:
    """The JPEG draft gap to use: None (full decode) when exact, else ``MEDVIZ_DRAFT_GAP`` or ``DRAFT_GAP``."""
    if exact if exact is not None else exact_decode_default():
        return None
    try:
        gap = float(os.environ.get("MEDVIZ_DRAFT_GAP") or DRAFT_GAP)
    except ValueError:
        raise MedvizError("MEDVIZ_DRAFT_GAP must be a number >= 1", field="MEDVIZ_DRAFT_GAP") from None
    if not gap >= 1:
        raise MedvizError("MEDVIZ_DRAFT_GAP must be a number >= 1", field="MEDVIZ_DRAFT_GAP")
    return gap


EXACT = "exact"


def decode_mode(gap: float | None) -> str:
    """The decode mode stored with a vector (part of its cache key): ``exact`` (full decode) or
    ``draft:<gap>`` (large JPEGs decoded at a reduced DCT scale, see ``draft_gap``)."""
    return EXACT if gap is None else f"draft:{gap:g}"


def open_image(path: str, draft=None):
    """Decode an image for encoding, keeping grey images single-channel ('L'); returns (image, box, size).

    Same checks and DICOM windowing as ``image_load.load_image``, but a grey scan is resized before it is
    replicated to RGB (open_clip's transform converts after resize/crop): identical pixels, a third of the
    resampling work. Other modes become RGB as in ``load_image``. ``draft(w, h) -> (w, h) | None`` asks a JPEG
    to decode at a reduced scale covering that size; ``box`` is then the original image's extent in the
    decoded pixels (pass it to ``resize``), else None; ``size`` is the original (w, h).
    """
    from PIL import Image

    from .. import image_load, images
    with open(path, "rb") as f:
        head = f.read(132)
    if images.sniff_format(head) == "dicom":
        arr, own = image_load.dicom_to_array(path)
        if arr.ndim == 2:
            im = Image.fromarray(image_load.window_to_uint8(arr, own))    # same default window as load_image
        else:
            im = image_load.load_image(path)
        return im, None, im.size
    images.validate_image_file(path)
    try:
        with Image.open(path) as im:
            box, size = None, im.size
            if draft is not None and im.format == "JPEG" and im.mode in ("L", "RGB"):
                want = draft(*size)
                res = im.draft(im.mode, want) if want else None
                if res and im.size != size:                 # decoded at a reduced scale
                    box = res[1]
            im.load()
            return (im if im.mode in ("L", "RGB") else im.convert("RGB")), box, size
    except Exception as e:  # noqa: BLE001 - PIL raises many types for corrupt data
        raise MedvizError(f"cannot decode image ({e})", file=path, field="image") from None


def prepare_into(plan: PrepPlan, path: str, out, gap: float | None = None) -> None:
    """Decode ``path``, resize and centre-crop it as ``plan`` says, write uint8 CHW pixels into ``out``
    (a (3, H, W) uint8 tensor: a row of the pinned batch buffer). ``gap``: a JPEG decodes at the smallest DCT
    scale that keeps it >= gap x the resize target; None decodes at full size (the values of ``preprocess``)."""
    import numpy as np
    import torch

    draft = None if gap is None else (lambda w, h: tuple(max(1, int(v * gap)) for v in plan.resized_size(w, h)))
    im, box, (w0, h0) = open_image(path, draft)
    w, h = plan.resized_size(w0, h0)
    if box is not None:
        im = im.resize((w, h), plan.resample, box=box)
    elif (w, h) != im.size:                                              # torchvision skips a no-op resize
        im = im.resize((w, h), plan.resample)
    ch, cw = plan.crop
    if ch > h or cw > w:                            # torchvision pads with zeros, then crops the centre
        im = _pad_for_crop(im, cw, ch)
        w, h = im.size
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    if (left, top, cw, ch) != (0, 0, w, h):
        im = im.crop((left, top, left + cw, top + ch))
    a = torch.from_numpy(np.array(im))                                   # (a writable copy, ~150 kB)
    if a.ndim == 2:
        out.copy_(a.unsqueeze(0).expand(3, ch, cw))                     # grey -> RGB replicates the channel
    else:
        out.copy_(a.permute(2, 0, 1))


def _pad_for_crop(im, cw: int, ch: int):
    """Zero padding as torchvision's ``center_crop`` adds when the crop is larger than the image."""
    from PIL import Image
    w, h = im.size
    left, top = (cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0
    right, bottom = (cw - w + 1) // 2 if cw > w else 0, (ch - h + 1) // 2 if ch > h else 0
    out = Image.new(im.mode, (w + left + right, h + top + bottom), 0)
    out.paste(im, (left, top))
    return out


def new_batch(n: int, plan: PrepPlan, *, pin: bool):
    """An empty (n, 3, H, W) uint8 batch buffer (pinned for non-blocking copies to a GPU)."""
    import torch
    return torch.empty((n, 3, *plan.crop), dtype=torch.uint8, pin_memory=pin)


def to_model_input(batch, plan: PrepPlan, device: str):
    """uint8 (n, 3, H, W) -> normalised float32 on ``device``: ToTensor's /255 and Normalize, done there."""
    import torch
    x = batch.to(device, non_blocking=True).float().div_(255)
    mean = torch.as_tensor(plan.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.as_tensor(plan.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)
