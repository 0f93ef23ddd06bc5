"""Read ASL (JSON or YAML) into the :mod:`legato.asl.model`, reporting every problem at once.

Each problem names its place as a dotted path (``States.Check.Choices[0].Next``) and, where a
name was mistyped, the likely intended one. Nothing but :class:`DefinitionError` escapes.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import yaml

from legato.asl import model as m
from legato.asl.errors import ALL, DefinitionError, Problem
from legato.asl.intrinsics import IntrinsicSyntaxError, compile_call, looks_like_call
from legato.asl.jsonata_bridge import JsonataSyntaxError, check, strip
from legato.asl.jsonpath import JsonPath, PathSyntaxError, compile_path, is_reference_path
from legato.asl.limits import (
    MAX_NESTING,
    TOO_NESTED,
    YamlRefused,
    abbreviate,
    deep_json_problem,
    expression_problem,
    load_yaml,
    shape_problem,
)
from legato.asl.timeutil import parse_timestamp

STATE_TYPES = ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")

_IO = {"InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_FIELDS: dict[str, set[str]] = {
    "Pass": _IO | _FLOW | {"Parameters", "Result", "ResultPath", "Assign", "Output"},
    "Task": _IO | _FLOW | {"Parameters", "Arguments", "ResultSelector", "ResultPath", "Retry",
                           "Catch", "Resource", "TimeoutSeconds", "TimeoutSecondsPath",
                           "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign",
                           "Output"},
    "Choice": _IO | {"Choices", "Default", "Assign", "Output"},
    "Wait": _IO | _FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign",
                           "Output"},
    "Succeed": _IO | {"Output"},
    "Fail": {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _IO | _FLOW | {"Parameters", "Arguments", "ResultSelector", "ResultPath",
                               "Retry", "Catch", "Branches", "Assign", "Output"},
    "Map": _IO | _FLOW | {"Parameters", "ResultSelector", "ResultPath", "Retry", "Catch",
                          "ItemProcessor", "Iterator", "ItemsPath", "Items", "ItemSelector",
                          "ItemReader", "ItemBatcher", "ResultWriter", "MaxConcurrency",
                          "MaxConcurrencyPath", "ToleratedFailureCount",
                          "ToleratedFailureCountPath", "ToleratedFailurePercentage",
                          "ToleratedFailurePercentagePath", "Label", "Assign", "Output",
                          "Arguments"},
}
_COMMON = {"Type", "Comment", "QueryLanguage"}
_JSONPATH_ONLY = {"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath",
                  "ItemsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
                  "TimeoutSecondsPath", "HeartbeatSecondsPath", "MaxConcurrencyPath",
                  "ToleratedFailureCountPath", "ToleratedFailurePercentagePath", "Result",
                  "Iterator"}
_JSONATA_ONLY = {"Arguments", "Output", "Items"}

COMPARATORS = ("StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
               "StringGreaterThanEquals", "NumericEquals", "NumericLessThan",
               "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals",
               "BooleanEquals", "TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
               "TimestampLessThanEquals", "TimestampGreaterThanEquals")
TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
OPERATORS = (*COMPARATORS, *(c + "Path" for c in COMPARATORS), "StringMatches", *TESTS)


def _hint(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _join(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


#: state names compared, in all, to suggest the intended one for names that do not exist
#: (each suggestion compares a name with every state of its machine; a definition with
#: thousands of wrong names gets suggestions for the first few, and takes linear time)
HINT_BUDGET = 20_000


class _Ctx:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.nesting = 0  # state machines around the one being read
        self.hint_budget = HINT_BUDGET

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def name_hint(self, name: str, names: list[Any]) -> str:
        """`` (did you mean 'X'?)`` for a state name, while the budget lasts."""
        if self.hint_budget < len(names):
            return ""
        self.hint_budget -= len(names)
        return _hint(name, names)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if _is_num(v):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


# --- entry points ----------------------------------------------------------------------------


def _text_to_dict(text: str, source: str | None) -> Any:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DefinitionError([Problem("", f"not valid JSON: {exc}")], source) from None
        except RecursionError:  # nested thousands of levels deep: say where
            raise DefinitionError([deep_json_problem(text)], source) from None
    try:
        return load_yaml(text)
    except YamlRefused as exc:
        raise DefinitionError([exc.problem], source) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem("", f"neither JSON nor YAML: {exc}")], source) from None
    except Exception as exc:  # deeply nested or odd input: still the user's mistake
        raise DefinitionError([Problem("", f"cannot read the definition: {exc}")],
                              source) from None


def parse(definition: m.Machine | Mapping[str, Any] | str | bytes, *,
          source: str | None = None) -> m.Machine:
    """Read a definition (a dict, or JSON/YAML text) into a :class:`~legato.asl.model.Machine`.

    >>> machine = asl.parse({"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}})

    Raises :class:`~legato.asl.DefinitionError` listing every problem with its JSON path.
    """
    if isinstance(definition, m.Machine):
        return definition
    if isinstance(definition, bytes):
        try:
            definition = definition.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem("", f"not UTF-8 text: {exc}")], source) from None
    data: Any = _text_to_dict(definition, source) if isinstance(definition, str) else definition
    too_big = shape_problem(data)
    if too_big is not None:
        raise DefinitionError([too_big], source)
    ctx = _Ctx()
    try:
        machine = _machine(data, "", m.JSONPATH, ctx, top=True)
    except RecursionError:
        raise DefinitionError([Problem("", "the definition is nested too deeply")],
                              source) from None
    if ctx.problems or machine is None:
        raise DefinitionError(ctx.problems or [Problem("", "invalid definition")], source)
    return machine


def load(path: str | os.PathLike[str]) -> m.Machine:
    """Read a definition file, JSON (``.json``, ``.asl.json``) or YAML (``.yaml``, ``.yml``)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise DefinitionError([Problem("", f"cannot read {name}: {exc.strerror}")],
                              name) from None
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem("", f"not UTF-8 text: {exc}")], name) from None
    return parse(text, source=name)


