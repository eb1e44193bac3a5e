"""The sample data behind ``medviz demo`` / ``make run``: real medical images from files that PyPI packages
ship, arranged as one small benchmark in each supported format, plus baseline predictions medviz runs.

Image sources (attribution is also written to ``sample_data/generated/ATTRIBUTION.md``):
- pydicom test data ``CT_small.dcm`` and ``MR_small.dcm`` (pydicom project, MIT licence test files);
- nibabel test data ``tests/data/anatomical.nii`` (nibabel project, MIT licence);
- scikit-image ``data.retina()`` and ``data.microaneurysms()`` (CC0, see skimage.data docs).

Every answer key is true of the image by construction: modality read from the DICOM header, plane from the
NIfTI axis chosen, left/right from a horizontal flip we apply, optic-disc side measured on the fundus image.

Predictions:
- ``random-baseline (seed 0)``: a seeded uniform random letter per item (a real baseline medviz runs);
- ``image-blind-baseline``: one seeded random letter per pair, given for both images of the pair;
- ``synthetic-freetext (hand-written)``: hand-written free-text answers that exercise the parsers; labelled
  synthetic in the data and in the app. None of these is a real model's output.
"""
from __future__ import annotations

import base64
import io
import json
import os
import random

import numpy as np
from PIL import Image

SAMPLE_MC = "sample-mediconfusion"
SAMPLE_GMAI = "sample-gmai"
SAMPLE_GENERIC = "sample-generic"
SYNTH_MODEL = "synthetic-freetext (hand-written)"
RANDOM_MODEL = "random-baseline (seed 0)"
BLIND_MODEL = "image-blind-baseline"


