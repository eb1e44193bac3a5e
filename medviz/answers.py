"""Answer-letter parsing: one function per official rule set.

- ``mediconfusion_scores`` / ``mediconfusion_choice`` re-implement ``clean_up_manual`` and ``check_answer``
  from AIF4S/MediConfusion ``utils/answering.py``.
- ``vlmeval_infer`` re-implements VLMEvalKit ``vlmeval/utils/matching_util.py`` (``can_infer_option`` then
  ``can_infer_text``) as used by exact matching (no judge): a prediction that yields neither is wrong.

``parse_letters`` applies them to a whole prediction frame (what import, store scoring and file scoring all
call); ``parse_letter`` is the one-answer form. Both call the same rule functions, so there is one parser.

These are behavioural re-implementations written from reading the official code; tests pin their edge cases.
"""
from __future__ import annotations

import json
import re

import math

import numpy as np
import pandas as pd

from .errors import MedvizError

INVALID = "-"          # MediConfusion's marker for an answer that picks no letter
MEDICONFUSION_TR = 3   # a letter wins when its score beats the other's by at least this (official --tr)
# Scores are 0..10 (10 for a parsed letter), so a larger margin means nothing; a margin of 0 would let a tie
# (including "no answer", scored 0 vs 0) pick A, which the official code never meant.
TR_RANGE = (0, 10)


def judge_threshold(tr) -> float:
    """``tr`` checked: a number with 0 < tr <= 10; MedvizError naming ``--tr`` otherwise."""
    try:
        v = float(tr)
    except (TypeError, ValueError):
        raise MedvizError(f"judge threshold must be a number, found {tr!r}", field="--tr") from None
    if not math.isfinite(v) or not TR_RANGE[0] < v <= TR_RANGE[1]:
        raise MedvizError(f"judge threshold must be more than {TR_RANGE[0]} and at most {TR_RANGE[1]}, "
                          f"found {tr!r}", field="--tr")
    return v


def _mediconfusion_forms(letter: str) -> frozenset[str]:
    # Official list also has f"{la}\n" and f"\n{la}", which can never match: newlines become spaces first.
    la = letter
    return frozenset([la, f"{la}:", f".{la}", f".{la}:", f"{la}.", f'{la}")', f'("{la}":', f'("{la}")',
                      f'("{la}").'])


_MC_FORMS = {la: _mediconfusion_forms(la) for la in ("A", "B")}


def mediconfusion_scores(full_answer: str | None) -> tuple[int, int]:
    """(score_A, score_B) as ``clean_up_manual`` gives them: 10 for a letter found, both 0 if both found."""
    if full_answer is None:
        return 0, 0
    tokens = set(str(full_answer).replace("\n", " ").split(" "))
    a = 10 if not tokens.isdisjoint(_MC_FORMS["A"]) else 0
    b = 10 if not tokens.isdisjoint(_MC_FORMS["B"]) else 0
    if a and b:
        return 0, 0
    return a, b


def mediconfusion_choice(score_a: float, score_b: float, tr: float = MEDICONFUSION_TR) -> str:
    """``check_answer``: 'A', 'B' or '-' (invalid)."""
    if score_a >= score_b + tr:
        return "A"
    if score_b >= score_a + tr:
        return "B"
    return INVALID


def mediconfusion_letter(full_answer: str | None, score_a: float | None = None,
                         score_b: float | None = None, tr: float = MEDICONFUSION_TR) -> str | None:
    """The chosen letter, or None for invalid. Judge scores win over parsing when present.

    ``tr`` is the official ``--tr`` margin (default 3; the MediConfusion README uses 2 for some runs).
    """
    if _isna(score_a) or _isna(score_b):
        score_a, score_b = mediconfusion_scores(full_answer)
    c = mediconfusion_choice(score_a, score_b, tr)
    return None if c == INVALID else c


# --- VLMEvalKit ---------------------------------------------------------------------------------------

VLMEVAL_FAIL_MSG = "Failed to obtain answer via API"
VLMEVAL_REJECT = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_VLMEVAL_PUNCT = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
# The "answer is X" fallback VLMEvalKit added for verbose chain-of-thought answers (PR #1552).
_VLMEVAL_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def vlmeval_can_infer_option(answer: str, choices) -> str | bool:
    """Letter from the answer's tokens; 'Z' for a refusal; False when it cannot tell."""
    if VLMEVAL_FAIL_MSG in answer:
        return False
    for err in VLMEVAL_REJECT:
        if err in answer:
            return "Z"
    splits = [x.strip() for x in answer.translate(_VLMEVAL_PUNCT).split()]
    count = sum(1 for c in choices if c in splits)
    if count == 1:
        for ch in choices:
            if ch in splits and splits.index(ch) > (len(splits) - 5):
                return ch
    elif count == 0 and "Z" in splits:
        return "Z"
    m = _VLMEVAL_ANSWER_IS.search(answer)
    if m and m.group(1).upper() in choices:
        return m.group(1).upper()
    return False


