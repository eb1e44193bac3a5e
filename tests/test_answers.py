"""Answer parsing under each official rule set: the edge cases that decide a score."""
import pytest

from medviz import answers

ABCD = {"A": "Lung", "B": "Liver", "C": "Heart", "D": "Kidney"}


@pytest.mark.parametrize("text,expected", [
    ("A", "A"), ("A.", "A"), ("A:", "A"), (".A", "A"), (".A:", "A"), ('A")', "A"), ('("A":', "A"),
    ('("A")', "A"), ('("A").', "A"), ("B", "B"), ("The answer is B.", "B"),
    ("B\nbecause the vessel is occluded", "B"),       # newline becomes a space first
    ("(A)", None),                                     # not an accepted form
    ("A and B", None),                                 # both letters -> both scores 0 -> invalid
    ("Answer:A", None), ("a", None), ("", None), (None, None), ("I am not sure.", None),
])
def test_mediconfusion_parsing(text, expected):
    assert answers.mediconfusion_letter(text) == expected


def test_mediconfusion_judge_scores_need_margin_of_three():
    assert answers.mediconfusion_letter("ignored", 8, 5) == "A"
    assert answers.mediconfusion_letter("A", 7, 5) is None       # judge scores win over the text
    assert answers.mediconfusion_letter(None, 2, 10) == "B"
    assert answers.mediconfusion_letter("B", 5, 5) is None


@pytest.mark.parametrize("text,expected", [
    ("A", "A"), ("(C)", "C"), ("I think D", "D"), ("Option: B.", "B"),
    ("A and B", None),                                   # two letters, not a declaration -> no inference
    ("Cannot determine the answer", "Z"),                # rejection phrase
    ("Sorry, I can't help with images of people yet.", "Z"),
    ("Z", "Z"),
    ("lung", "A"),                                       # option-text inference
    ("It is the heart or the lung", None),               # two option texts
    # the letter is far from the end, so only the "answer is X" rule finds it
    ("The correct answer is B because the lesion clearly lies within the hepatic parenchyma as seen", "B"),
    ("The answer is **C** given the cardiac silhouette and the enlarged chambers we observe here", "C"),
    ("Failed to obtain answer via API", None),
])
def test_vlmeval_infer(text, expected):
    assert answers.vlmeval_infer(text, dict(ABCD)) == expected


def test_vlmeval_letter_far_from_end_without_declaration_is_not_inferred():
    text = "B seems plausible but we should consider the full clinical picture before deciding anything"
    assert answers.vlmeval_infer(text, dict(ABCD)) is None


def test_vlmeval_answer_is_rule_only_covers_a_to_d():
    opts = dict(ABCD, E="Spleen")
    text = "The answer is E since the organ shown in the left upper quadrant matches that description well"
    assert answers.vlmeval_infer(text, opts) is None


def test_vlmeval_text_inference_has_length_guard():
    long = "lung " * 40
    assert answers.vlmeval_can_infer_text(long, dict(ABCD)) is False
    assert answers.vlmeval_can_infer_text("the lung", dict(ABCD)) == "A"


def test_empty_prediction_is_scored_as_the_text_nan():
    # VLMEvalKit stringifies NaN predictions: 'nan' contains no option -> not inferred
    assert answers.parse_letter("gmai", None, dict(ABCD)) is None
    assert answers.parse_letter("gmai", None, {"A": "nan", "B": "x"}) == "A"


# --- one parser: the frame form and the one-answer form are the same rules ------------------------------

def test_parse_letters_equals_parse_letter_row_by_row():
    import json
    import random

    import pandas as pd
    rng = random.Random(3)
    texts = ["A", "B.", "(C)", "lung", "heart or lung", "The answer is D", "Z", "", None, float("nan"), "A and B",
             "Cannot determine the answer", "7", "7.0", ".A:", 'B")', "I think D"]
    option_sets = [dict(ABCD), {"A": "7.0", "B": "3"}, {"A": "nan", "B": "x"}]
    rows = []
    for i in range(3000):
        judged = rng.random() < 0.3
        rows.append({"item_id": f"i{i % 40}", "raw": rng.choice(texts),
                     "score_a": rng.randint(0, 10) if judged else None, "score_b": rng.randint(0, 10) if judged else None,
                     "options": json.dumps(rng.choice(option_sets)) if rng.random() < 0.5 else None})
    df = pd.DataFrame(rows)
    bench = pd.Series({f"i{k}": json.dumps(option_sets[k % 3]) for k in range(40)})
    for tr in (2, 3):
        got = answers.parse_letters("mediconfusion", df, tr=tr)
        want = [answers.parse_letter("mediconfusion", r.raw, {}, r.score_a, r.score_b, tr=tr) for r in df.itertuples()]
        assert list(got) == want
    got = answers.parse_letters("vlmeval", df, bench)
    want = [answers.parse_letter("gmai", r.raw, json.loads(r.options if isinstance(r.options, str) else bench[r.item_id]))
            for r in df.itertuples()]
    assert list(got) == want


def test_judge_threshold_margin_is_the_official_tr():
    assert answers.mediconfusion_letter("x", 7, 5) is None              # margin 2 < 3
    assert answers.mediconfusion_letter("x", 7, 5, tr=2) == "A"
    assert answers.mediconfusion_letter("x", 5, 4, tr=1) == "A"
    assert answers.mediconfusion_letter("B", tr=10) == "B"              # a parsed letter scores 10 vs 0
    for bad in (0, -1, 10.5, float("nan"), "x"):
        with pytest.raises(answers.MedvizError, match="judge threshold"):
            answers.parse_letters("mediconfusion", __import__("pandas").DataFrame(
                {"item_id": [], "raw": [], "score_a": [], "score_b": []}), tr=bad)


def test_parsing_has_one_home():
    """Scoring and file scoring do not go through ingest; ingest holds no parser of its own."""
    import subprocess
    import sys
    code = ("import sys, medviz.scoring, medviz.evaluate, medviz.answers; "
            "assert 'medviz.ingest' not in sys.modules, 'scoring imports ingest'; "
            "import medviz.ingest as i; assert not hasattr(i, 'parse_letters')")
    subprocess.run([sys.executable, "-c", code], check=True)
