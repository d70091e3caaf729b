"""The grader's side of the trust boundary: only one nonce-tagged, well-formed, plain result counts."""

from __future__ import annotations

import math

import pytest

from grader.execution.probes import ObsStatus, ProbeRequest, Unusable, as_vector, parse_result, probes_code

NONCE = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("payloads,status", [
    ([NONCE + '{"status": "ok", "value": [1.5, 2, -3e-7]}'], ObsStatus.OK),
    ([], ObsStatus.NO_REPLY),
    (['{"status": "ok", "value": [1, 2, 3]}'], ObsStatus.NO_REPLY),                 # untagged
    (["f" * 32 + '{"status": "ok", "value": [1, 2, 3]}'], ObsStatus.NO_REPLY),      # another nonce
    ([NONCE + '{"status": "ok", "value": [1]}'] * 2, ObsStatus.NO_REPLY),          # two results
    ([NONCE + '{"status": "ok", "value": [1, 2'], ObsStatus.NO_REPLY),              # not JSON
    ([NONCE + '["status", "ok"]'], ObsStatus.NO_REPLY),                             # not a mapping
    ([{"status": "ok"}], ObsStatus.NO_REPLY),                                        # not a string
    ([NONCE + '{"status": "passed"}'], ObsStatus.NO_REPLY),                         # unknown status
    ([NONCE + '{"status": "missing", "name": "gradf"}'], ObsStatus.MISSING),
    ([NONCE + '{"status": "raised", "detail": "ValueError: x", "node": 3}'], ObsStatus.RAISED),
])
def test_parse_result(payloads, status):
    assert parse_result(NONCE, payloads).status is status


def test_non_finite_numbers_cross_but_never_pass():
    obs = parse_result(NONCE, [NONCE + '{"status": "ok", "value": [NaN, Infinity, 1.0]}'])
    values = as_vector(obs.value, 3, "gradf(...)")
    assert math.isnan(values[0]) and math.isinf(values[1])


@pytest.mark.parametrize("value,message", [
    ([1.0, 2.0], "has 2 entries, expected 3"),
    ([1.0, True, 3.0], r"gradf\(...\)\[1\] is not a number"),
    ([1.0, "2", 3.0], "is not a number"),
    ({"a": 1}, "is not a list of numbers"),
])
def test_unusable_values(value, message):
    with pytest.raises(Unusable, match=message):
        as_vector(value, 3, "gradf(...)")


def test_probe_code_is_built_from_data_only():
    calls = [(NONCE, ProbeRequest("call", ("gradf", [2.0, 3.0, 4.0]))),
             ("N2", ProbeRequest("value", ("x",)))]
    code = probes_code("_grader_abc", calls)
    assert code == ("__import__('sys').modules['_grader_abc'].probe_all([['" + NONCE +
                    "', 'call', ['gradf', [2.0, 3.0, 4.0]]], ['N2', 'value', ['x']]])")
    with pytest.raises(TypeError):
        probes_code("_grader_abc", [(NONCE, ProbeRequest("call", ("gradf", [object()])))])
    with pytest.raises(ValueError):
        probes_code("_grader_abc", [(NONCE, ProbeRequest("call", ("gradf", [float("nan")])))])
