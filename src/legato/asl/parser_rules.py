"""Parsing of Choice rules and Map states (the larger state types), for :mod:`parser`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from legato.asl import model as m
from legato.asl.jsonata_bridge import strip
from legato.asl.timeutil import parse_timestamp

if TYPE_CHECKING:
    from legato.asl.parser import _Ctx, _Reader


def choice_state(r: _Reader, common: dict[str, Any]) -> m.ChoiceState:
    from legato.asl.parser import _describe

    raw = r.d.get("Choices")
    branches: list[m.ChoiceBranch] = []
    if not isinstance(raw, list) or not raw:
        r.add("Choices", f"must be a non-empty array of choice rules, not {_describe(raw)}")
    else:
        for i, rd in enumerate(raw):
            where = f"{r.at('Choices')}[{i}]"
            branch = _branch(r, rd, where)
            if branch is not None:
                branches.append(branch)
    default = r.string("Default")
    return m.ChoiceState(**common, choices=tuple(branches), default=default)


def _branch(r: _Reader, rd: Any, where: str) -> m.ChoiceBranch | None:
    from legato.asl.parser import _join, template

    if not isinstance(rd, Mapping):
        r.ctx.add(where, "a choice rule must be an object")
        return None
    nxt = rd.get("Next")
    if not isinstance(nxt, str):
        r.ctx.add(_join(where, "Next"), "is required: the state to go to when the rule matches")
    rule = _rule(r, rd, where, top=True)
    assign = output = None
    if "Assign" in rd:
        assign = template(rd["Assign"], "Assign", _join(where, "Assign"), r.ql, r.ctx)
    if "Output" in rd:
        if not r.jsonata:
            r.ctx.add(_join(where, "Output"), "is a JSONata field")
        output = template(rd["Output"], "Output", _join(where, "Output"), r.ql, r.ctx)
    if rule is None or not isinstance(nxt, str):
        return None
    return m.ChoiceBranch(rule=rule, next=nxt, assign=assign, output=output)


_TOP_EXTRA = {"Next", "Comment", "Assign", "Output"}


def _rule(r: _Reader, rd: Any, where: str, *, top: bool) -> m.Rule | None:
    from legato.asl.parser import OPERATORS, _hint, _join, jsonata_node

    if not isinstance(rd, Mapping):
        r.ctx.add(where, "a choice rule must be an object")
        return None
    if r.jsonata:
        for k in rd:
            if k not in ({"Condition"} | _TOP_EXTRA):
                r.ctx.add(_join(where, str(k)), "is not a field of a JSONata choice rule "
                                                "(use Condition)")
        cond = rd.get("Condition")
        if isinstance(cond, bool):
            return m.Condition(m.Const.of(cond))
        expr = strip(cond) if isinstance(cond, str) else None
        if expr is None:
            r.ctx.add(_join(where, "Condition"), "must be true, false or a {% %} expression")
            return None
        node = jsonata_node(expr, "Condition", _join(where, "Condition"), r.ctx)
        return None if node is None else m.Condition(node)
    if not top and "Next" in rd:
        r.ctx.add(_join(where, "Next"), "only a top-level choice rule has Next")
    ops = [k for k in rd if k in OPERATORS]
    composite = [k for k in ("And", "Or", "Not") if k in rd]
    allowed = set(OPERATORS) | {"And", "Or", "Not", "Variable"} | (_TOP_EXTRA if top
                                                                   else {"Comment"})
    for k in rd:
        if k not in allowed:
            r.ctx.add(_join(where, str(k)), f"is not a choice rule field{_hint(str(k), allowed)}")
    if len(ops) + len(composite) != 1:
        found = ", ".join(ops + composite) or "none"
        r.ctx.add(where, f"a choice rule needs exactly one comparison operator or And/Or/Not "
                         f"(found {found})")
        return None
    if composite:
        kind = composite[0]
        if "Variable" in rd:
            r.ctx.add(_join(where, "Variable"), f"does not go with {kind}")
        sub = rd[kind]
        if kind == "Not":
            inner = _rule(r, sub, _join(where, "Not"), top=False)
            return None if inner is None else m.Composite("Not", (inner,))
        if not isinstance(sub, list) or not sub:
            r.ctx.add(_join(where, kind), "must be a non-empty array of choice rules")
            return None
        rules = [_rule(r, s, f"{_join(where, kind)}[{i}]", top=False) for i, s in enumerate(sub)]
        if any(x is None for x in rules):
            return None
        return m.Composite(kind, tuple(x for x in rules if x is not None))
    return _comparison(r, rd, where, ops[0])


def _comparison(r: _Reader, rd: Mapping[str, Any], where: str, op: str) -> m.Rule | None:
    from legato.asl.parser import _describe, _is_num, _join, compile_json_path

    var = rd.get("Variable")
    if var is None:
        r.ctx.add(_join(where, "Variable"), f"is required with {op}")
        return None
    variable = compile_json_path(var, _join(where, "Variable"), r.ctx)
    value = rd[op]
    at = _join(where, op)
    if op.endswith("Path"):
        path = compile_json_path(value, at, r.ctx)
        if variable is None or path is None:
            return None
        return m.Comparison(variable, op[:-4], operand_path=path)
    ok = True
    if op.startswith("Is"):
        ok = isinstance(value, bool)
        what = "true or false"
    elif op.startswith("String"):
        ok = isinstance(value, str)
        what = "a string"
    elif op.startswith("Numeric"):
        ok = _is_num(value)
        what = "a number"
    elif op == "BooleanEquals":
        ok = isinstance(value, bool)
        what = "true or false"
    else:  # Timestamp*
        ok = parse_timestamp(value) is not None
        what = "an ISO-8601 timestamp like '2016-03-14T01:59:00Z'"
    if not ok:
        r.ctx.add(at, f"must be {what}, not {_describe(value)}")
        return None
    if variable is None:
        return None
    return m.Comparison(variable, op, operand=value)


# --- Map -----------------------------------------------------------------------------------

MachineParser = Callable[[Any, str, str, "_Ctx"], "m.Machine | None"]


def map_state(r: _Reader, common: dict[str, Any], parse_machine: MachineParser) -> m.MapState:
    from legato.asl.parser import _join

    proc_key = "ItemProcessor" if "ItemProcessor" in r.d else "Iterator"
    if "ItemProcessor" in r.d and "Iterator" in r.d:
        r.ctx.add(r.path, "has both ItemProcessor and Iterator; use ItemProcessor")
    raw = r.d.get(proc_key)
    processor = None
    mode, exec_type = "INLINE", None
    if raw is None:
        r.add("ItemProcessor", "is required: the states that process each item")
    else:
        processor = parse_machine(raw, r.at(proc_key), r.ql, r.ctx)
        config = raw.get("ProcessorConfig") if isinstance(raw, Mapping) else None
        if config is not None:
            where = _join(r.at(proc_key), "ProcessorConfig")
            if not isinstance(config, Mapping):
                r.ctx.add(where, "must be an object")
            else:
                mode = config.get("Mode", "INLINE")
                if mode not in ("INLINE", "DISTRIBUTED"):
                    r.ctx.add(_join(where, "Mode"), f"must be INLINE or DISTRIBUTED, not {mode!r}")
                    mode = "INLINE"
                exec_type = config.get("ExecutionType")
                if exec_type is not None and exec_type not in ("STANDARD", "EXPRESS"):
                    r.ctx.add(_join(where, "ExecutionType"), "must be STANDARD or EXPRESS")
                for k in config:
                    if k not in ("Mode", "ExecutionType"):
                        r.ctx.add(_join(where, str(k)), "unknown field")
    selector_key = "ItemSelector" if "ItemSelector" in r.d else "Parameters"
    if "ItemSelector" in r.d and "Parameters" in r.d:
        r.ctx.add(r.path, "has both ItemSelector and Parameters; use ItemSelector")
    items: m.Node | None = None
    if "Items" in r.d:
        v = r.d["Items"]
        if (isinstance(v, str) and strip(v) is None) or not isinstance(v, list | str):
            r.add("Items", "must be an array or a {% %} expression")
        else:
            items = r.template("Items")
    batcher = _batcher(r)
    percentage: m.Node | None = None
    if "ToleratedFailurePercentage" in r.d:
        v = r.d["ToleratedFailurePercentage"]
        if r.jsonata and isinstance(v, str):
            percentage = r.integer("ToleratedFailurePercentage")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100:
            r.add("ToleratedFailurePercentage", f"must be a number from 0 to 100, not {v!r}")
        else:
            percentage = m.Const.of(v)
    label = r.string("Label")
    return m.MapState(
        **common, processor=processor, mode=str(mode), execution_type=exec_type,
        items_path=r.path_field("ItemsPath")[0], items=items,
        item_selector=r.template(selector_key), item_batcher=batcher,
        max_concurrency=r.integer("MaxConcurrency", minimum=0),
        max_concurrency_path=r.path_field("MaxConcurrencyPath")[0],
        tolerated_failure_count=r.integer("ToleratedFailureCount", minimum=0),
        tolerated_failure_count_path=r.path_field("ToleratedFailureCountPath")[0],
        tolerated_failure_percentage=percentage,
        tolerated_failure_percentage_path=r.path_field("ToleratedFailurePercentagePath")[0],
        label=label, item_reader=_item_reader(r))


_BATCH_FIELDS = {"MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
                 "MaxInputBytesPerBatchPath", "BatchInput"}


def _sub_object(r: _Reader, key: str, fields: set[str]) -> _Reader | None:
    """A reader of the object at ``key`` (None if absent or not an object, which is
    reported); fields it does not know are reported too."""
    from legato.asl.parser import _join
    from legato.asl.parser import _Reader as Reader

    raw = r.d.get(key)
    if raw is None:
        return None
    where = r.at(key)
    if not isinstance(raw, Mapping):
        r.ctx.add(where, "must be an object")
        return None
    for k in raw:
        if k not in fields:
            r.ctx.add(_join(where, str(k)), "unknown field")
    return Reader(raw, where, r.ql, r.ctx)


def _batcher(r: _Reader) -> m.ItemBatcher | None:
    sub = _sub_object(r, "ItemBatcher", _BATCH_FIELDS)
    if sub is None:
        return None
    raw, where = sub.d, sub.path
    batch = m.ItemBatcher(
        max_items=sub.integer("MaxItemsPerBatch", minimum=1),
        max_items_path=sub.path_field("MaxItemsPerBatchPath")[0],
        max_bytes=sub.integer("MaxInputBytesPerBatch", minimum=1, maximum=262144),
        max_bytes_path=sub.path_field("MaxInputBytesPerBatchPath")[0],
        batch_input=sub.template("BatchInput"))
    if not any(k in raw for k in _BATCH_FIELDS - {"BatchInput"}):
        r.ctx.add(where, "needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path form)")
    return batch


_READER_FIELDS = {"Resource", "ReaderConfig", "Parameters", "Arguments"}
_CONFIG_FIELDS = {"InputType", "CSVHeaderLocation", "CSVHeaders", "CSVDelimiter", "MaxItems",
                  "MaxItemsPath"}
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


def _item_reader(r: _Reader) -> m.ItemReader | None:
    from legato.asl.parser import _join
    from legato.asl.parser import _Reader as Reader

    sub = _sub_object(r, "ItemReader", _READER_FIELDS)
    if sub is None:
        return None
    where = sub.path
    resource = sub.string("Resource")
    if resource is None:
        r.ctx.add(where, "needs a Resource (e.g. arn:aws:states:::s3:getObject)")
    params_key = "Arguments" if sub.jsonata else "Parameters"
    cwhere = _join(where, "ReaderConfig")
    conf = _sub_object(sub, "ReaderConfig", _CONFIG_FIELDS) or Reader({}, cwhere, r.ql, r.ctx)
    config = conf.d
    input_type = conf.string("InputType")
    if input_type is not None and input_type not in ("CSV", "JSON", "JSONL", "MANIFEST"):
        r.ctx.add(_join(cwhere, "InputType"), "must be CSV, JSON, JSONL or MANIFEST")
    location = conf.string("CSVHeaderLocation")
    if location is not None and location not in ("FIRST_ROW", "GIVEN"):
        r.ctx.add(_join(cwhere, "CSVHeaderLocation"), "must be FIRST_ROW or GIVEN")
    headers = config.get("CSVHeaders", [])
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        r.ctx.add(_join(cwhere, "CSVHeaders"), "must be a list of strings")
        headers = []
    if location == "GIVEN" and not headers:
        r.ctx.add(cwhere, "CSVHeaderLocation GIVEN needs CSVHeaders")
    delimiter = conf.string("CSVDelimiter") or "COMMA"
    if delimiter not in _DELIMITERS:
        r.ctx.add(_join(cwhere, "CSVDelimiter"), "must be " + ", ".join(_DELIMITERS))
    return m.ItemReader(
        resource=resource or "", parameters=sub.template(params_key), input_type=input_type,
        header_location=location, headers=tuple(headers),
        delimiter=_DELIMITERS.get(delimiter, ","),
        max_items=conf.integer("MaxItems", minimum=0),
        max_items_path=conf.path_field("MaxItemsPath")[0])
