"""Run diagrams as inline SVG (pure: no I/O).

A state machine's graph: one box per state, in the order a walk from ``StartAt`` meets them,
with an arrow for each ``Next``, ``Default``, choice and catch; a run's visited states are
``class="visited"``, the state it is in ``class="current"``, the state it failed in
``class="failed"`` (read from the ASL markers in its journal). A Python workflow's diagram is
what its journal shows it did: its steps, waits, timers, branches, child runs and human
tasks, in order. Text goes through :func:`html.escape`; the result is marked safe for Jinja.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from legato.domain import status as st

BOX_W, BOX_H, GAP, PAD = 220, 34, 26, 12


def edges_of(state: Any) -> list[tuple[str, str]]:
    """(target, label) of each transition out of an ASL state."""
    out: list[tuple[str, str]] = []
    if getattr(state, "next", None):
        out.append((state.next, ""))
    for branch in getattr(state, "choices", ()) or ():
        out.append((branch.next, "choice"))
    if getattr(state, "default", None):
        out.append((state.default, "default"))
    for catcher in getattr(state, "catch", ()) or ():
        out.append((catcher.next, "catch"))
    return out


def order(machine: Any) -> list[str]:
    """The states in the order a walk from ``StartAt`` meets them (unreachable ones last)."""
    seen: list[str] = []
    todo = [machine.start_at]
    while todo:
        name = todo.pop(0)
        if name in seen or name not in machine.states:
            continue
        seen.append(name)
        todo.extend(t for t, _ in edges_of(machine.states[name]))
    return seen + [n for n in machine.states if n not in seen]


def asl_marks(history: list[dict[str, Any]], status: str | None) -> dict[str, str]:
    """Each state's class from the run's journal: visited, current or failed."""
    marks: dict[str, str] = {}
    last: str | None = None
    open_states: list[str] = []
    for e in history:
        name = e.get("name")
        if e.get("type") != "PatchMarker" or not isinstance(name, str) \
                or not name.startswith("asl:"):
            continue
        parts = name.split(":", 3)
        if len(parts) < 4:
            continue
        what, state = parts[2], parts[3]
        if what.endswith("Entered"):
            marks[state] = "visited"
            last = state
            open_states.append(state)
        elif what.endswith("Exited") and state in open_states:
            open_states.remove(state)
    if last is not None and status not in st.TERMINAL and open_states:
        marks[open_states[-1]] = "current"
    if status in (st.FAILED, st.TIMED_OUT) and last is not None:
        marks[open_states[-1] if open_states else last] = "failed"
    return marks


def _box(x: int, y: int, label: str, sub: str, cls: str, title: str) -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<g{klass} data-node="{escape(title)}"><title>{escape(title)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + 21}">{escape(label[:28])}'
            f'<tspan class="sub" dx="6">{escape(sub[:14])}</tspan></text></g>')


def state_machine(machine: Any, marks: dict[str, str] | None = None) -> Markup:
    """The state graph of an ASL machine as SVG."""
    marks = marks or {}
    names = order(machine)
    row = {n: i for i, n in enumerate(names)}
    parts: list[str] = []
    far = 0
    for name in names:
        y0 = PAD + row[name] * (BOX_H + GAP)
        for k, (target, label) in enumerate(edges_of(machine.states[name])):
            if target not in row:
                continue
            y1 = PAD + row[target] * (BOX_H + GAP)
            x = PAD + BOX_W // 2
            if row[target] == row[name] + 1 and k == 0:
                parts.append(f'<line class="edge" x1="{x}" y1="{y0 + BOX_H}" x2="{x}"'
                             f' y2="{y1 - 2}" marker-end="url(#arrow)"/>')
            else:
                far += 1
                bend = PAD + BOX_W + 14 * far
                parts.append(f'<path class="edge{" " + label if label else ""}" fill="none"'
                             f' d="M{PAD + BOX_W} {y0 + BOX_H // 2} H{bend}'
                             f' V{y1 + BOX_H // 2} H{PAD + BOX_W + 2}"'
                             f' marker-end="url(#arrow)"/>')
    for name in names:
        state = machine.states[name]
        y = PAD + row[name] * (BOX_H + GAP)
        parts.append(_box(PAD, y, name, state.type, marks.get(name, ""), name))
    return _svg(parts, PAD * 2 + BOX_W + 14 * far + 10, PAD * 2 + len(names) * (BOX_H + GAP),
                f"state machine {machine.start_at}")


_SHAPES = {"StepCompleted": "step", "StepFailed": "step", "WaitStarted": "wait",
           "TimerStarted": "timer", "BranchesStarted": "branches",
           "ChildWorkflowStarted": "child", "HumanTaskCreated": "task"}


def python_run(history: list[dict[str, Any]], status: str | None) -> Markup:
    """What a Python workflow's journal shows it did, as a column of boxes."""
    nodes: list[dict[str, Any]] = []
    by_pos: dict[Any, dict[str, Any]] = {}
    for e in history:
        kind = _SHAPES.get(str(e.get("type")))
        if kind is None:
            continue
        pos = e.get("pos", e.get("seq"))
        node = by_pos.get(pos) if kind == "step" else None
        if node is None:
            label = str(e.get("name") or e.get("type_") or e.get("event_type") or kind)
            node = {"label": label, "kind": kind, "cls": "visited", "attempts": 0}
            nodes.append(node)
            by_pos[pos] = node
        if kind == "step":
            node["attempts"] += 1
            node["cls"] = "failed" if e.get("type") == "StepFailed" and e.get("final") \
                else "visited"
    if nodes and status not in st.TERMINAL and nodes[-1]["cls"] != "failed":
        nodes[-1]["cls"] = "current"
    if nodes and status == st.FAILED and not any(n["cls"] == "failed" for n in nodes):
        nodes[-1]["cls"] = "failed"
    parts: list[str] = []
    x = PAD + BOX_W // 2
    for i, node in enumerate(nodes):
        y = PAD + i * (BOX_H + GAP)
        if i:
            parts.append(f'<line class="edge" x1="{x}" y1="{y - GAP}" x2="{x}" y2="{y - 2}"'
                         f' marker-end="url(#arrow)"/>')
        sub = node["kind"] + (f" x{node['attempts']}" if node["attempts"] > 1 else "")
        parts.append(_box(PAD, y, node["label"], sub, node["cls"], node["label"]))
    return _svg(parts, PAD * 2 + BOX_W, PAD * 2 + max(1, len(nodes)) * (BOX_H + GAP),
                "steps as executed")


def _svg(parts: list[str], width: int, height: int, label: str) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" role="img"'
            f' aria-label="{escape(label)}" width="{width}" height="{height}"'
            f' viewBox="0 0 {width} {height}"><defs><marker id="arrow" viewBox="0 0 10 10"'
            ' refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M0 0 L10 5 L0 10 z"/></marker></defs>')
    return Markup(head + "".join(parts) + "</svg>")  # every text escaped above


__all__ = ["asl_marks", "edges_of", "order", "python_run", "state_machine"]
