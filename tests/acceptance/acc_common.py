"""Names and values shared by the acceptance workflow (run in workers) and the tests.

Kept apart from ``acc_workflows`` so that the test process reads them without registering
the workflow in its own process-wide registry.
"""

from __future__ import annotations

EFFECTS_ENV = "LEGATO_ACC_EFFECTS"
#: "1": the chain's step is declared inline=True (runs on the worker's hub thread)
INLINE_ENV = "LEGATO_ACC_INLINE"
WORKFLOW = "acc_chain"
STEP = "acc_effect"

EFFECTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS effects ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, wid TEXT NOT NULL, step INTEGER NOT NULL,"
    " pid INTEGER NOT NULL, key TEXT NOT NULL, phase TEXT NOT NULL, at REAL NOT NULL)"
)


def step_value(step: int) -> int:
    return step * step


def expected_sum(n_steps: int) -> int:
    return sum(step_value(i) for i in range(1, n_steps + 1))

# --- issue 4 patterns in real processes -------------------------------------------------
SAGA_WORKFLOW = "acc_saga"
CIRCUIT_WORKFLOW = "acc_circuit"
CIRCUIT_NAME = "acc_dependency"
#: while this file exists, the circuit-guarded dependency fails (path from the environment)
BROKEN_ENV = "LEGATO_ACC_BROKEN"
WAITER_WORKFLOW = "acc_waiter"
#: waits for "go", then hands ctx.now() to a step that records it
STAMPED_WAITER_WORKFLOW = "acc_stamped_waiter"
#: ctx.branches: two branches of three effect steps each (steps 1-3 and 11-13)
BRANCHES_WORKFLOW = "acc_branches"
