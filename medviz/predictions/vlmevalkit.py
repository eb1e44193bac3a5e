"""VLMEvalKit output: ``{model}_{dataset}.xlsx`` (or ``.tsv`` / ``.json``) with ``index`` and ``prediction``,
optionally the judged ``{...}_result.xlsx`` whose ``hit``/``log`` columns are kept verbatim.

The model name defaults to VLMEvalKit's ``{model}_{dataset}`` convention (see ``model_name``).

Options are taken as VLMEvalKit's exact matching takes them: from the prediction file's own one-capital-
letter columns *as pandas reads the file* (``build_choices``: every letter column that is not NA, then
``str(value)`` in ``can_infer_text``). A column holding only numbers and blanks is read as float, so option
``7`` is the text ``7.0`` and a prediction "7" does not match it by option text. A file without option
columns falls back to the benchmark's options.
"""
from __future__ import annotations

import json
import os
import re
import string
import zipfile

import pandas as pd

from .. import limits, textfiles
from ..errors import MedvizError
from . import PREDICTION_COLUMNS


def model_name(path: str) -> str:
    """The model from VLMEvalKit's ``outputs/<model>[/<run id>]/<model>_<dataset>.xlsx`` convention: the part
    before ``_GMAI-MMBench...``; for another dataset name, the output folder's name when the file is named
    after it (VLMEvalKit nests runs as ``T<date>_G<commit>``); else the whole stem. Judge suffixes
    (``_gpt4o_result``...) are dropped first."""
    stem = os.path.splitext(os.path.basename(path))[0]
    stem = re.sub(r"_(openai|gpt4o?|chatgpt\w*|exact_matching)?_?result$", "", stem)
    m = re.match(r"(.+?)_(GMAI[-_]MMBench.*)$", stem, flags=re.I)
    if m:
        return m.group(1)
    here = os.path.dirname(os.path.abspath(path))
    for folder in (os.path.basename(here), os.path.basename(os.path.dirname(here))):
        if folder and stem.startswith(folder + "_") and len(stem) > len(folder) + 1:
            return folder
    return stem


def read_table(path: str) -> pd.DataFrame:
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".xlsx":
            if not zipfile.is_zipfile(path):
                raise MedvizError("is not an Excel .xlsx spreadsheet (not a zip container)", file=path)
            limits.check_xlsx(path)        # declared sizes and cell count, before openpyxl parses anything
            return pd.read_excel(path, engine="openpyxl")
        if ext == ".tsv":
            return pd.read_csv(path, sep="\t", encoding="utf-8")
        if ext == ".csv":
            return pd.read_csv(path, encoding="utf-8")
        if ext == ".json":
            with open(path, "r", encoding="utf-8") as f:
                data = limits.load_json(f.read(limits.MAX_JSON_BYTES + 1), file=path)
            return pd.DataFrame(data if isinstance(data, list) else
                                [dict(v, index=k) if isinstance(v, dict) else {"index": k, "prediction": v}
                                 for k, v in data.items()])
    except MedvizError:
        raise
    except FileNotFoundError:
        raise MedvizError("file not found", file=path) from None
    except UnicodeDecodeError:
        raise textfiles.locate_utf8_error(path, {".tsv": "\t", ".csv": ","}.get(ext)) from None
    except json.JSONDecodeError as e:
        raise MedvizError(f"is not valid JSON ({textfiles.json_error_text(e)})", file=path) from None
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise MedvizError(f"cannot be read as a spreadsheet ({limits.clip(e)})", file=path) from None
    raise MedvizError(f"unsupported extension {ext!r} (use .xlsx, .tsv or .json)", file=path)


def file_options(df: pd.DataFrame) -> list | None:
    """Per row, the options JSON ``build_choices`` + ``str()`` give on this frame; None without letter columns."""
    letters = [c for c in string.ascii_uppercase if c in df.columns]
    if not letters:
        return None
    cols = [df[c].to_numpy(dtype=object) for c in letters]
    return [json.dumps({ch: str(v) for ch, v in zip(letters, vals) if not pd.isna(v)}, ensure_ascii=False)
            for vals in zip(*cols)]


def read(path: str, model: str | None = None, result_path: str | None = None) -> pd.DataFrame:
    df = read_table(path)
    for col in ("index", "prediction"):
        if col not in df.columns:
            raise MedvizError(f"missing required column '{col}'", file=path, field=col)
    model = model or model_name(path)
    out = pd.DataFrame({
        "item_id": df["index"].astype(str),
        "model": model,
        # keep the raw text; VLMEvalKit scores str(prediction), so NaN stays None here and 'nan' in scoring
        "raw": df["prediction"].astype(str).astype(object).where(df["prediction"].notna(), None),
        "score_a": None, "score_b": None, "hit": None, "log": None, "options": file_options(df),
    })
    if result_path:
        res = read_table(result_path)
        for col in ("index", "hit"):
            if col not in res.columns:
                raise MedvizError(f"missing required column '{col}'", file=result_path, field=col)
        res = res.assign(item_id=res["index"].astype(str)).set_index("item_id")
        out["hit"] = out["item_id"].map(res["hit"]).astype("Int64")
        if "log" in res.columns:
            out["log"] = out["item_id"].map(res["log"].map(lambda v: None if pd.isna(v) else str(v)))
    for i, v in enumerate(df["index"]):
        if pd.isna(v):
            raise MedvizError("empty index", file=path, record=f"row {i + 2}", field="index")
    if out["item_id"].duplicated().any():
        dup = out.loc[out["item_id"].duplicated(), "item_id"].iloc[0]
        raise MedvizError("duplicate index", file=path, record=f"index {dup}", field="index")
    return out[PREDICTION_COLUMNS]