# --- machines --------------------------------------------------------------------------------

_TOP_FIELDS = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
_BRANCH_FIELDS = {"StartAt", "States", "Comment", "QueryLanguage", "ProcessorConfig"}


def _machine(d: Any, path: str, parent_ql: str, ctx: _Ctx, *, top: bool = False
             ) -> m.Machine | None:
    if not isinstance(d, Mapping):
        ctx.add(path, f"a state machine must be an object, not {_describe(d)}")
        return None
    if not top and ctx.nesting >= MAX_NESTING:
        ctx.add(abbreviate(path), TOO_NESTED)
        return None
    ctx.nesting += not top
    try:
        return _machine_fields(d, path, parent_ql, ctx, top)
    finally:
        ctx.nesting -= not top


def _machine_fields(d: Mapping[str, Any], path: str, parent_ql: str, ctx: _Ctx, top: bool
                    ) -> m.Machine | None:
    allowed = _TOP_FIELDS if top else _BRANCH_FIELDS
    for key in d:
        if not isinstance(key, str):
            ctx.add(path, f"field names must be strings, not {key!r}")
        elif key not in allowed:
            ctx.add(_join(path, key), f"unknown field{_hint(key, allowed)}")
    ql = _query_language(d, path, parent_ql, ctx)
    timeout = None
    if top and "TimeoutSeconds" in d:
        timeout = d["TimeoutSeconds"]
        if not _is_int(timeout) or timeout <= 0:
            ctx.add(_join(path, "TimeoutSeconds"), "must be a positive integer")
            timeout = None
    version = d.get("Version")
    if version is not None and not isinstance(version, str):
        ctx.add(_join(path, "Version"), "must be a string")
    comment = d.get("Comment")
    if comment is not None and not isinstance(comment, str):
        ctx.add(_join(path, "Comment"), "must be a string")
    raw_states = d.get("States")
    states: dict[str, m.State] = {}
    if raw_states is None:
        ctx.add(_join(path, "States"), "is required")
    elif not isinstance(raw_states, Mapping) or not raw_states:
        ctx.add(_join(path, "States"), "must be a non-empty object of states")
    else:
        for name, sd in raw_states.items():
            spath = _join(_join(path, "States"), str(name))
            if not isinstance(name, str) or not name:
                ctx.add(spath, "a state name must be a non-empty string")
                continue
            if len(name) > 80:
                ctx.add(spath, "a state name has at most 80 characters")
            st = _state(name, sd, spath, ql, ctx)
            if st is not None:
                states[name] = st
    start = d.get("StartAt")
    names = list(raw_states) if isinstance(raw_states, Mapping) else []
    if start is None:
        ctx.add(_join(path, "StartAt"), "is required")
    elif not isinstance(start, str):
        ctx.add(_join(path, "StartAt"), "must be a state name (a string)")
    elif isinstance(raw_states, Mapping) and start not in raw_states:
        ctx.add(_join(path, "StartAt"),
                f"state {start!r} does not exist{ctx.name_hint(start, names)}")
    if isinstance(raw_states, Mapping):
        _check_targets(states, path, names, ctx)
    if not isinstance(start, str) or not states:
        return None
    return m.Machine(start_at=start, states=MappingProxyType(states), query_language=ql,
                     comment=comment if isinstance(comment, str) else None,
                     timeout_seconds=timeout,
                     version=version if isinstance(version, str) else None,
                     definition=MappingProxyType(dict(d)) if top else MappingProxyType({}))


