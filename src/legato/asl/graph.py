"""Mermaid state diagrams of state machines (``legato asl graph FILE``).

>>> print(asl.graph.mermaid(asl.parse({"StartAt": "A", "States": {"A": {"Type": "Pass",
...                                                                     "End": True}}})))
stateDiagram-v2
    state "A" as s0
    [*] --> s0
    s0 --> [*]
"""

from __future__ import annotations

import json
from itertools import count

from legato.asl import model as m


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ").replace(";", ",").replace("#", "")


def _rule(rule: m.Rule) -> str:
    if isinstance(rule, m.Condition):
        if isinstance(rule.node, m.TJsonata):
            return rule.node.expression
        return "true" if isinstance(rule.node, m.Const) and rule.node.value else "false"
    if isinstance(rule, m.Composite):
        inner = ", ".join(_rule(r) for r in rule.rules)
        return f"{rule.kind}({inner})"
    operand = (rule.operand_path.text if rule.operand_path is not None
               else json.dumps(rule.operand))
    return f"{rule.variable.text} {rule.operator} {operand}"


class _Writer:
    def __init__(self) -> None:
        self.lines = ["stateDiagram-v2"]
        self.ids = count()

    def machine(self, machine: m.Machine, indent: str) -> None:
        names = {name: f"s{next(self.ids)}" for name in machine.states}
        for name, st in machine.states.items():
            sid = names[name]
            if isinstance(st, m.ChoiceState):
                self.lines.append(f'{indent}state "{_label(name)}" as {sid}')
                self.lines.append(f"{indent}state {sid}_choice <<choice>>")
            elif isinstance(st, m.ParallelState | m.MapState):
                kind = "Parallel" if isinstance(st, m.ParallelState) else "Map"
                self.lines.append(f'{indent}state "{_label(name)} ({kind})" as {sid}')
                self.lines.append(f"{indent}state {sid} {{")
                subs = st.branches if isinstance(st, m.ParallelState) else (
                    (st.processor,) if st.processor is not None else ())
                for i, sub in enumerate(subs):
                    if i:
                        self.lines.append(f"{indent}    --")
                    self.machine(sub, indent + "    ")
                self.lines.append(f"{indent}}}")
            else:
                self.lines.append(f'{indent}state "{_label(name)}" as {sid}')
        self.lines.append(f"{indent}[*] --> {names[machine.start_at]}")
        for name, st in machine.states.items():
            sid = names[name]
            if isinstance(st, m.ChoiceState):
                self.lines.append(f"{indent}{sid} --> {sid}_choice")
                for branch in st.choices:
                    self.lines.append(f"{indent}{sid}_choice --> {names[branch.next]}: "
                                      f"{_label(_rule(branch.rule))}")
                if st.default is not None:
                    self.lines.append(f"{indent}{sid}_choice --> {names[st.default]}: default")
                continue
            if st.next is not None:
                self.lines.append(f"{indent}{sid} --> {names[st.next]}")
            if st.end or isinstance(st, m.SucceedState | m.FailState):
                suffix = ": fail" if isinstance(st, m.FailState) else ""
                self.lines.append(f"{indent}{sid} --> [*]{suffix}")
            if isinstance(st, m.ExecState):
                for catcher in st.catch:
                    errors = ", ".join(catcher.error_equals)
                    self.lines.append(f"{indent}{sid} --> {names[catcher.next]}: "
                                      f"catch {_label(errors)}")


def mermaid(machine: m.Machine) -> str:
    """The machine as a Mermaid ``stateDiagram-v2``, branches and iterators nested."""
    writer = _Writer()
    writer.machine(machine, "    ")
    return "\n".join(writer.lines)
