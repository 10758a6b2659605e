"""What a chapter's built page shows is checked when the build finishes (book/_ext/rendered_text.py)."""

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import rendered_text  # noqa: E402

PAGE = """<html><body><nav>nan in the navigation is not the page's</nav><article>
<p>The attacker's bias moved by {text}.</p>
<div class="cell docutils container"><div class="cell_input"><pre>x = float("nan")  # -0.0</pre></div>
<div class="cell_output"><table><tr><td>{cell}</td></tr></table></div></div>
<script>var inf = -0.0;</script></article></body></html>"""


@pytest.mark.parametrize("text, cell, why", [
    ("0.31", "nan", "a missing value"),
    ("0.31", "&lt;NA&gt;", "a missing value"),
    ("0.31", "NaN", "a missing value"),
    ("0.31", "-inf", "an infinite value"),
    ("(-0.0000)", "0.2", "a negative zero"),
    ("0.31", "-0.0", "a negative zero"),
    ("1 round(s)", "0.2", "a generated plural"),
])
def test_a_page_showing_what_a_reader_cannot_use_is_reported(text, cell, why):
    found = rendered_text.problems(rendered_text.visible_text(PAGE.format(text=text, cell=cell)))
    assert len(found) == 1 and found[0].startswith(why), found


@pytest.mark.parametrize("text", ["-0.05 and -0.001", "0.0 and 10-0 and conv2.weight", "Fernando, finance, info",
                                  "the nano-scale", "-1.0 and 2026-01-03", r"\(\infty\)", "rounds 0..10"])
def test_numbers_and_words_that_merely_look_alike_pass(text):
    assert rendered_text.problems(rendered_text.visible_text(PAGE.format(text=text, cell="0.2"))) == []


def test_code_inputs_scripts_and_the_navigation_are_not_the_text():
    text = rendered_text.visible_text(PAGE.format(text="1.5", cell="0.2"))
    assert "float" not in text and "var" not in text and "navigation" not in text and "1.5" in text


def test_the_book_runs_the_check():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "rendered_text" in config["sphinx"]["local_extensions"]


CHAPTER = """<html><body><article><section id="title"><h1>3. Where is the anomaly?</h1>
<p>Does the attacker's update stand out in the output bias? {answer}</p>
<div class="cell docutils container"><div class="cell_output"><p>{output}</p></div></div>
<section id="summary"><h2>Summary</h2><p>{verdict}</p>
<table><tr><td>{table}</td></tr></table><ul><li><p>{item}</p></li></ul></section></section></article></body></html>"""
LONG = "The attacker " + " ".join(["moves"] * 39) + " far."  # 42 words
SHORT = "The attacker's bias moves furthest, by 0.31 [0.2, 0.4] in fc2.bias, e.g. in round 3."


def chapter(**parts):
    return CHAPTER.format(**{"answer": SHORT, "output": SHORT, "verdict": SHORT, "table": SHORT, "item": SHORT,
                             **parts})


def test_short_sentences_pass_and_a_decimal_or_a_tensor_name_ends_none():
    assert [b for block in rendered_text.answer_and_verdict(chapter())
            for b in rendered_text.long_sentences(block)] == []
    assert rendered_text.long_sentences(f"{SHORT} {SHORT} {SHORT}") == []
    assert rendered_text.long_sentences(SHORT.replace(". ", " ") * 3)  # one run-on sentence of 45 words


@pytest.mark.parametrize("part, reported", [("answer", True), ("verdict", True), ("item", True),
                                            ("output", False), ("table", False)])
def test_a_long_sentence_in_the_answer_or_the_verdict_is_reported_elsewhere_not(part, reported):
    found = [p for block in rendered_text.answer_and_verdict(chapter(**{part: LONG}))
             for p in rendered_text.long_sentences(block)]
    assert bool(found) == reported, found
    if reported:
        assert found[0].startswith("a sentence of 42 words (at most 40): The attacker moves")
