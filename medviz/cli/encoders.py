"""``medviz embed``, ``medviz explain`` and ``medviz models`` (list / check / prepare local copies)."""
from __future__ import annotations

import json
import sys
import time

from .. import extras
from ._common import db_arg, open_store, progress_bar
from ..errors import MedvizError


def cmd_embed(args) -> int:
    from .remote import client_for
    client = client_for(args)
    if client is not None:
        if args.probe and args.images:
            raise MedvizError("--probe runs on the server with the server's encoder; leave out --images",
                              field="--probe")
        from .remote import run_embed
        return run_embed(client, args)
    if args.images:
        raise MedvizError("--images is for embedding on another machine: give --server URL (or $MEDVIZ_SERVER)",
                          field="--images")
    from ..encoders import compute_embeddings, zero_shot_probe
    with open_store(args) as store:
        bar = progress_bar(f"embed {args.encoder}", unit="img")
        try:
            res = compute_embeddings(store, args.benchmark, args.encoder, device=args.device,
                                     batch_size=args.batch_size, progress=bar, workers=args.workers,
                                     exact_decode=args.exact_decode or None)
        finally:
            bar.close()
        print(res.summary())
        for msg in res.errors:
            print(f"  skipped: {msg}", file=sys.stderr)
        if args.probe:
            n = zero_shot_probe(store, args.benchmark, args.encoder)
            print(f"zero-shot {args.encoder}: {n} predictions stored as a model (encoder probe)")
    return 0


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def cmd_explain(args) -> int:
    from ..encoders import explain_pair, load_encoder
    with open_store(args) as store:
        if args.load:
            load_encoder(args.encoder, device=args.device)
        ex = explain_pair(store, args.benchmark, args.pair, args.encoder)
    if args.json:
        from dataclasses import asdict
        print(json.dumps(asdict(ex), indent=2, default=str))
        return 0
    print(f"pair {ex.pair_id} ({ex.item_1} / {ex.item_2}), modality {ex.modality or '-'}")
    print(f"  benchmark-provided: BiomedCLIP_sim {_num(ex.provided['BiomedCLIP_sim'])}, "
          f"DINO_sim {_num(ex.provided['DINO_sim'])}")
    print(f"  encoder {ex.encoder_id} ({ex.encoder_kind}) [{ex.weights_digest or 'no weights'}]: cosine "
          f"{_num(ex.encoder_cosine)}" + (f"  ({ex.encoder_reason})" if ex.encoder_reason else ""))
    if ex.visual:
        print(f"  looks: SSIM {ex.visual.ssim:.3f}, histogram distance {ex.visual.hist_distance:.3f} "
              f"({ex.visual.method})")
    else:
        print(f"  looks: - ({ex.visual_reason})")
    t = ex.thresholds
    if ex.quadrant is None and ex.embeds_alike is not None:
        print(f"  {ex.quadrant_basis}: {'embeds alike' if ex.embeds_alike else 'embeds apart'}; "
              "visual difference unknown")
    print(f"  quadrant: {ex.quadrant or '-'}  [basis: {ex.quadrant_basis or '-'}; alike if >= {t.encoder_similar}, "
          f"different if SSIM < {t.visually_different}]")
    if ex.options:
        for oa in ex.options:
            print(f"  zero-shot {oa.item_id}: picks {oa.choice} (correct {oa.correct}); "
                  + ", ".join(f"{k} {v:.3f}" for k, v in oa.cosines.items()))
        print(f"  encoder-blind: {'YES (same option for both images)' if ex.encoder_blind else 'no'}")
    else:
        print(f"  option alignment: - ({ex.options_reason})")
    return 0


def cmd_models_list(args) -> int:
    from ..encoders import available_encoders
    from ..encoders.hub import weights_cached
    from ..encoders.registry import models_dir, weights_file
    print(f"local copies folder: {models_dir()} ($MEDVIZ_MODELS_DIR)")
    for s in available_encoders():
        if s.source.startswith("local-dir:"):
            state = "weights present" if weights_file(s.source[len("local-dir:"):]) else "NO weights file"
        elif s.learned and not extras.available("open_clip"):
            state = "needs pip install 'medviz[encoders]'"
        else:
            cached = weights_cached(s) if s.learned else None
            state = {True: "weights in HF cache", False: "weights not cached", None: ""}[cached]
        print(f"{s.id:<28} {s.kind:<12} {s.source}  {state}")
        if s.note:
            print(f"{'':<28} {s.note}")
    return 0


