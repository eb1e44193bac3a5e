"""Why a pair confuses models: encoder similarity vs. how different the images really look, option alignment,
patch-level agreement maps and the zero-shot probe — every number tagged with the encoder and weights.

The MediConfusion mechanism: the two images embed almost identically (high encoder cosine) although they
look clearly different (low SSIM). An MLLM that sees the world through that encoder cannot tell them apart;
if the encoder's own zero-shot choice is the same option for both images, the pair is **encoder-blind**.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import MedvizError
from ..store import Store, core
from ..store import embeddings as sql
from ..writer import execute_write_fn
from . import registry
from .embed import current_key, decoding
from .loading import LoadedEncoder, PixelsEncoder, loaded_encoder
from .visual import METHOD as VISUAL_METHOD
from .visual import VisualDifference, compare_files

# --- quadrant thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Encoder cosine at or above ``encoder_similar`` = embeds alike; SSIM below ``visually_different`` =
    looks different. Defaults follow MediConfusion (pairs mined at BiomedCLIP similarity >= 0.9)."""
    encoder_similar: float = 0.90
    visually_different: float = 0.50


_THRESHOLDS: dict[str | None, Thresholds] = {None: Thresholds()}


def quadrant_thresholds(modality: str | None = None) -> Thresholds:
    """Thresholds for a modality (falls back to the default set)."""
    key = modality.strip().lower() if modality else None
    return _THRESHOLDS.get(key, _THRESHOLDS[None])


def set_quadrant_thresholds(modality: str | None = None, *, encoder_similar: float | None = None,
                            visually_different: float | None = None) -> Thresholds:
    """Adjust the thresholds for one modality (None = the default for all others)."""
    key = modality.strip().lower() if modality else None
    cur = quadrant_thresholds(modality)
    new = replace(cur, **{k: float(v) for k, v in (("encoder_similar", encoder_similar),
                                                   ("visually_different", visually_different)) if v is not None})
    for name, v in (("encoder_similar", new.encoder_similar), ("visually_different", new.visually_different)):
        if not -1.0 <= v <= 1.0:
            raise MedvizError(f"threshold must be between -1 and 1, got {v}", field=name)
    _THRESHOLDS[key] = new
    return new


def reset_quadrant_thresholds() -> None:
    _THRESHOLDS.clear()
    _THRESHOLDS[None] = Thresholds()


QUADRANTS = {
    (True, True): "embeds alike, looks different (encoder-blind candidate)",
    (True, False): "embeds alike, looks alike",
    (False, True): "embeds apart, looks different",
    (False, False): "embeds apart, looks alike",
}


def quadrant(similarity: float | None, ssim: float | None, t: Thresholds) -> str | None:
    if similarity is None or ssim is None or _nan(similarity) or _nan(ssim):
        return None
    return QUADRANTS[(similarity >= t.encoder_similar, ssim < t.visually_different)]


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


# --- result types -------------------------------------------------------------------------------------

@dataclass
class OptionAlignment:
    """The encoder's zero-shot choice for one image: cosine of the image with 'question + option'."""
    item_id: str
    choice: str
    correct: str | None
    cosines: dict[str, float]
    probs: dict[str, float]


@dataclass
class PairExplanation:
    benchmark_id: str
    pair_id: str
    item_1: str
    item_2: str
    modality: str | None
    provided: dict[str, float | None]            # the benchmark's own BiomedCLIP_sim / DINO_sim
    encoder_id: str
    encoder_label: str
    encoder_kind: str
    weights_digest: str | None
    encoder_cosine: float | None
    encoder_reason: str | None                   # why encoder_cosine is None
    visual: VisualDifference | None
    visual_reason: str | None
    thresholds: Thresholds
    quadrant: str | None
    quadrant_basis: str | None                   # which similarity the quadrant used
    options: list[OptionAlignment] | None
    options_reason: str | None
    encoder_blind: bool | None
    provenance: dict = field(default_factory=dict)
    embeds_alike: bool | None = None             # similarity >= thresholds.encoder_similar (None: unknown)
    looks_different: bool | None = None          # SSIM < thresholds.visually_different (None: unknown)