def _to_u8(arr: np.ndarray, lo=None, hi=None) -> np.ndarray:
    arr = arr.astype(np.float32)
    lo = np.percentile(arr, 1) if lo is None else lo
    hi = np.percentile(arr, 99.5) if hi is None else hi
    return (np.clip((arr - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def source_images() -> dict[str, Image.Image]:
    """Named RGB images from the package-shipped files (DICOM windowed, NIfTI slices upscaled)."""
    import nibabel
    import pydicom
    from pydicom.data import get_testdata_file
    from skimage import data as skdata

    out = {}
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    out["ct"] = Image.fromarray(_to_u8(hu, -160, 240)).resize((384, 384), Image.BICUBIC).convert("RGB")
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    out["mr"] = Image.fromarray(_to_u8(mr.pixel_array)).resize((384, 384), Image.BICUBIC).convert("RGB")
    nii = nibabel.load(os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii"))
    vol = np.asarray(nii.dataobj, dtype=np.float32)          # axes L, A, S
    axial = np.rot90(vol[:, :, vol.shape[2] // 2])
    sagittal = np.rot90(vol[vol.shape[0] // 2, :, :])
    coronal = np.rot90(vol[:, vol.shape[1] // 2, :])
    for name, sl in (("axial", axial), ("sagittal", sagittal), ("coronal", coronal)):
        out[name] = Image.fromarray(_to_u8(sl)).resize((384, 384), Image.BICUBIC).convert("RGB")
    out["retina"] = Image.fromarray(skdata.retina()).resize((512, 512), Image.BICUBIC)
    out["microaneurysms"] = Image.fromarray(skdata.microaneurysms()).resize((384, 384), Image.BICUBIC).convert("RGB")
    flip = lambda im: im.transpose(Image.FLIP_LEFT_RIGHT)  # noqa: E731
    out["retina_flipped"] = flip(out["retina"])
    out["ct_flipped"] = flip(out["ct"])
    out["mr_rot90"] = out["mr"].rotate(-90)
    out["axial_flipped"] = flip(out["axial"])
    return out


def optic_disc_side(im: Image.Image) -> str:
    """'left' or 'right': where the brightest large blob (the optic disc) lies on a fundus photo."""
    from scipy import ndimage
    g = np.asarray(im.convert("L"), dtype=np.float32)
    smooth = ndimage.uniform_filter(g, max(8, g.shape[1] // 24))
    _, x = np.unravel_index(int(smooth.argmax()), smooth.shape)
    return "left" if x < g.shape[1] / 2 else "right"


# (pair id, image 1, image 2, question, option A, option B, im1 correct, categories)
def _pairs(imgs) -> list[tuple]:
    side1, side2 = optic_disc_side(imgs["retina"]), optic_disc_side(imgs["retina_flipped"])
    disc = {"left": "A", "right": "B"}
    return [
        ("s001", "ct", "mr", "Which imaging modality acquired this image?", "Computed tomography (CT)",
         "Magnetic resonance imaging (MRI)", "A", ["Modality"]),
        ("s002", "axial", "sagittal", "In which anatomical plane is this brain MRI slice shown?", "Axial",
         "Sagittal", "A", ["Cerebral", "Plane"]),
        ("s003", "coronal", "axial", "In which anatomical plane is this brain MRI slice shown?", "Coronal",
         "Axial", "A", ["Cerebral", "Plane"]),
        ("s004", "retina", "retina_flipped", "On which side of the image is the optic disc?", "Left", "Right",
         disc[side1], ["Ophthalmology", "Laterality"]),
        ("s005", "ct", "ct_flipped", "Is this image mirrored left-to-right relative to the original acquisition?",
         "No, original orientation", "Yes, mirrored", "A", ["Laterality"]),
        ("s006", "mr", "mr_rot90", "Is this image rotated relative to the original acquisition?",
         "No, original orientation", "Yes, rotated 90 degrees clockwise", "A", ["Orientation"]),
        ("s007", "retina", "microaneurysms", "What does this ophthalmic image show?",
         "A whole fundus photograph", "A magnified crop of retinal microaneurysms", "A", ["Ophthalmology"]),
        ("s008", "axial", "axial_flipped", "Is this image mirrored left-to-right relative to the original slice?",
         "No, original orientation", "Yes, mirrored", "A", ["Cerebral", "Laterality"]),
    ], (side1, side2)


CAPTIONS = {
    "ct": "CT slice (pydicom test file CT_small.dcm), soft-tissue window.",
    "ct_flipped": "The same CT slice (pydicom CT_small.dcm), mirrored left-to-right by medviz.",
    "mr": "MR image (pydicom test file MR_small.dcm).",
    "mr_rot90": "The same MR image (pydicom MR_small.dcm), rotated 90 degrees clockwise by medviz.",
    "axial": "Brain MRI, axial mid slice (nibabel test volume anatomical.nii).",
    "axial_flipped": "Brain MRI axial mid slice (nibabel anatomical.nii), mirrored left-to-right by medviz.",
    "sagittal": "Brain MRI, sagittal mid slice (nibabel test volume anatomical.nii).",
    "coronal": "Brain MRI, coronal mid slice (nibabel test volume anatomical.nii).",
    "retina": "Fundus photograph of a human retina (scikit-image data.retina, CC0).",
    "retina_flipped": "Fundus photograph (scikit-image data.retina, CC0), mirrored left-to-right by medviz.",
    "microaneurysms": "Magnified fundus detail with microaneurysms (scikit-image data.microaneurysms, CC0).",
}


def _png_b64(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


GMAI_ROWS = [
    # (image, question, options, answer, modality, task, department, granularity)
    ("ct", "Which imaging modality is shown?", ["CT", "MR", "X-ray", "Fundus photography"], "A", "CT",
     "Attribute Recognition", "Radiology", "image level"),
    ("mr", "Which imaging modality is shown?", ["CT", "MR", "Ultrasound", "Fundus photography"], "B", "MR",
     "Attribute Recognition", "Radiology", "image level"),
    ("axial", "Which plane does this slice show?", ["Sagittal", "Coronal", "Axial"], "C", "MR",
     "Organ Recognition - Head and Neck", "Neurosurgery", "image level"),
    ("sagittal", "Which plane does this slice show?", ["Sagittal", "Coronal", "Axial"], "A", "MR",
     "Organ Recognition - Head and Neck", "Neurosurgery", "image level"),
    ("coronal", "Which plane does this slice show?", ["Axial", "Coronal", "Sagittal", "None of these"], "B", "MR",
     "Organ Recognition - Head and Neck", "Neurosurgery", "image level"),
    ("retina", "Which imaging modality is shown?", ["Fundus photography", "OCT", "CT", "MR", "Dermoscopy"], "A",
     "Fundus photography", "Attribute Recognition", "Ophthalmology", "image level"),
    ("microaneurysms", "What kind of image is this?",
     ["Magnified retinal detail", "Whole fundus photograph", "Chest X-ray", "Histology slide"], "A",
     "Fundus photography", "Disease Diagnosis", "Ophthalmology", "image level"),
    ("ct_flipped", "Is this CT slice mirrored left-to-right relative to the acquisition?", ["Yes", "No"], "A",
     "CT", "Attribute Recognition", "Radiology", "image level"),
    ("ct", "Is this CT slice mirrored left-to-right relative to the acquisition?", ["Yes", "No"], "B", "CT",
     "Attribute Recognition", "Radiology", "image level"),
    ("retina_flipped", "On which side of the image is the optic disc?", ["Left", "Right"], None,
     "Fundus photography", "Organ Recognition - Head and Neck", "Ophthalmology", "image level"),
]

# Hand-written free-text answers (synthetic) to exercise both parsers: letters, option text, refusals, junk.
SYNTH_MC = {
    "s001": ("A", "The image is B: MRI."), "s002": ("Answer: A", "The answer is (\"A\")."),
    "s003": ("It looks coronal, so A.", "A"), "s004": ("A.", "A."),
    "s005": ("No, original orientation", "B"), "s006": ("(\"A\"): original", "I cannot tell."),
    "s007": ("A", "B"), "s008": ("A or B, hard to say", "B."),
}
SYNTH_GMAI = ["A", "The modality is MR.", "C", "The answer is A, sagittal plane.", "Coronal",
              "Fundus photography", "Cannot determine the answer", "B", "No", "Right"]


def build_files(out_dir: str, seed: int = 0) -> dict:
    """Write the three sample benchmarks and their prediction files under ``out_dir``; return paths."""
    rng = random.Random(seed)
    imgs = source_images()
    os.makedirs(out_dir, exist_ok=True)
    paths: dict = {}

    # 1) MediConfusion format: dataset.json + images/<local>.jpg + Results/<model>/<model>_mc.json
    mc_dir = os.path.join(out_dir, "mediconfusion")
    img_dir = os.path.join(mc_dir, "images")
    os.makedirs(img_dir, exist_ok=True)
    local_ids = {name: 90001 + i for i, name in enumerate(sorted(imgs))}
    for name, im in imgs.items():
        im.save(os.path.join(img_dir, f"{local_ids[name]}.jpg"), quality=92)
    pairs, _sides = _pairs(imgs)
    dataset = {}
    for pid, a, b, q, oa, ob, c1, cats in pairs:
        dataset[pid] = {
            "im_1": f"sample/{a}.jpg", "im_2": f"sample/{b}.jpg",
            "im_1_local": local_ids[a], "im_2_local": local_ids[b],
            "cap_1": CAPTIONS[a], "cap_2": CAPTIONS[b],
            "category_1": cats, "category_2": cats, "BiomedCLIP_sim": None, "DINO_sim": None,
            "question": q, "option_A": oa, "option_B": ob,
            "im_1_correct": c1, "im_2_correct": "B" if c1 == "A" else "A",
            "AI_question": q, "AI_option_A": oa, "AI_option_B": ob,
        }
    paths["mc_dataset"] = os.path.join(mc_dir, "dataset.json")
    with open(paths["mc_dataset"], "w") as f:
        json.dump(dataset, f, indent=1)
    paths["mc_images"] = img_dir
    results = {}
    for model, fn in ((RANDOM_MODEL, lambda pid, n: rng.choice("AB")),
                      (BLIND_MODEL, None), (SYNTH_MODEL, lambda pid, n: SYNTH_MC[pid][n - 1])):
        res = {}
        for pid in dataset:
            if fn is None:
                letter = rng.choice("AB")
                answers = (letter, letter)
            else:
                answers = (fn(pid, 1), fn(pid, 2))
            res[pid] = {"answer": {f"im{n}": {"full_answer": answers[n - 1]} for n in (1, 2)}}
        safe = model.split(" ")[0]
        rdir = os.path.join(mc_dir, "Results", safe)
        os.makedirs(rdir, exist_ok=True)
        p = os.path.join(rdir, f"{safe}_mc.json")
        with open(p, "w") as f:
            json.dump(res, f, indent=1)
        results[model] = p
    paths["mc_results"] = results

    # 2) GMAI-MMBench format: VLMEvalKit TSV with base64 PNG + {model}_GMAI-MMBench_VAL.xlsx predictions
    import pandas as pd
    g_dir = os.path.join(out_dir, "gmai")
    os.makedirs(g_dir, exist_ok=True)
    rows = []
    for i, (img, q, opts, ans, mod, task, dept, gran) in enumerate(GMAI_ROWS):
        if ans is None:   # the optic-disc side is measured, not assumed
            ans = "A" if optic_disc_side(imgs[img]) == "left" else "B"
        row = {"index": i, "question": q}
        for j, ch in enumerate("ABCDE"):
            row[ch] = opts[j] if j < len(opts) else None
        row.update({"answer": ans, "category": task.split(" - ")[0], "modality": mod, "clinical VQA task": task,
                    "department": dept, "perceptual granularity": gran, "image": _png_b64(imgs[img].resize((256, 256)))})
        rows.append(row)
    bench = pd.DataFrame(rows)
    paths["gmai_tsv"] = os.path.join(g_dir, "GMAI-MMBench_SAMPLE.tsv")
    bench.to_csv(paths["gmai_tsv"], sep="\t", index=False)
    preds = {}
    for model, answers in (
            (RANDOM_MODEL, [rng.choice([c for c in "ABCDE" if r[c] is not None]) for r in rows]),
            (SYNTH_MODEL, SYNTH_GMAI)):
        df = bench.drop(columns=["image"]).assign(prediction=answers)
        p = os.path.join(g_dir, f"{model.split(' ')[0]}_GMAI-MMBench_SAMPLE.xlsx")
        df.to_excel(p, index=False)
        preds[model] = p
    paths["gmai_preds"] = preds

    # 3) generic CSV benchmark + generic predictions CSV
    gen_dir = os.path.join(out_dir, "generic")
    os.makedirs(os.path.join(gen_dir, "images"), exist_ok=True)
    grow, gpred = [], []
    for pid, a, b, q, oa, ob, c1, cats in pairs[:4]:
        for n, name in ((1, a), (2, b)):
            rel = f"images/{name}.png"
            if not os.path.exists(os.path.join(gen_dir, rel)):
                imgs[name].resize((256, 256)).save(os.path.join(gen_dir, rel))
            ans = c1 if n == 1 else ("B" if c1 == "A" else "A")
            grow.append({"item_id": f"{pid}-{n}", "image_path": rel, "pair_id": pid, "slot": n, "question": q,
                         "A": oa, "B": ob, "answer": ans, "modality": "MR" if name in ("axial", "sagittal", "coronal", "mr") else
                         ("CT" if name.startswith("ct") else "Fundus photography"), "category": ";".join(cats)})
            gpred.append({"item_id": f"{pid}-{n}", "model": RANDOM_MODEL, "prediction": rng.choice("AB")})
    paths["generic_csv"] = os.path.join(gen_dir, "benchmark.csv")
    pd.DataFrame(grow).to_csv(paths["generic_csv"], index=False)
    paths["generic_preds"] = os.path.join(gen_dir, "predictions.csv")
    pd.DataFrame(gpred).to_csv(paths["generic_preds"], index=False)

    with open(os.path.join(out_dir, "ATTRIBUTION.md"), "w") as f:
        f.write(__doc__)
    return paths


def build_demo(store, out_dir: str, seed: int = 0) -> dict:
    """Build the sample files and load them (and their predictions) into ``store``."""
    from .ingest import import_predictions, ingest_benchmark
    paths = build_files(out_dir, seed)
    note = "sample data built from package-shipped images"
    summary = {"benchmarks": []}
    summary["benchmarks"].append(ingest_benchmark(store, paths["mc_dataset"], kind="mediconfusion",
                                                  benchmark_id=SAMPLE_MC, images_dir=paths["mc_images"], note=note))
    for model, p in paths["mc_results"].items():
        import_predictions(store, SAMPLE_MC, p, model=model, synthetic=model == SYNTH_MODEL,
                           note=_model_note(model))
    summary["benchmarks"].append(ingest_benchmark(store, paths["gmai_tsv"], kind="gmai", benchmark_id=SAMPLE_GMAI,
                                                  note=note))
    for model, p in paths["gmai_preds"].items():
        import_predictions(store, SAMPLE_GMAI, p, model=model, synthetic=model == SYNTH_MODEL,
                           note=_model_note(model))
    summary["benchmarks"].append(ingest_benchmark(store, paths["generic_csv"], kind="generic",
                                                  benchmark_id=SAMPLE_GENERIC, note=note))
    import_predictions(store, SAMPLE_GENERIC, paths["generic_preds"], note=_model_note(RANDOM_MODEL))
    summary["paths"] = paths
    return summary


def _model_note(model: str) -> str:
    if model == SYNTH_MODEL:
        return "SYNTHETIC: hand-written free-text answers to exercise the parsers; not a real model"
    if model == BLIND_MODEL:
        return "baseline run by medviz: one seeded random letter per pair, same for both images"
    return "baseline run by medviz: seeded uniform random letter"