def cmd_models_check(args) -> int:
    from ..encoders import load_encoder
    t = time.perf_counter()
    enc = load_encoder(args.encoder, device=args.device)
    print(f"{enc.id}: loaded on {enc.device} in {time.perf_counter() - t:.1f} s, weights {enc.weights_digest}, "
          f"text tower: {'yes' if enc.has_text else 'no'}")
    return 0


def cmd_models_prepare(args) -> int:
    """Write an open_clip folder (config + weights) usable as local-dir:<out> on an air-gapped machine."""
    from ..encoders import load_encoder
    from ..encoders.loading import save_local_copy
    from ..encoders.registry import get_spec
    spec = get_spec(args.encoder)
    if not spec.learned:
        raise MedvizError(f"'{spec.id}' is weight-free; nothing to prepare", field="encoder")
    enc = load_encoder(spec.id, device="cpu")
    import open_clip
    if spec.model_name.startswith("hf-hub:"):
        from open_clip.factory import _get_hf_config
        cfg = _get_hf_config(spec.model_name[len("hf-hub:"):])
        model_cfg, pre_cfg = cfg["model_cfg"], cfg.get("preprocess_cfg", {})
    else:
        model_cfg = open_clip.get_model_config(spec.model_name)
        pre = open_clip.get_pretrained_cfg(spec.model_name, spec.pretrained) or {}
        pre_cfg = {k: pre[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in pre}
    out = save_local_copy(enc.model, model_cfg, args.out, preprocess_cfg=pre_cfg, tokenizer=enc.tokenizer,
                          extra={"prepared_from": spec.source, "weights_digest": enc.weights_digest})
    print(f"wrote {out} (weights {enc.weights_digest}); copy it to the air-gapped machine and use "
          f"--encoder local-dir:<path>, or put it under $MEDVIZ_MODELS_DIR to have it listed")
    return 0


def register(sub) -> None:
    s = sub.add_parser("embed", help="embed a benchmark's images with an encoder (cached, resumable)")
    s.add_argument("benchmark")
    s.add_argument("--encoder", default="biomedclip", help="encoder id (see `medviz models list`)")
    s.add_argument("--device", default=None, help="cuda, cuda:N, mps or cpu (default: best available)")
    s.add_argument("--batch-size", type=int, default=None)
    s.add_argument("--workers", type=int, default=None, help="decode threads (default: CPU count, 2-8)")
    s.add_argument("--exact-decode", action="store_true",
                   help="decode JPEGs at full size (default: at a reduced DCT scale >= 2x the model's input; "
                        "also MEDVIZ_EXACT_DECODE=1)")
    s.add_argument("--probe", action="store_true",
                   help="also store the encoder's zero-shot choices as a model 'zero-shot <encoder>'")
    s.add_argument("--images", default=None,
                   help="with a server: embed HERE from this folder's copy of the images and push the vectors")
    db_arg(s, remote=True)
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("explain", help="why does this pair confuse models? (encoder vs. visual difference)")
    s.add_argument("benchmark")
    s.add_argument("pair")
    s.add_argument("--encoder", default=None)
    s.add_argument("--load", action="store_true", help="load the encoder for option alignment (zero-shot)")
    s.add_argument("--device", default=None)
    s.add_argument("--json", action="store_true")
    db_arg(s)
    s.set_defaults(func=cmd_explain)

    s = sub.add_parser("models", help="encoders: list, check loading, prepare local copies for air-gapped use")
    msub = s.add_subparsers(dest="mcommand", required=True)
    m = msub.add_parser("list", help="known encoders and whether their weights are available")
    m.set_defaults(func=cmd_models_list)
    m = msub.add_parser("check", help="load an encoder now and print its weights digest")
    m.add_argument("encoder")
    m.add_argument("--device", default=None)
    m.set_defaults(func=cmd_models_check)
    m = msub.add_parser("prepare", help="save an encoder as an open_clip folder for local-dir: use")
    m.add_argument("encoder")
    m.add_argument("--out", required=True)
    m.set_defaults(func=cmd_models_prepare)
