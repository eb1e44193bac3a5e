"""The Review page's single-element HTML blocks (``slot_details.details_html``, ``encoder_panel``'s heading and
explanation): everything the separate Streamlit elements showed is still there, and text from files and models
stays text (no element, link or image reaches the page). Synthetic data."""
from __future__ import annotations

import re
from types import SimpleNamespace

from medviz.readmodels.review import Answer, Slot, UnitView
from medviz.ui import encoder_panel, slot_details

EVIL = "<img src=x onerror=alert(1)><a href='https://evil.example'>link</a>"


def _slot(n: int, answer: str | None, answers: list[Answer]) -> Slot:
    return Slot(item_id=f"it-{n}", slot=n, question="q?", options={"A": f"No {EVIL}", "B": "Yes & more"},
                answer=answer, image_path=None, image_ref=None, image_ok=False, is_dicom=False,
                modality="CT", categories=[f"cat {EVIL}"], department="dept<b>x</b>", answers=answers)


def _uv() -> UnitView:
    a1 = [Answer(model=f"model {EVIL}", raw=f"I think {EVIL}\nB", parsed="B", correct=False, synthetic=True),
          Answer(model="model-ok", raw="A", parsed="A", correct=True, synthetic=False)]
    return UnitView(benchmark_id="b", unit_id="u1", is_pair=True,
                    slots=[_slot(1, "A", a1), _slot(2, None, [])], biomedclip_sim=0.912, dino_sim=None)


def _no_markup_from_data(html: str) -> None:
    assert not re.search(r"<(img|a|script|iframe)\b", html, flags=re.I), html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_slot_details_show_options_key_and_every_answer_as_text():
    html = slot_details.details_html(_uv())
    _no_markup_from_data(html)
    assert html.count("data-testid='mv-slot'") == 2                 # one column per image
    assert "<b>Correct: A</b>" in html and "Correct answer withheld" in html
    assert "Yes &amp; more" in html and "dept&lt;b&gt;x&lt;/b&gt;" in html
    assert "model-ok" in html and html.count("class='mv-ans mv-wrong'") == 1 and "mv-ans mv-right" in html
    assert "No predictions from the selected models." in html       # slot 2 has none
    assert "mv-syn'>synthetic" in html
    assert "Image details" not in html                             # no displayable image: no details block
    assert html.count("<hr class='mv-hr'>") == 1


def test_encoder_panel_html_keeps_every_number_and_escapes_names():
    head = encoder_panel.head_html(_uv())
    assert "Could the encoder tell the images apart?" in head
    assert "BiomedCLIP_sim (benchmark)" in head and "0.912" in head and "DINO_sim (benchmark)" in head
    ex = SimpleNamespace(
        encoder_label=f"enc {EVIL}", encoder_id="pixels", encoder_kind="weight-free", weights_digest="sha256:ab",
        encoder_cosine=0.5, encoder_reason=f"why {EVIL}", visual=SimpleNamespace(ssim=0.25, hist_distance=0.125),
        visual_reason=None, quadrant="encoder-blind, looks different", quadrant_basis="pixels cosine",
        thresholds=SimpleNamespace(encoder_similar=0.9, visually_different=0.5),
        options=[SimpleNamespace(choice=f"A {EVIL}", correct="A"), SimpleNamespace(choice="A", correct="A")],
        encoder_blind=True, options_reason=None)
    html = encoder_panel.explanation_html(ex)
    _no_markup_from_data(html)
    for text in ("Encoder cosine", "0.500", "SSIM (looks alike)", "0.250", "Histogram distance", "0.125",
                 "mv-alert-warning", "Quadrant:", "similar ≥ 0.90, different if SSIM &lt; 0.50",
                 "Option alignment (zero-shot)", "Image 2: encoder picks <b>A</b> ✓", "Encoder-blind:",
                 "<code>pixels</code>", "sha256:ab"):
        assert text in html, text
    tip = re.search(r"title='([^']*)'", html).group(1)             # the metric's help, as a tooltip
    assert tip.startswith("why &lt;img")
