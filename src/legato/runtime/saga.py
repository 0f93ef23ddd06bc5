"""Sagas: compensations registered after each success, run in reverse when the work fails.

>>> with ctx.saga() as saga:
...     r = reserve_stock(order)
...     saga.add(release_stock, r)      # registered only after reserve_stock succeeded
...     charge_card(order)              # fails for good -> release_stock(r) runs, error re-raised

Compensations are durable steps with their own retry policies. They run on failure, on
cancellation and at a deadline, shielded from the cancellation that triggered them, and a
crash in the middle resumes with the next compensation (the recorded ones replay).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from legato.domain.retry import DEFAULT_RETRY
from legato.runtime.control import Cancelled
from legato.runtime.registry import StepDef, WorkflowDef, workflow_def

if TYPE_CHECKING:
    from legato.runtime.run import Run

COMPENSATED = "compensated"
COMPENSATION_FAILED = "compensation failed"


def _step_def(fn: Callable[..., Any]) -> StepDef:
    sdef = getattr(fn, "__legato_step__", None)
    if isinstance(sdef, StepDef):
        return sdef
    import inspect

    return StepDef(fn=fn, name=getattr(fn, "__qualname__", repr(fn)), retry=DEFAULT_RETRY,
                   timeout=None, is_async=inspect.iscoroutinefunction(fn))


class Saga:
    """Compensations for the work done so far; see the module docstring."""

    def __init__(self, run: Run, *, parallel: bool = False) -> None:
        self._run = run
        self.parallel = parallel
        self._compensations: list[tuple[StepDef, tuple[Any, ...], dict[str, Any]]] = []
        self._children: list[tuple[int, WorkflowDef, tuple[Any, ...]]] = []
        self.compensated = False

    def add(self, compensation: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Register ``compensation(*args, **kwargs)`` to undo the work just done: a
        ``@legato.step``, a ``@legato.workflow`` (run as a child workflow), or a plain
        function (run as a step with the default retry policy)."""
        wdef = workflow_def(compensation)
        if wdef is not None:
            self._children.append((len(self._compensations), wdef, args))
        self._compensations.append((_step_def(compensation), args, kwargs))

    @property
    def pending(self) -> int:
        return len(self._compensations)

    def compensate(self) -> None:
        """Run the registered compensations (newest first, or all at once if ``parallel``)
        as durable steps, shielded from cancellation. Idempotent."""
        run = self._run
        children = {i: (wdef, args) for i, wdef, args in self._children}
        count = len(self._compensations)
        items, self._compensations, self._children = self._compensations[::-1], [], []
        run.shield += 1
        try:
            if self.parallel and len(items) > 1 and not children:
                run.parallel_steps(items, limit=len(items), fail_fast=False)
            else:
                for n, (sdef, args, kwargs) in enumerate(items):
                    child = children.get(count - 1 - n)
                    if child is not None:
                        run.child(child[0], child[1], None)
                    else:
                        run.step(sdef, args, kwargs)
        except Exception:
            run.detail = COMPENSATION_FAILED
            raise
        finally:
            run.shield -= 1
        self.compensated = True
        run.detail = COMPENSATED

    # --- with / async with ----------------------------------------------------------------

    def __enter__(self) -> Saga:
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and isinstance(exc, Exception | Cancelled):
            self.compensate()
        # returning None: the original error (or cancellation) goes on

    async def __aenter__(self) -> Saga:
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(et, exc, tb)