def _check_targets(states: dict[str, m.State], path: str, names: list[Any], ctx: _Ctx) -> None:
    known = set(names)

    def target(where: str, name: str | None) -> None:
        if name is not None and name not in known:
            ctx.add(where, f"state {name!r} does not exist{ctx.name_hint(name, names)}")

    for st in states.values():
        spath = _join(_join(path, "States"), st.name)
        target(_join(spath, "Next"), st.next)
        if isinstance(st, m.ChoiceState):
            for i, b in enumerate(st.choices):
                target(_join(_join(spath, "Choices") + f"[{i}]", "Next"), b.next)
            target(_join(spath, "Default"), st.default)
        if isinstance(st, m.ExecState):
            for i, c in enumerate(st.catch):
                target(_join(_join(spath, "Catch") + f"[{i}]", "Next"), c.next)


def _query_language(d: Mapping[str, Any], path: str, parent: str, ctx: _Ctx) -> str:
    ql = d.get("QueryLanguage", parent)
    if ql not in (m.JSONPATH, m.JSONATA):
        ctx.add(_join(path, "QueryLanguage"), f"must be 'JSONPath' or 'JSONata', not {ql!r}")
        return parent
    return str(ql)


# --- states ----------------------------------------------------------------------------------


def _state(name: str, d: Any, path: str, machine_ql: str, ctx: _Ctx) -> m.State | None:
    if not isinstance(d, Mapping):
        ctx.add(path, f"a state must be an object, not {_describe(d)}")
        return None
    typ = d.get("Type")
    if typ is None:
        ctx.add(_join(path, "Type"), f"is required (one of {', '.join(STATE_TYPES)})")
        return None
    if typ not in STATE_TYPES:
        ctx.add(_join(path, "Type"),
                f"unknown state type {typ!r}{_hint(str(typ), STATE_TYPES)}; expected one of "
                f"{', '.join(STATE_TYPES)}")
        return None
    ql = _query_language(d, path, machine_ql, ctx)
    allowed = _FIELDS[typ] | _COMMON
    for key in d:
        if not isinstance(key, str):
            ctx.add(path, f"field names must be strings, not {key!r}")
        elif key not in allowed:
            ctx.add(_join(path, key), f"is not a field of a {typ} state{_hint(key, allowed)}")
        elif ql == m.JSONATA and key in _JSONPATH_ONLY:
            ctx.add(_join(path, key), "is a JSONPath field; this state uses JSONata (use "
                                      "Arguments/Output/Assign with {% %} expressions)")
        elif ql == m.JSONPATH and key in _JSONATA_ONLY:
            ctx.add(_join(path, key), "is a JSONata field; set \"QueryLanguage\": \"JSONata\"")
    r = _Reader(d, path, ql, ctx)
    comment = r.string("Comment")
    common: dict[str, Any] = {"name": name, "type": typ, "query_language": ql,
                              "comment": comment}
    if typ in ("Task", "Pass", "Wait", "Parallel", "Map"):
        nxt, end = r.string("Next"), d.get("End")
        if end is not None and not isinstance(end, bool):
            ctx.add(_join(path, "End"), "must be true or false")
        if nxt is not None and end is True:
            ctx.add(path, "has both Next and End; a state either goes on or ends")
        elif nxt is None and end is not True:
            ctx.add(path, "needs Next (the state that follows) or \"End\": true")
        common.update(next=nxt, end=end is True)
    if typ != "Fail":
        common.update(_io(r))
    if typ in ("Task", "Pass", "Parallel", "Map"):
        common.update(_result(r, typ))
    if typ in ("Task", "Parallel", "Map"):
        common["retry"] = _retry(r)
        common["catch"] = _catch(r)
    if typ == "Pass":
        return m.PassState(**common, result=m.Const.of(d["Result"]) if "Result" in d else None)
    if typ == "Succeed":
        return m.SucceedState(**common)
    if typ == "Fail":
        return m.FailState(**common, error=r.fail_field("Error", "ErrorPath"),
                           cause=r.fail_field("Cause", "CausePath"))
    if typ == "Wait":
        return _wait(r, common)
    if typ == "Choice":
        from legato.asl.parser_rules import choice_state

        return choice_state(r, common)
    if typ == "Task":
        return _task(r, common)
    if typ == "Parallel":
        branches = []
        raw = d.get("Branches")
        if not isinstance(raw, list) or not raw:
            ctx.add(_join(path, "Branches"), "must be a non-empty array of state machines")
        else:
            for i, b in enumerate(raw):
                sub = _machine(b, _join(_join(path, "Branches"), i), ql, ctx)
                if sub is not None:
                    branches.append(sub)
        return m.ParallelState(**common, branches=tuple(branches))
    from legato.asl.parser_rules import map_state

    return map_state(r, common, _machine)