# --- helpers ------------------------------------------------------------------------------------------

def _item(cur, benchmark_id: str, item_id: str) -> dict:
    it = core.item(cur, benchmark_id, item_id)
    if it is None:
        raise MedvizError(f"item '{item_id}' is not in benchmark '{benchmark_id}'", record=item_id)
    return it


def _has_image(it: dict) -> bool:
    return it.get("image_status") == "ok" and bool(it.get("image_path")) and bool(it.get("image_sha256"))


def _pick_encoder(store, benchmark_id: str, encoder_id: str | None) -> str:
    if encoder_id:
        return encoder_id
    done = sql.computed_encoders(store.cursor(), benchmark_id)
    if registry.DEFAULT_ENCODER in done or not done:
        return registry.DEFAULT_ENCODER
    learned = [e for e in done if e != registry.PIXELS]
    return (learned or done)[0]


def _spec(store, benchmark_id: str, encoder_id: str):
    try:
        return registry.get_spec(encoder_id)
    except MedvizError:
        if encoder_id not in sql.computed_encoders(store.cursor(), benchmark_id):
            raise
        # vectors exist (e.g. from a notebook-registered model) but the id is not registered in this process
        return registry.EncoderSpec(encoder_id, encoder_id, "learned", "unknown (not registered in this process)")


def visual_difference(store, it1: dict, it2: dict) -> VisualDifference:
    """SSIM / histogram distance of two items' images, cached by image content."""
    cur = store.cursor()
    hit = sql.visual_diff(cur, it1["image_sha256"], it2["image_sha256"], VISUAL_METHOD)
    if hit is not None:
        return VisualDifference(hit[0], hit[1])
    vd = compare_files(store.image_file(it1["image_path"]), store.image_file(it2["image_path"]))
    if not store.read_only:
        def write(tx):
            sql.insert_visual_diff(tx, it1["image_sha256"], it2["image_sha256"], VISUAL_METHOD, vd.ssim,
                                   vd.hist_distance)
        if isinstance(store, Store):      # the app's (or a command's) store: a cache row through its one writer,
            execute_write_fn(store, write, block=False)            # not waited for (the values are in hand)
        else:                             # a job's WriterStore: its transaction already is the writer's
            with store.transaction() as tx:
                write(tx)
    return vd


def _image_vector(store, enc: LoadedEncoder, it: dict) -> np.ndarray | None:
    """The item's cached vector under the loaded weights (in the decode mode this process embeds with), else
    computed now from the image."""
    got = sql.vectors_for_hashes(store.cursor(), enc.id, enc.weights_digest, [it["image_sha256"]],
                                 decode=decoding(enc)[2])
    if it["image_sha256"] in got:
        return got[it["image_sha256"]]
    from ..image_load import load_image
    return enc.encode_batch(enc.stack([enc.preprocess(load_image(store.image_file(it["image_path"])))]))[0]


def option_alignment(store, enc: LoadedEncoder, it: dict) -> OptionAlignment:
    """Zero-shot choice of the encoder for one item (needs a loaded encoder with a text tower)."""
    options = json.loads(it["options"]) if it.get("options") else {}
    letters = list(options)
    texts = [f"{it.get('question') or ''} {options[k]}".strip() for k in letters]
    tv = enc.encode_texts(texts)
    iv = _image_vector(store, enc, it)
    cos = tv @ iv
    logits = enc.logit_scale() * cos
    p = np.exp(logits - logits.max())
    p /= p.sum()
    choice = letters[int(np.argmax(cos))]
    return OptionAlignment(it["item_id"], choice, it.get("answer"), dict(zip(letters, map(float, cos))),
                           dict(zip(letters, map(float, p))))


