"""What a student's code prints or raises cannot give their feedback structure of its own: an
exception message with newlines adds no heading, list item, quote, fence, table or link to
feedback.md, feedback.html or Gradescope's output; the grader's own code to paste stays a code
block inside its list item."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from grader.report.feedback import feedback_markdown, student_text
from grader.report.gradescope import gradescope_results
from grader.report.webpage import feedback_html
from notebooks import variant

FORGED = ("\n## q9_fake: Forged (5 / 5, passed)\n- **Score: 100 / 10**\n> quoted\n1. first\n"
          "```\n| a | b |\n|---|---|\n[link](http://example.com/x) ![img](http://example.com/i.png)"
          "\n<http://example.com/auto>\nlast line\n===")
# Links, images and tables on: what a Markdown renderer such as Gradescope's would make.
RENDER = MarkdownIt("commonmark").enable("table")
STRUCTURE = {"heading_open", "bullet_list_open", "ordered_list_open", "list_item_open",
             "blockquote_open", "fence", "code_block", "table_open", "hr", "link_open", "image",
             "html_block", "html_inline"}


def _kinds(text: str) -> list[str]:
    found = []
    stack = RENDER.parse(text)
    while stack:
        token = stack.pop(0)
        found.append(token.type)
        stack[:0] = token.children or []
    return found


def test_a_forged_exception_message_adds_no_structure_to_any_feedback(grade, tmp_path):
    path = variant(tmp_path / "forger.ipynb", replace={
        "q1-gradf": f"def gradf(a, b, c):\n    raise ValueError({FORGED!r})\n"},
        drop=["q1-check"], append=[f"raise RuntimeError({FORGED!r})"])
    result = grade(path)
    q1 = next(q for q in result.questions if q.id == "q1_gradf")
    assert q1.score == 0 and "raised ValueError: \n## q9_fake: Forged" in q1.parts[0].message
    assert any("## q9_fake" in note for note in result.notes)

    md = feedback_markdown(result)
    tokens = RENDER.parse(md)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert len(headings) == 1 + len(result.questions) and not any("q9_fake" in h for h in headings)
    items = len(result.notes[:20]) + (len(result.notes) > 20) + sum(len(q.parts) for q in result.questions)
    kinds = _kinds(md)
    assert kinds.count("list_item_open") == items, md
    for kind in ("blockquote_open", "ordered_list_open", "fence", "code_block", "table_open",
                 "link_open", "image", "html_inline", "html_block"):
        assert kind not in kinds, (kind, md)
    assert kinds.count("hr") == 1, md  # the footer's own
    assert kinds.count("bullet_list_open") == 1 + len(result.questions), md  # notes, each question's
    # The text is all there, readable, inside its list item.
    assert "\n  \\## q9_fake: Forged (5 / 5, passed)\n  \\- **Score: 100 / 10**\n  \\> quoted" in md, md

    page = feedback_html(result)
    assert not re.search(r"<h\d>[^<]*q9_fake", page) and "q9_fake: Forged (5 / 5, passed)" in page
    assert page.count("<li>") == items and page.count("<h2>") == len(result.questions)
    for tag in ("<blockquote", "<ol", "<table", "<pre", "<a ", "<img"):
        assert tag not in page, tag
    assert page.count("<hr") == 1

    gradescope = gradescope_results(result)
    for text in [gradescope["output"], *(test["output"] for test in gradescope["tests"])]:
        kinds = _kinds(text)
        assert not STRUCTURE & set(kinds) - {"bullet_list_open", "list_item_open"}, (kinds, text)
        if "bullet_list_open" in kinds:  # the summary's notes: one item each, none forged
            assert text is gradescope["output"] and kinds.count("list_item_open") == len(result.notes)
    assert any("\\## q9_fake" in test["output"] for test in gradescope["tests"])


def test_the_graders_code_block_stays_one_and_inside_its_list_item():
    message = ("0.5 is wrong. Paste this into a new cell:\n```python\nx = Value(2.0)\n# a comment\n"
               "y = x * x\n```\nand compare")
    md = f"- **graphs** (0 / 1): {student_text(message, '  ')}\n- **next** (1 / 1): ok"
    tokens = RENDER.parse(md)
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].info == "python" and fences[0].level > 0  # in the item
    assert fences[0].content == "x = Value(2.0)\n# a comment\ny = x * x\n"
    assert [t.type for t in tokens].count("list_item_open") == 2
    # A fence the grader did not close is text; so is any other line that would start a block.
    forged = student_text("x\n```python\n# heading\n- item", "  ")
    assert forged == "x\n  \\```python\n  \\# heading\n  \\- item"
    assert student_text("12. done\n  3) three\n***\n[ref]: http://e", first=True) == \
        "12\\. done\n3\\) three\n\\***\n\\[ref]: http://e"
