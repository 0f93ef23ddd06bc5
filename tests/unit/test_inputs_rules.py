"""The pure input rules (legato.domain.inputs): ids, numbers, strict JSON, and the depth of
encoded JSON measured on its text."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legato.domain import inputs
from legato.errors import InvalidInput

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                                                                 allow_infinity=False),
              st.text(st.sampled_from('ab[]{}"\\\n\u00e9:,'), max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(st.sampled_from('k[]{}"\\'), max_size=4),
                                            inner, max_size=4)),
    max_leaves=40,
)


def _depth(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(_json)
def test_depth_of_the_encoded_text_is_the_depth_of_the_value(value: Any) -> None:
    assert inputs.depth(inputs.encode(value)) == _depth(value)


@pytest.mark.parametrize("levels", [1, 2, 7, 8, 9, 30, 499, 500, 501, 700])
def test_depth_of_deep_values(levels: int) -> None:
    value: Any = "x"
    for i in range(levels):  # one level each, with strings full of brackets beside
        value = [value, {"s": "]]}}\\\"[[", "n": i}] if i % 2 else {"k": value}
    assert inputs.depth(json.dumps(value, separators=(",", ":"))) == levels


def test_text_rules() -> None:
    assert inputs.text("order-1 ünïcode", "workflow_id") == "order-1 ünïcode"
    for bad, why in [("", "must not be empty"), ("x" * 256, "256 characters"),
                     ("a\x00", "NUL at position 1"), ("a\tb", r"U\+0009"),
                     ("\x9b", r"U\+009B"), ("\ud800", "lone surrogate"),
                     (3, "must be a string, not int"), (None, "not NoneType")]:
        with pytest.raises(InvalidInput, match=why):
            inputs.text(bad, "workflow_id")
    assert inputs.key(42) == "42"
    with pytest.raises(InvalidInput):
        inputs.key(True)
    assert inputs.ref("x" * 1000, "workflow_id") == "x" * 1000  # derived ids may be long
    with pytest.raises(InvalidInput, match="NUL"):
        inputs.ref("x" * 1000 + "\x00", "workflow_id")


def test_number_rules() -> None:
    assert inputs.priority(-(2**31)) == -(2**31)
    assert inputs.seconds(timedelta(minutes=1), "ttl") == 60.0
    assert inputs.seconds(0, "x", allow_zero=True) == 0.0
    for bad in (math.nan, math.inf, -1, 0, "1", True, 10**400, timedelta(days=-1),
                timedelta(days=40000)):
        with pytest.raises(InvalidInput, match="ttl"):
            inputs.seconds(bad, "ttl")
    for bad in (True, 1.0, "1", 2**31, -(2**31) - 1):
        with pytest.raises(InvalidInput, match="priority"):
            inputs.priority(bad)


def test_strict_json() -> None:
    assert inputs.encode({"a": [1, 2.5, "é", None, True]}) == '{"a":[1,2.5,"é",null,true]}'
    assert inputs.encode((1, 2)) == "[1,2]"
    for bad, why in [(math.nan, "NaN"), ({1}, "set"), (b"x", "binary"), ("\udc00", "surrogate"),
                     ({(1, 2): 3}, "keys must be"), (object(), "object is not JSON")]:
        with pytest.raises(InvalidInput, match=why):
            inputs.encode(bad, "value")
    with pytest.raises(InvalidInput, match="at most 10 are allowed"):
        inputs.encode("x" * 20, "value", limit=10)
    assert inputs.clean("ok \ud800") == "ok \ufffd"
