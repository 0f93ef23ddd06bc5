"""Customer onboarding: two concurrent branches in one workflow (``ctx.branches``).

One branch creates the account and sends the welcome mail; the other runs the compliance
checks, with a durable pause between them. Both run at the same time; the workflow goes on
when both are done. The run is stopped half way (the worker shuts down while the checks
pause) and a second engine on the same file finishes it: each branch resumes where it was,
and no completed step runs again. The timeline shows which branch (lane) recorded what.

Run it:  .venv/bin/python examples/onboarding.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

import legato
from legato.testing import VirtualClock

RAN: list[str] = []  # every step execution, to show that none ran twice


@legato.step
def create_account(email: str) -> str:
    RAN.append("create_account")
    time.sleep(0.2)  # a slow API: the checks branch runs meanwhile
    return f"acct-{email.split('@')[0]}"


@legato.step
def send_welcome(account: str) -> str:
    RAN.append("send_welcome")
    return f"welcome mail to {account}"


@legato.step
def kyc_check(email: str) -> bool:
    RAN.append("kyc_check")
    time.sleep(0.2)
    return True


@legato.step
def sanctions_check(email: str) -> bool:
    RAN.append("sanctions_check")
    return not email.endswith("@blocked.example")


@legato.step
def activate(account: str, cleared: bool) -> str:
    RAN.append("activate")
    return f"{account} {'active' if cleared else 'on hold'}"


@legato.workflow(name="onboard")
def onboard(ctx: legato.WorkflowContext, email: str) -> dict[str, Any]:
    def account() -> str:
        acct = create_account(email)
        send_welcome(acct)
        return acct

    def checks() -> bool:
        ok = kyc_check(email)
        ctx.sleep(3600)  # the sanctions list refreshes hourly: a durable timer, no thread held
        return ok and sanctions_check(email)

    acct, cleared = ctx.branches([account, checks])
    return {"account": acct, "status": activate(acct, cleared)}


def main() -> int:
    clock = VirtualClock()  # so the hour passes at once
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/onboarding.db"
        with legato.Engine(url, clock=clock) as first:
            handle = first.start(onboard, "ada@example.com", workflow_id="onboard-ada")
            handle.wait_status("WAITING", timeout=10)  # both branches as far as they go
        print(f"first worker stopped with {handle.workflow_id} WAITING; ran: {RAN}")
        with legato.Engine(url, clock=clock) as second:
            clock.advance(3601)
            h = second.handle("onboard-ada")
            print("result:", h.result(timeout=10))
            print(f"steps run: {RAN} (each once)")
            t0 = h.history()[0]["at"]
            for ev in h.history():
                print(f"  {ev['seq']:>3} +{ev['at'] - t0:8.3f}s {ev['type']:<17} "
                      f"{ev.get('name', ''):<16} lane {ev.get('lane', '-')}")
    assert sorted(RAN) == sorted(set(RAN)), RAN
    return 0


if __name__ == "__main__":
    sys.exit(main())