class _Reader:
    """Typed access to one state's fields; every mistake becomes a problem."""

    def __init__(self, d: Mapping[str, Any], path: str, ql: str, ctx: _Ctx) -> None:
        self.d = d
        self.path = path
        self.ql = ql
        self.ctx = ctx

    @property
    def jsonata(self) -> bool:
        return self.ql == m.JSONATA

    def at(self, key: str | int) -> str:
        return _join(self.path, key)

    def add(self, key: str | int, message: str) -> None:
        self.ctx.add(self.at(key), message)

    def string(self, key: str) -> str | None:
        v = self.d.get(key)
        if v is not None and not isinstance(v, str):
            self.add(key, f"must be a string, not {_describe(v)}")
            return None
        return v

    def path_field(self, key: str, *, reference: bool = False, nullable: bool = False
                   ) -> tuple[JsonPath | None, bool]:
        """(path, was null) for InputPath/OutputPath/ResultPath/...Path fields."""
        if key not in self.d:
            return None, False
        v = self.d[key]
        if v is None:
            if not nullable:
                self.add(key, "must be a JSONPath, not null")
            return None, True
        jp = compile_json_path(v, self.at(key), self.ctx)
        if jp is not None and reference and not is_reference_path(jp):
            self.add(key, f"{v!r} must be a reference path: '$' followed by names and indices "
                          "only (no wildcards, filters or variables)")
            return None, False
        return jp, False

    def integer(self, key: str, *, minimum: int = 0, maximum: int | None = None
                ) -> m.Node | None:
        """An integer field; in JSONata states also a ``{% %}`` expression."""
        if key not in self.d:
            return None
        v = self.d[key]
        if self.jsonata and isinstance(v, str):
            expr = strip(v)
            if expr is None:
                self.add(key, "must be an integer or a {% %} expression")
                return None
            return jsonata_node(expr, key, self.at(key), self.ctx)
        if not _is_int(v) or v < minimum or (maximum is not None and v > maximum):
            rng = f"at least {minimum}" if maximum is None else f"{minimum} to {maximum}"
            self.add(key, f"must be an integer {rng}, not {v!r}")
            return None
        return m.Const.of(v)

    def template(self, key: str) -> m.Node | None:
        if key not in self.d:
            return None
        return template(self.d[key], key, self.at(key), self.ql, self.ctx)

    def fail_field(self, key: str, path_key: str) -> m.Node | None:
        if key in self.d and path_key in self.d:
            self.ctx.add(self.path, f"has both {key} and {path_key}; use one")
            return None
        if path_key in self.d:
            v = self.d[path_key]
            if not isinstance(v, str):
                self.add(path_key, "must be a JSONPath or an intrinsic function")
                return None
            return dynamic_value(v, path_key, self.at(path_key), self.ctx)
        if key in self.d:
            v = self.d[key]
            if not isinstance(v, str):
                self.add(key, f"must be a string, not {_describe(v)}")
                return None
            if self.jsonata and strip(v) is not None:
                return jsonata_node(str(strip(v)), key, self.at(key), self.ctx)
            return m.Const.of(v)
        return None


