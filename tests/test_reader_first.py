"""The answer comes first: the introduction's answer and each chapter's first screen stay short.

What is counted, in the sources (the book renders them one to one):

- The introduction's answer is the body of its ```{admonition} The answer``` block (book/intro.md),
  at most 150 words and 6 numbers.
- A chapter's first screen is its Markdown before its first code cell, less its title line
  ("# 4. Where does the claim hold? A map"): its question and its answer, at most 80 words and
  3 numbers. The plan and the cost come after the first code cell.
- Words: the whitespace-separated tokens with a letter or a digit in them, once markup is reduced to
  what the reader sees: a glue role ({glue:text}`name`) is one word, a {doc}/{ref}/{func} role or a
  link is its text, and backticks, emphasis marks and $ are dropped.
- Numbers: every glue role counts as one (a value the build fills in, whatever it holds), and so does
  every number written in digits, with its sign, decimals and unit ("0.9", "95%", "r = 10", "1,044";
  "4 x 4" is two). Digits inside a name ("fc2.bias", "conv1") and chapter references ("chapter 4",
  "chapters 3 to 7") are not numbers.
"""

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(path for path in BOOK.glob("*.ipynb") if path.name[:2].isdigit())
ANSWER_WORDS, ANSWER_NUMBERS = 150, 6
SCREEN_WORDS, SCREEN_NUMBERS = 80, 3

GLUE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
ROLE = re.compile(r"\{\w+(?::\w+)?\}`(?:~?)([^`<]*?)\s*(?:<[^>]*>)?`")  # {doc}`chapter 4 <04_regimes>`
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
CHAPTER_REFERENCE = re.compile(r"\b[Cc]hapters?\s+\d+(?:\s*(?:,|and|to|-|–)\s*\d+)*")
NUMBER = re.compile(r"(?<![\w.])[-−+]?\d+(?:[.,]\d+)*")
ANSWER_BLOCK = re.compile(r"^```\{admonition\} The answer\n(.*?)^```$", re.S | re.M)


def visible(markdown: str) -> str:
    """What a reader sees of ``markdown``, glue roles replaced by the placeholder 'GLUED'."""
    text = GLUE.sub(" GLUED ", markdown)
    text = ROLE.sub(r"\1", text)
    text = LINK.sub(r"\1", text)
    text = re.sub(r"^:\w+:.*$", "", text, flags=re.M)  # a directive's options
    return re.sub(r"[`*_$]", " ", text)


def counts(markdown: str) -> tuple[int, int]:
    """(words, numbers) of ``markdown`` by the rule in this module's docstring."""
    text = visible(markdown)
    words = sum(1 for token in text.split() if re.search(r"\w", token))
    numbers = text.count("GLUED") + len(NUMBER.findall(CHAPTER_REFERENCE.sub(" ", text)))
    return words, numbers


def too_long(markdown: str, max_words: int, max_numbers: int) -> list[str]:
    """What makes ``markdown`` longer than the limits allow (empty: within them)."""
    words, numbers = counts(markdown)
    return ([f"{words} words (at most {max_words})"] * (words > max_words)
            + [f"{numbers} numbers (at most {max_numbers})"] * (numbers > max_numbers))


def intro_answer(text: str) -> str:
    found = ANSWER_BLOCK.search(text)
    assert found, "book/intro.md has no ```{admonition} The answer``` block"
    return found.group(1)


def first_screen(path: Path) -> str:
    """A chapter's Markdown before its first code cell, without its title line."""
    cells = json.loads(path.read_text())["cells"]
    screen = []
    for cell in cells:
        if cell["cell_type"] == "code":
            break
        screen.append("".join(cell["source"]))
    return re.sub(r"^# .*$", "", "\n".join(screen), count=1, flags=re.M)


def test_the_rule_counts_glued_values_and_digits_with_their_units_but_not_names():
    words, numbers = counts("In {glue:text}`present_count` of {glue:text}`04_regimes.ipynb::num_settings:d` "
                            "settings fc2.bias leads.")
    assert (words, numbers) == (7, 2)
    assert counts("A 4 x 4 trigger poisons 95% of samples at r = 10, ROC-AUC 0.99 [0.94, 1.00].")[1] == 7
    assert counts("As {doc}`chapter 4 <04_regimes>` and chapters 3 to 7 show, conv1 and fc2.bias differ.") == (
        13, 0)
    assert counts("**Answer:** `fc2.bias` carries *1,044* roles.") == (5, 1)