# --- the public verbs ---------------------------------------------------------------------------------

def explain_pair(store, benchmark_id: str, pair_id: str, encoder_id: str | None = None) -> PairExplanation:
    """Everything medviz can say about why this pair is hard, for one encoder (default BiomedCLIP)."""
    cur = store.cursor()
    p = core.pair(cur, benchmark_id, pair_id)
    if p is None:
        raise MedvizError(f"pair '{pair_id}' is not in benchmark '{benchmark_id}'", record=pair_id)
    it1, it2 = _item(cur, benchmark_id, p["item_1"]), _item(cur, benchmark_id, p["item_2"])
    encoder_id = _pick_encoder(store, benchmark_id, encoder_id)
    spec = _spec(store, benchmark_id, encoder_id)
    provided = {"BiomedCLIP_sim": None if _nan(p.get("biomedclip_sim")) else float(p["biomedclip_sim"]),
                "DINO_sim": None if _nan(p.get("dino_sim")) else float(p["dino_sim"])}
    both = _has_image(it1) and _has_image(it2)
    modality = it1.get("modality") or it2.get("modality")

    # 1. encoder cosine (from the cache only: nothing is shown for an encoder that has not been run)
    key = current_key(store, benchmark_id, encoder_id)
    digest = key[0] if key else None
    cosine, enc_reason = None, None
    if not both:
        enc_reason = "image missing for " + " and ".join(i["item_id"] for i in (it1, it2) if not _has_image(i))
    elif digest is None:
        enc_reason = f"not computed: run `medviz embed {benchmark_id} --encoder {encoder_id}`"
    else:
        got = sql.vectors_for_hashes(cur, encoder_id, digest, [it1["image_sha256"], it2["image_sha256"]],
                                     decode=key[1])
        if it1["image_sha256"] in got and it2["image_sha256"] in got:
            cosine = float(np.dot(got[it1["image_sha256"]], got[it2["image_sha256"]]))
        else:
            enc_reason = (f"not computed for these images with weights {digest}: run "
                          f"`medviz embed {benchmark_id} --encoder {encoder_id}`")

    # 2. weight-free visual difference and the quadrant
    visual, vis_reason = None, None
    if both:
        try:
            visual = visual_difference(store, it1, it2)
        except MedvizError as e:
            vis_reason = str(e)
    else:
        vis_reason = "image missing"
    t = quadrant_thresholds(modality)
    if cosine is not None:
        sim, basis = cosine, f"{encoder_id} cosine"
    elif provided["BiomedCLIP_sim"] is not None:
        sim, basis = provided["BiomedCLIP_sim"], "BiomedCLIP_sim provided by the benchmark"
    else:
        sim, basis = None, None
    quad = quadrant(sim, visual.ssim if visual else None, t)

    # 3. option alignment (loaded encoders with a text tower only)
    options, opt_reason, blind = None, None, None
    enc = loaded_encoder(encoder_id) if spec.learned else None
    if not spec.has_text and not spec.learned:
        opt_reason = f"{encoder_id} is weight-free and has no text tower"
    elif enc is None:
        opt_reason = f"encoder '{encoder_id}' is not loaded in this process"
    elif not enc.has_text:
        opt_reason = f"encoder '{encoder_id}' has no text tower"
    elif not both:
        opt_reason = "image missing"
    else:
        try:
            options = [option_alignment(store, enc, it1), option_alignment(store, enc, it2)]
            blind = options[0].choice == options[1].choice
        except MedvizError as e:
            opt_reason = str(e)

    provenance = {"encoder_id": encoder_id, "encoder_source": spec.source, "encoder_kind": spec.kind,
                  "weights_digest": digest if cosine is not None else (enc.weights_digest if enc else digest),
                  "decode": key[1] if cosine is not None else None,      # how the images were decoded
                  "visual_method": VISUAL_METHOD, "quadrant_basis": basis}
    return PairExplanation(benchmark_id, pair_id, it1["item_id"], it2["item_id"], modality, provided, encoder_id,
                           spec.label, spec.kind, provenance["weights_digest"], cosine, enc_reason, visual,
                           vis_reason, t, quad, basis, options, opt_reason, blind, provenance,
                           None if sim is None else bool(sim >= t.encoder_similar),
                           None if visual is None else bool(visual.ssim < t.visually_different))