def _too_deep(v: str, what: str, where: str, ctx: _Ctx) -> bool:
    """Whether expression ``v`` nests too deeply to compile (then a problem says so)."""
    why = expression_problem(v)
    if why is not None:
        ctx.add(where, f"the {what} {_shown(v)} {why}")
    return why is not None


def _shown(v: str, limit: int = 60) -> str:
    return repr(v) if len(v) <= limit else repr(v[:limit]) + f"... ({len(v)} characters)"


def compile_json_path(v: Any, where: str, ctx: _Ctx) -> JsonPath | None:
    if not isinstance(v, str):
        ctx.add(where, f"must be a JSONPath string, not {_describe(v)}")
        return None
    if _too_deep(v, "JSONPath", where, ctx):
        return None
    try:
        return compile_path(v)
    except PathSyntaxError as exc:
        ctx.add(where, str(exc))
        return None


def jsonata_node(expr: str, field: str, where: str, ctx: _Ctx) -> m.Node | None:
    if _too_deep(expr, "JSONata expression", where, ctx):
        return None
    try:
        check(expr)
    except JsonataSyntaxError as exc:
        ctx.add(where, f"invalid JSONata expression {_shown(expr)}: {exc}")
        return None
    return m.TJsonata(expr, field)


def dynamic_value(v: str, field: str, where: str, ctx: _Ctx) -> m.Node | None:
    """The value of a ``.$`` key: a path, a context path, a variable or an intrinsic call."""
    if looks_like_call(v):
        if _too_deep(v, "intrinsic function", where, ctx):
            return None
        try:
            return m.TIntrinsic(compile_call(v), field)
        except IntrinsicSyntaxError as exc:
            ctx.add(where, str(exc))
            return None
    jp = compile_json_path(v, where, ctx)
    return None if jp is None else m.TPath(jp, field)


def template(value: Any, field: str, where: str, ql: str, ctx: _Ctx) -> m.Node | None:
    """A payload template (Parameters, ResultSelector, Arguments, Output, Assign ...)."""
    if ql == m.JSONATA:
        return _template_jsonata(value, field, where, ctx)
    return _template_jsonpath(value, where, ctx)


def _template_jsonpath(value: Any, where: str, ctx: _Ctx) -> m.Node | None:
    if isinstance(value, Mapping):
        fields: list[tuple[str, m.Node]] = []
        dynamic = False
        for k, v in value.items():
            if not isinstance(k, str):
                ctx.add(where, f"field names must be strings, not {k!r}")
                continue
            kw = _join(where, k)
            if k.endswith(".$"):
                if not isinstance(v, str):
                    ctx.add(kw, f"a '.$' field takes a JSONPath or an intrinsic function, not "
                                f"{_describe(v)}")
                    continue
                node = dynamic_value(v, k, kw, ctx)
                if node is not None:
                    fields.append((k[:-2], node))
                    dynamic = True
                continue
            sub = _template_jsonpath(v, kw, ctx)
            if sub is not None:
                fields.append((k, sub))
                dynamic = dynamic or not isinstance(sub, m.Const)
        if not dynamic:
            return m.Const.of({k: n.value for k, n in fields if isinstance(n, m.Const)})
        return m.TObject(tuple(fields))
    if isinstance(value, list):
        items = [_template_jsonpath(v, f"{where}[{i}]", ctx) for i, v in enumerate(value)]
        nodes = [n for n in items if n is not None]
        if all(isinstance(n, m.Const) for n in nodes):
            return m.Const.of([n.value for n in nodes if isinstance(n, m.Const)])
        return m.TArray(tuple(nodes))
    try:
        return m.Const.of(value)
    except (TypeError, ValueError):
        ctx.add(where, f"{value!r} is not a JSON value")
        return None


