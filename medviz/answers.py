"""Answer-letter parsing: one function per official rule set.

- ``mediconfusion_scores`` / ``mediconfusion_choice`` re-implement ``clean_up_manual`` and ``check_answer``
  from AIF4S/MediConfusion ``utils/answering.py``.
- ``vlmeval_infer`` re-implements VLMEvalKit ``vlmeval/utils/matching_util.py`` (``can_infer_option`` then
  ``can_infer_text``) as used by exact matching (no judge): a prediction that yields neither is wrong.

These are behavioural re-implementations written from reading the official code; tests pin their edge cases.
"""
from __future__ import annotations

import re

INVALID = "-"          # MediConfusion's marker for an answer that picks no letter
MEDICONFUSION_TR = 3   # a letter wins when its score beats the other's by at least this


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
                         score_b: float | None = None) -> str | None:
    """The chosen letter, or None for invalid. Judge scores win over parsing when present."""
    if score_a is None or score_b is None:
        score_a, score_b = mediconfusion_scores(full_answer)
    c = mediconfusion_choice(score_a, score_b)
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


def vlmeval_infer(prediction, choices: dict[str, str]) -> str | None:
    """Exact-matching letter as VLMEvalKit's ``can_infer``; None when nothing is inferred.

    'Z' (refusal) is returned as 'Z': it is never a valid option, so it scores as wrong.
    """
    answer = str(prediction)
    opt = vlmeval_can_infer_option(answer, choices)
    if not opt:
        opt = vlmeval_can_infer_text(answer, choices)
    return opt or None


def parse_letter(kind: str, raw: str | None, options: dict[str, str], score_a=None, score_b=None) -> str | None:
    """The parsed letter under the benchmark's official rules (None = invalid / not inferred)."""
    if kind == "mediconfusion":
        return mediconfusion_letter(raw, score_a, score_b)
    # VLMEvalKit stringifies predictions first, so an empty cell is the text 'nan'.
    return vlmeval_infer("nan" if raw is None else raw, options)
