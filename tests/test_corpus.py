"""A corpus of 26 submissions written as learners write the original micrograd exercise (issue 12):
every question's score is the one a careful instructor gives, reading the code."""

from __future__ import annotations

import pytest

from conftest import question, scores
from corpus.original import SUBMISSIONS, cells
from notebooks import write


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_instructor_verdicts(grade, tmp_path, name):
    gradf, num1, num2, ops, extra, expected, texts = SUBMISSIONS[name]
    result = grade(write(tmp_path / f"{name}_micrograd_exercises.ipynb", cells(gradf, num1, num2, ops, extra)))
    got = scores(result)
    messages = {q.id: q.message for q in result.questions}
    if expected is None:  # a wrong Value operation: partial credit on q4 only
        assert 0 < got["q4_softmax_nll"] < 3.0, messages
        expected = {"q1_gradf": 3.0, "q2_forward_diff": 2.0, "q3_symmetric_diff": 2.0,
                    "q4_softmax_nll": got["q4_softmax_nll"]}
    assert got == pytest.approx(expected), messages
    for qid, text in texts.items():
        assert text in question(result, qid).message, messages[qid]