def _template_jsonata(value: Any, field: str, where: str, ctx: _Ctx) -> m.Node | None:
    if isinstance(value, str):
        expr = strip(value)
        if expr is not None:
            return jsonata_node(expr, field, where, ctx)
        return m.Const.of(value)
    if isinstance(value, Mapping):
        fields: list[tuple[str, m.Node]] = []
        for k, v in value.items():
            if not isinstance(k, str):
                ctx.add(where, f"field names must be strings, not {k!r}")
                continue
            sub = _template_jsonata(v, f"{field}/{k}", _join(where, k), ctx)
            if sub is not None:
                fields.append((k, sub))
        if all(isinstance(n, m.Const) for _, n in fields):
            return m.Const.of({k: n.value for k, n in fields if isinstance(n, m.Const)})
        return m.TObject(tuple(fields))
    if isinstance(value, list):
        items = [_template_jsonata(v, f"{field}/{i}", f"{where}[{i}]", ctx)
                 for i, v in enumerate(value)]
        nodes = [n for n in items if n is not None]
        if all(isinstance(n, m.Const) for n in nodes):
            return m.Const.of([n.value for n in nodes if isinstance(n, m.Const)])
        return m.TArray(tuple(nodes))
    try:
        return m.Const.of(value)
    except (TypeError, ValueError):
        ctx.add(where, f"{value!r} is not a JSON value")
        return None


def _io(r: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.jsonata:
        out["output"] = r.template("Output")
    else:
        out["input_path"], out["input_path_null"] = r.path_field("InputPath", nullable=True)
        out["output_path"], out["output_path_null"] = r.path_field("OutputPath", nullable=True)
    if "Assign" in r.d:
        if not isinstance(r.d["Assign"], Mapping):
            r.add("Assign", "must be an object of variable names to values")
        else:
            for k in r.d["Assign"]:
                name = k[:-2] if isinstance(k, str) and k.endswith(".$") else k
                if not isinstance(name, str) or not name.isidentifier():
                    r.add("Assign", f"{k!r} is not a valid variable name")
            out["assign"] = r.template("Assign")
    return out


def _result(r: _Reader, typ: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.jsonata:
        out["parameters"] = r.template("Arguments")
    else:
        out["parameters"] = r.template("Parameters")
        if typ != "Pass":
            out["result_selector"] = r.template("ResultSelector")
        out["result_path"], out["discard_result"] = r.path_field(
            "ResultPath", reference=True, nullable=True)
    return out


def _error_equals(r: _Reader, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(e, str) for e in value):
        r.ctx.add(where, "must be a non-empty array of error names")
        return ()
    if ALL in value and len(value) > 1:
        r.ctx.add(where, "States.ALL must appear alone in ErrorEquals")
    return tuple(value)


_RETRY_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                 "MaxDelaySeconds", "JitterStrategy", "Comment"}


def _retry(r: _Reader) -> tuple[m.Retrier, ...]:
    raw = r.d.get("Retry")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.add("Retry", "must be an array of retriers")
        return ()
    out = []
    for i, rd in enumerate(raw):
        where = f"{r.at('Retry')}[{i}]"
        if not isinstance(rd, Mapping):
            r.ctx.add(where, "a retrier must be an object")
            continue
        for k in rd:
            if k not in _RETRY_FIELDS:
                r.ctx.add(_join(where, str(k)), f"unknown field{_hint(str(k), _RETRY_FIELDS)}")
        names = _error_equals(r, _join(where, "ErrorEquals"), rd.get("ErrorEquals"))
        if ALL in names and i != len(raw) - 1:
            r.ctx.add(_join(where, "ErrorEquals"), "States.ALL must be in the last retrier")
        kw: dict[str, Any] = {}
        checks: list[tuple[str, str, Callable[[Any], bool], str]] = [
            ("IntervalSeconds", "interval_seconds", lambda v: _is_int(v) and v >= 1,
             "a positive integer"),
            ("MaxAttempts", "max_attempts", lambda v: _is_int(v) and 0 <= v <= 99999999,
             "a non-negative integer"),
            ("BackoffRate", "backoff_rate", lambda v: _is_num(v) and v >= 1.0,
             "a number of at least 1.0"),
            ("MaxDelaySeconds", "max_delay_seconds", lambda v: _is_int(v) and v >= 1,
             "a positive integer"),
            ("JitterStrategy", "jitter_strategy", lambda v: v in ("FULL", "NONE"),
             "FULL or NONE"),
        ]
        for key, attr, ok, what in checks:
            if key in rd:
                if ok(rd[key]):
                    kw[attr] = rd[key]
                else:
                    r.ctx.add(_join(where, key), f"must be {what}, not {rd[key]!r}")
        out.append(m.Retrier(error_equals=names, **kw))
    return tuple(out)


_CATCH_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment", "Output", "Assign"}


def _catch(r: _Reader) -> tuple[m.Catcher, ...]:
    raw = r.d.get("Catch")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.add("Catch", "must be an array of catchers")
        return ()
    out = []
    for i, cd in enumerate(raw):
        where = f"{r.at('Catch')}[{i}]"
        if not isinstance(cd, Mapping):
            r.ctx.add(where, "a catcher must be an object")
            continue
        for k in cd:
            if k not in _CATCH_FIELDS:
                r.ctx.add(_join(where, str(k)), f"unknown field{_hint(str(k), _CATCH_FIELDS)}")
        names = _error_equals(r, _join(where, "ErrorEquals"), cd.get("ErrorEquals"))
        if ALL in names and i != len(raw) - 1:
            r.ctx.add(_join(where, "ErrorEquals"), "States.ALL must be in the last catcher")
        nxt = cd.get("Next")
        if not isinstance(nxt, str):
            r.ctx.add(_join(where, "Next"), "is required: the state that handles the error")
            continue
        sub = _Reader(cd, where, r.ql, r.ctx)
        rp, discard = sub.path_field("ResultPath", reference=True, nullable=True)
        if r.jsonata and "ResultPath" in cd:
            r.ctx.add(_join(where, "ResultPath"), "is a JSONPath field; use Output")
        out.append(m.Catcher(error_equals=names, next=nxt, result_path=rp,
                             discard_result=discard, output=sub.template("Output"),
                             assign=sub.template("Assign")))
    return tuple(out)


def _wait(r: _Reader, common: dict[str, Any]) -> m.WaitState:
    given = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in r.d]
    if len(given) != 1:
        r.ctx.add(r.path, "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp "
                          f"or TimestampPath (has {', '.join(given) or 'none'})")
    ts: m.Node | None = None
    if "Timestamp" in r.d:
        v = r.d["Timestamp"]
        if r.jsonata and isinstance(v, str) and strip(v) is not None:
            ts = jsonata_node(str(strip(v)), "Timestamp", r.at("Timestamp"), r.ctx)
        elif not isinstance(v, str) or parse_timestamp(v) is None:
            r.add("Timestamp", f"must be an ISO-8601 timestamp like '2016-03-14T01:59:00Z', "
                               f"not {v!r}")
        else:
            ts = m.Const.of(v)
    return m.WaitState(
        **common, seconds=r.integer("Seconds", minimum=0, maximum=99999999),
        seconds_path=r.path_field("SecondsPath")[0], timestamp=ts,
        timestamp_path=r.path_field("TimestampPath")[0])


