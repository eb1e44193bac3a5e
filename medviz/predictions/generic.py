"""Generic predictions: CSV or JSONL with ``item_id, model, prediction`` (free text or a letter).

Several models may share one file; each model's rows replace that model's earlier run.
"""
from __future__ import annotations

import json

import pandas as pd

from .. import limits, textfiles
from ..errors import MedvizError
from . import PREDICTION_COLUMNS

REQUIRED = ("item_id", "model", "prediction")


def read(path: str, model: str | None = None) -> pd.DataFrame:
    try:
        if path.lower().endswith((".jsonl", ".ndjson")):
            rows = []
            with open(path, "r", encoding="utf-8") as f:
                for n, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            rows.append(limits.load_json(line, file=path, record=f"line {n}"))
                        except json.JSONDecodeError as e:
                            raise MedvizError(f"invalid JSON ({textfiles.json_error_text(e)})", file=path,
                                              record=f"line {n}") from None
            df = pd.DataFrame(rows)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise MedvizError("file not found", file=path) from None
    except UnicodeDecodeError:
        raise textfiles.locate_utf8_error(path, None if path.lower().endswith((".jsonl", ".ndjson")) else ",") from None
    except pd.errors.ParserError as e:
        raise MedvizError(f"malformed CSV ({e})", file=path) from None
    if model and "model" not in df.columns:
        df["model"] = model
    for col in REQUIRED:
        if col not in df.columns:
            raise MedvizError(f"missing required column '{col}'", file=path, field=col)
    empty = (df["item_id"].astype(str).str.strip() == "") | (df["model"].astype(str).str.strip() == "")
    if empty.any():
        i = int(empty.to_numpy().nonzero()[0][0])
        raise MedvizError("item_id and model must not be empty", file=path, record=f"row {i + 2}")
    out = pd.DataFrame({
        "item_id": df["item_id"].astype(str).str.strip(), "model": df["model"].astype(str).str.strip(),
        "raw": df["prediction"].astype(str).astype(object).where(df["prediction"].notna(), None),
        "score_a": None, "score_b": None, "hit": None, "log": None, "options": None,
    })
    dup = out.duplicated(["model", "item_id"])
    if dup.any():
        r = out[dup].iloc[0]
        raise MedvizError("duplicate prediction for this model and item", file=path,
                          record=f"model {r.model}, item {r.item_id}", field="item_id")
    return out[PREDICTION_COLUMNS]
