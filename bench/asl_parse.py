"""How long ``asl.parse`` takes for definitions of 1,000, 10,000 and 30,000 states.

Run it with ``python -m bench.asl_parse`` (``--yaml`` to read YAML text as well). Validation
does work linear in the size of a definition (``tests/asl/test_asl_parse_limits.py`` proves
it by counting work, not by timing), so the 30k/10k ratio of the "no gc" column is close to
3. The "seconds" column is a little worse than linear: CPython's cyclic garbage collector
makes a full pass over the heap once the objects that survived the young generations reach
a quarter of the old ones, which a parse of 30,000 states (~4 million objects) reaches a
couple of times and one of 10,000 states does not. Each figure is the best of a few runs
(CPU time), to keep other load on the machine out of it.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from legato import asl

SIZES = (1_000, 10_000, 30_000)


def chain(n: int) -> dict[str, Any]:
    """``n`` states in a chain, each of a kind: Pass, Choice, Task with Retry/Catch, Wait."""
    states: dict[str, Any] = {}
    for i in range(n):
        name, nxt = f"S{i}", f"S{i + 1}"
        kind = i % 4
        if i == n - 1:
            states[name] = {"Type": "Succeed"}
        elif kind == 0:
            states[name] = {"Type": "Pass", "Parameters": {"i": i, "v.$": "$.value"},
                            "ResultPath": "$.last", "Next": nxt}
        elif kind == 1:
            states[name] = {"Type": "Choice", "Default": nxt, "Choices": [
                {"Variable": "$.last.i", "NumericGreaterThan": n, "Next": "S0"}]}
        elif kind == 2:
            states[name] = {"Type": "Task", "Resource": "work", "Next": nxt,
                            "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2}],
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": nxt}]}
        else:
            states[name] = {"Type": "Wait", "Seconds": 1, "Next": nxt}
    return {"StartAt": "S0", "States": states}


def best(fn: Callable[[], Any], runs: int, *, collect: bool = True) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        if not collect:
            gc.disable()
        try:
            began = time.process_time()
            fn()
            times.append(time.process_time() - began)
        finally:
            gc.enable()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yaml", action="store_true", help="also parse YAML text")
    parser.add_argument("--runs", type=int, default=5, help="best of this many (default 5)")
    args = parser.parse_args()
    forms: dict[str, Callable[[dict[str, Any]], Any]] = {
        "dict": lambda d: d, "json": json.dumps}
    if args.yaml:
        import yaml

        forms["yaml"] = lambda d: yaml.safe_dump(d, sort_keys=False)
    print(f"{'states':>8} {'form':>5} {'bytes':>11} {'seconds':>9} {'us/state':>9} "
          f"{'no gc':>9} {'us/state':>9}")
    seconds: dict[tuple[str, int], tuple[float, float]] = {}
    for n in SIZES:
        definition = chain(n)
        for form, make in forms.items():
            data = make(definition)
            took = best(lambda data=data: asl.parse(data), args.runs)
            bare = best(lambda data=data: asl.parse(data), args.runs, collect=False)
            seconds[form, n] = took, bare
            size = len(data) if isinstance(data, str) else len(json.dumps(data))
            print(f"{n:>8} {form:>5} {size:>11,} {took:>9.3f} {took / n * 1e6:>9.1f} "
                  f"{bare:>9.3f} {bare / n * 1e6:>9.1f}")
    for form in forms:
        (big, big_bare), (small, small_bare) = seconds[form, 30_000], seconds[form, 10_000]
        print(f"{form}: 30k/10k = {big / small:.2f}, without gc {big_bare / small_bare:.2f} "
              "(linear: 3)")


if __name__ == "__main__":
    main()