def _task(r: _Reader, common: dict[str, Any]) -> m.TaskState:
    resource = r.d.get("Resource")
    if not isinstance(resource, str) or not resource:
        r.add("Resource", "is required: a handler name, a Lambda ARN, "
                          "'arn:aws:states:::lambda:invoke' or 'python:module.function'")
        resource = ""
    timeout = r.integer("TimeoutSeconds", minimum=1, maximum=99999999)
    heartbeat = r.integer("HeartbeatSeconds", minimum=1, maximum=99999999)
    if "TimeoutSeconds" in r.d and "TimeoutSecondsPath" in r.d:
        r.ctx.add(r.path, "has both TimeoutSeconds and TimeoutSecondsPath; use one")
    if "HeartbeatSeconds" in r.d and "HeartbeatSecondsPath" in r.d:
        r.ctx.add(r.path, "has both HeartbeatSeconds and HeartbeatSecondsPath; use one")
    if isinstance(timeout, m.Const) and isinstance(heartbeat, m.Const) \
            and heartbeat.value >= timeout.value:
        r.add("HeartbeatSeconds", "must be smaller than TimeoutSeconds")
    return m.TaskState(
        **common, resource=resource, timeout_seconds=timeout,
        timeout_seconds_path=r.path_field("TimeoutSecondsPath")[0],
        heartbeat_seconds=heartbeat,
        heartbeat_seconds_path=r.path_field("HeartbeatSecondsPath")[0])