def vlmeval_can_infer_text(answer: str, choices: dict[str, str]) -> str | bool:
    """The single option whose text appears in the answer (case-insensitive), else False."""
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return False
    cands = [k for k, v in choices.items() if str(v).lower() in answer]
    return cands[0] if len(cands) == 1 else False


def vlmeval_infer(prediction, choices: dict[str, str], option_cache: dict | None = None) -> str | None:
    """Exact-matching letter as VLMEvalKit's ``can_infer``; None when nothing is inferred.

    'Z' (refusal) is returned as 'Z': it is never a valid option, so it scores as wrong.
    ``option_cache``: ``can_infer_option`` depends only on the text and the letters offered, so callers
    parsing many rows pass a dict to reuse its results.
    """
    answer = str(prediction)
    if option_cache is None:
        opt = vlmeval_can_infer_option(answer, choices)
    else:
        key = (answer, "".join(choices))
        opt = option_cache.get(key)
        if opt is None:
            opt = option_cache[key] = vlmeval_can_infer_option(answer, choices)
    if not opt:
        opt = vlmeval_can_infer_text(answer, choices)
    return opt or None


def _vlmeval_text(raw) -> str:
    # VLMEvalKit scores str(prediction) of what pandas read, so an empty cell is the text 'nan'.
    return "nan" if _isna(raw) else str(raw)


def parse_letter(kind: str, raw: str | None, options: dict[str, str], score_a=None, score_b=None,
                 tr: float = MEDICONFUSION_TR) -> str | None:
    """The parsed letter of one answer under the benchmark's official rules (None = invalid / not inferred)."""
    if kind == "mediconfusion":
        return mediconfusion_letter(None if _isna(raw) else raw, score_a, score_b, tr)
    return vlmeval_infer(_vlmeval_text(raw), options)


def parse_letters(kind: str, df: pd.DataFrame, options_by_item: pd.Series | None = None, *,
                  tr: float = MEDICONFUSION_TR) -> np.ndarray:
    """Parsed letter (or None) per row of ``df`` (columns item_id, raw, score_a, score_b[, options]).

    ``kind``: 'mediconfusion' (token rules and judge threshold ``tr``) or anything else (VLMEvalKit).
    VLMEvalKit options per row: the row's own ``options`` JSON when the prediction file carried option
    columns (as pandas read them, see ``predictions.vlmevalkit``), else ``options_by_item[item_id]``
    (the benchmark's). Each distinct input is parsed once: real runs repeat answers a lot ("A", "B."), so a
    million predictions cost a few hundred thousand rule calls at most.
    """
    n = len(df)
    out = np.empty(n, dtype=object)
    tr = judge_threshold(tr)
    if n == 0:
        return out
    raw_codes, raw_uniques = pd.factorize(df["raw"], use_na_sentinel=False)
    if kind == "mediconfusion":
        out[:] = np.array([mediconfusion_letter(None if _isna(r) else r, tr=tr) for r in raw_uniques],
                          dtype=object)[raw_codes]
        sa = pd.to_numeric(df["score_a"], errors="coerce").to_numpy(dtype=float)
        sb = pd.to_numeric(df["score_b"], errors="coerce").to_numpy(dtype=float)
        judged = ~np.isnan(sa) & ~np.isnan(sb)
        if judged.any():           # judge scores win; scores are few distinct values, so rule per (A, B)
            codes, uniq = pd.factorize(sa[judged] + 1j * sb[judged])    # (A, B) as one hashable number
            letters = np.array([mediconfusion_letter(None, z.real, z.imag, tr) for z in uniq], dtype=object)
            out[judged] = letters[codes]
        return out
    opts = df["item_id"].map(options_by_item) if options_by_item is not None else pd.Series(None, index=df.index)
    if "options" in df.columns:
        opts = df["options"].where(df["options"].notna(), opts)
    opt_codes, opt_uniques = pd.factorize(opts, use_na_sentinel=False)
    n_opt = max(len(opt_uniques), 1)
    uniq, inverse = np.unique(raw_codes.astype(np.int64) * n_opt + opt_codes, return_inverse=True)
    raws = [_vlmeval_text(r) for r in raw_uniques]
    options = [json.loads(o) if isinstance(o, str) else {} for o in opt_uniques]
    cache: dict = {}
    res = np.empty(len(uniq), dtype=object)
    for j, c in enumerate(uniq.tolist()):
        ri, oi = divmod(c, n_opt)
        res[j] = vlmeval_infer(raws[ri], options[oi], cache)
    out[:] = res[inverse]
    return out


def _isna(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)
