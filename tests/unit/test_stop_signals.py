"""`legato worker` waits for SIGINT/SIGTERM with legato.cli.signals.StopSignals.

The bug report this answers: a worker sent SIGTERM sometimes never stopped. Its handler called
``threading.Event.set()`` while the main thread was inside ``Event.wait()``; when the signal
landed as the wait took the Event's lock back, the handler blocked on that lock for ever. The
storm below hits that window within a few hundred signals with an Event (it hung, or died of
RecursionError as later signals piled up in the blocked handler); StopSignals holds no lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

ROUNDS = 1500

CHILD = textwrap.dedent(f"""
    import os, sys
    from legato.cli.signals import StopSignals
    with StopSignals() as stop:
        print(os.getpid(), flush=True)
        for _ in range({ROUNDS}):
            stop.wait(0.0002)
            stop.seen.clear()
        print("done", flush=True)
        os._exit(0)  # still inside: the storm goes on, and SIGTERM's default would kill it
""")


def test_a_storm_of_stop_signals_never_wedges_the_waiting_main_thread() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        sent = 0
        end = time.monotonic() + 30
        while child.poll() is None and time.monotonic() < end:
            os.kill(pid, signal.SIGTERM)
            sent += 1
            time.sleep(0.001)
        try:
            out, err = child.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the child no longer answers after {sent} signals") from None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, f"after {sent} signals: exit {child.returncode}\n{err[-2000:]}"
    assert out.strip() == "done"


def test_second_signal_exits_at_once_with_the_given_code() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import os, time
            from legato.cli.signals import StopSignals
            with StopSignals(second_exit=7, second_message="second signal\\n") as stop:
                print(os.getpid(), flush=True)
                stop.wait(0.01)
                print("stopping", stop.name, flush=True)
                time.sleep(60)  # a slow shutdown, cut short by the second signal
        """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        os.kill(pid, signal.SIGINT)
        assert child.stdout.readline().strip() == "stopping SIGINT"
        os.kill(pid, signal.SIGTERM)
        assert child.wait(timeout=10) == 7
        assert child.stderr is not None and "second signal" in child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_handlers_are_restored_on_exit() -> None:
    from legato.cli.signals import StopSignals

    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        assert not stop.requested and stop.name == "signal"
    assert signal.getsignal(signal.SIGTERM) == before