def patch_similarity_map(store, benchmark_id: str, pair_id: str, encoder_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch agreement maps (grid arrays): for each patch of image 1, its best cosine against any patch of
    image 2, and vice versa. Low values mark regions with no counterpart in the other image."""
    from ..image_load import load_image
    cur = store.cursor()
    p = core.pair(cur, benchmark_id, pair_id)
    if p is None:
        raise MedvizError(f"pair '{pair_id}' is not in benchmark '{benchmark_id}'", record=pair_id)
    it1, it2 = _item(cur, benchmark_id, p["item_1"]), _item(cur, benchmark_id, p["item_2"])
    for it in (it1, it2):
        if not _has_image(it):
            raise MedvizError("image missing; no patch map", record=it["item_id"], field="image")
    enc = loaded_encoder(encoder_id)
    if enc is None:
        raise MedvizError(f"encoder '{encoder_id}' not loaded in this process; load it with "
                          f"medviz.encoders.load_encoder('{encoder_id}') (check availability first — run: "
                          f"medviz embed {benchmark_id} --encoder {encoder_id})", field="encoder")
    ims = [load_image(store.image_file(it1["image_path"])), load_image(store.image_file(it2["image_path"]))]
    if isinstance(enc, PixelsEncoder):
        tok = enc.patch_tokens_from_images(ims)
    else:
        import torch
        tok = enc.patch_tokens(torch.stack([enc.preprocess(im) for im in ims]))
    gh, gw, c = tok.shape[1:]
    a = tok[0].reshape(-1, c)
    b = tok[1].reshape(-1, c)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-8)
    s = a @ b.T
    return s.max(axis=1).reshape(gh, gw), s.max(axis=0).reshape(gh, gw)


def zero_shot_probe(store, benchmark_id: str, encoder_id: str) -> int:
    """Store the encoder's zero-shot choices as a model 'zero-shot <encoder>' so it is scored like any other.

    Needs the encoder loaded with a text tower; items without an image get no prediction. Returns rows written.
    """
    import pyarrow as pa
    enc = loaded_encoder(encoder_id)
    if enc is None or not enc.has_text:
        raise MedvizError(f"encoder '{encoder_id}' must be loaded and have a text tower for the zero-shot probe",
                          field="encoder")
    cur = store.cursor()
    items = core.items(cur, benchmark_id)
    rows = []
    for it in items.to_dict("records"):
        if not _has_image(it) or not it.get("options"):
            continue
        oa = option_alignment(store, enc, it)
        rows.append({"benchmark_id": benchmark_id, "model": f"zero-shot {encoder_id}", "item_id": it["item_id"],
                     "raw": oa.choice, "score_a": None, "score_b": None, "parsed": oa.choice,
                     "correct": None, "hit": None,     # the store derives `correct`
                     "log": json.dumps({"cosines": oa.cosines, "weights_digest": enc.weights_digest})})
    table = pa.Table.from_pylist(rows, schema=core.PREDICTION_SCHEMA)
    note = (f"encoder probe, not an LLM: zero-shot choice by cosine of the image with 'question + option' under "
            f"{encoder_id} [{enc.weights_digest}]")
    with store.transaction() as tx:
        return core.replace_predictions(tx, benchmark_id, f"zero-shot {encoder_id}", table,
                                        source=f"medviz encoder probe ({enc.spec.source})", mode="zero-shot",
                                        synthetic=False, note=note)
