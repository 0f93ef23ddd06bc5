"""Choice rules: every comparison operator, its ``...Path`` form, And/Or/Not and ``Is*``."""

from __future__ import annotations

import re
from typing import Any

from legato.asl import errors
from legato.asl import model as m
from legato.asl.evaluate import Frame, runtime
from legato.asl.jsonpath import PathNotFound
from legato.asl.timeutil import parse_timestamp

_ABSENT = object()


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _matches_pattern(value: str, pattern: str) -> bool:
    regex = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(regex), value, flags=re.S) is not None


def compare(op: str, value: Any, operand: Any) -> bool:
    """``value`` (the Variable) against ``operand``; a type mismatch is simply false."""
    if op.startswith("String"):
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        if op == "StringMatches":
            return _matches_pattern(value, operand)
        return _order(op[len("String"):], value, operand)
    if op.startswith("Numeric"):
        if not _num(value) or not _num(operand):
            return False
        return _order(op[len("Numeric"):], value, operand)
    if op == "BooleanEquals":
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    if op.startswith("Timestamp"):
        a, b = parse_timestamp(value), parse_timestamp(operand)
        if a is None or b is None:
            return False
        return _order(op[len("Timestamp"):], a, b)
    raise AssertionError(op)


def _order(kind: str, a: Any, b: Any) -> bool:
    if kind == "Equals":
        return bool(a == b)
    if kind == "LessThan":
        return bool(a < b)
    if kind == "GreaterThan":
        return bool(a > b)
    if kind == "LessThanEquals":
        return bool(a <= b)
    if kind == "GreaterThanEquals":
        return bool(a >= b)
    raise AssertionError(kind)


def _test(op: str, value: Any) -> bool:
    if value is _ABSENT:
        return False
    if op == "IsPresent":
        return True
    if op == "IsNull":
        return value is None
    if op == "IsNumeric":
        return _num(value)
    if op == "IsString":
        return isinstance(value, str)
    if op == "IsBoolean":
        return isinstance(value, bool)
    if op == "IsTimestamp":
        return parse_timestamp(value) is not None
    raise AssertionError(op)


def evaluate(rule: m.Rule, frame: Frame, data: Any) -> bool:
    if isinstance(rule, m.Composite):
        if rule.kind == "Not":
            return not evaluate(rule.rules[0], frame, data)
        if rule.kind == "And":
            return all(evaluate(r, frame, data) for r in rule.rules)
        return any(evaluate(r, frame, data) for r in rule.rules)
    if isinstance(rule, m.Condition):
        value = frame.node(rule.node, data)
        if not isinstance(value, bool):
            text = rule.node.expression if isinstance(rule.node, m.TJsonata) else str(value)
            raise errors.StatesFailure(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{text}' specified for the field 'Condition' returned "
                f"an unexpected result type. Expected 'boolean', but was "
                f"'{_type_name(value)}' for value: {value!r}",
                event="EvaluationFailed", locate=True)
        return bool(value)
    try:
        value = frame.lookup(rule.variable, data)
    except PathNotFound as exc:
        if rule.operator.startswith("Is"):
            value = _ABSENT
        else:
            raise runtime(f"Invalid path '{rule.variable.text}' : {exc}") from None
    if rule.operator.startswith("Is"):
        return _test(rule.operator, value) is bool(rule.operand)
    if rule.operand_path is not None:
        try:
            operand = frame.lookup(rule.operand_path, data)
        except PathNotFound as exc:
            raise runtime(f"Invalid path '{rule.operand_path.text}' : {exc}") from None
    else:
        operand = rule.operand
    return compare(rule.operator, value, operand)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _num(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