def test_a_bloated_text_is_too_long():
    assert too_long("The answer is short.", 80, 3) == []
    bloated = " ".join(["word"] * 81)
    assert too_long(bloated, 80, 3) == ["81 words (at most 80)"]
    assert too_long("In 4 of 18 settings, 7 of 18 by the median, 0 of 18 settled.", 80, 3) == [
        "6 numbers (at most 3)"]
    assert too_long(bloated + " {glue:text}`a` {glue:text}`b` {glue:text}`c` {glue:text}`d`", 80, 3) == [
        "85 words (at most 80)", "4 numbers (at most 3)"]


def test_the_answer_block_is_found_and_a_page_without_one_is_refused():
    page = "# Title\n\nThe question?\n\n```{admonition} The answer\n:class: tip\nIt depends.\n```\n\n## More\n"
    assert intro_answer(page) == ":class: tip\nIt depends.\n" and counts(intro_answer(page)) == (2, 0)
    with pytest.raises(AssertionError, match="no ```{admonition} The answer``` block"):
        intro_answer("# Title\n\n**The answer** in bold, as a paragraph.\n")


def test_the_intros_answer_comes_first_and_is_short():
    text = (BOOK / "intro.md").read_text()
    answer = intro_answer(text)
    assert not too_long(answer, ANSWER_WORDS, ANSWER_NUMBERS), too_long(answer, ANSWER_WORDS, ANSWER_NUMBERS)
    before = text[:text.index("```{admonition} The answer")]
    assert not re.search(r"^## ", before, flags=re.M), "a section comes before the answer"
    assert counts(before)[0] <= 60, "the answer should open the page: at most a title and the question before it"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_each_chapters_first_screen_states_its_question_and_answer_briefly(path):
    screen = first_screen(path)
    assert not too_long(screen, SCREEN_WORDS, SCREEN_NUMBERS), too_long(screen, SCREEN_WORDS, SCREEN_NUMBERS)
    assert "?" in screen, "the first screen asks the chapter's question"
    assert "**Answer" in screen, "the first screen gives the chapter's answer ('**Answer ...**')"
    assert "run_seconds" not in screen, "the cost comes after the first screen"


VERDICT_SENTENCE_WORDS = 40
SENTENCE_END = re.compile(r"(?<=[.!?])[*_]*\s+(?=[*_(]*[A-Z{])")  # "0.9", "fc2.bias", "e.g. the" do not end one


def section(path: Path, title: str) -> str:
    """The Markdown of a chapter's section ``## title`` (up to the next ``## ``)."""
    text = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                     if cell["cell_type"] == "markdown")
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert found, f"{path.name} has no '## {title}' section"
    return found.group(1)


def long_sentences(markdown: str, max_words: int = VERDICT_SENTENCE_WORDS) -> list[str]:
    """The sentences of ``markdown``'s prose (not its tables) longer than ``max_words``; a glued text counts as
    one word here, the built page's check (book/_ext/rendered_text.py) counts its words."""
    prose = "\n".join(line for line in markdown.splitlines() if not line.lstrip().startswith("|"))
    long = []
    for paragraph in re.split(r"\n\s*\n", prose):
        for sentence in SENTENCE_END.split(" ".join(paragraph.split())):
            if counts(sentence)[0] > max_words:
                long.append(f"{counts(sentence)[0]} words: {sentence[:80]}...")
    return long


def test_the_sentence_rule_splits_at_sentence_ends_only():
    assert long_sentences("ROC-AUC 0.99 for fc2.bias, e.g. here. Then " + "word " * 39) == []
    assert len(long_sentences("Short one. " + "word " * 41 + "end.")) == 1
    assert long_sentences("| " + "cell | " * 50 + "\n") == [], "a table is not a sentence"
    assert len(long_sentences("**Verdict.** " + " ".join(["{glue:text}`x`"] * 41))) == 1


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_each_chapters_answer_and_summary_read_in_short_sentences(path):
    for text in (first_screen(path), section(path, "Summary")):
        assert not long_sentences(text), long_sentences(text)
