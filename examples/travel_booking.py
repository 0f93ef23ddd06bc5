"""Travel booking: a saga. Flight, hotel and car are booked; the car fails for good, so the
hotel and the flight are cancelled, newest first, and the timeline shows the compensation.

Run it:  .venv/bin/python examples/travel_booking.py
"""

from __future__ import annotations

import sys
import tempfile

import legato

NO_RETRY = legato.RetryPolicy(max_attempts=1)


@legato.step
def book_flight(trip: str) -> str:
    return f"FL-{trip}"


@legato.step
def book_hotel(trip: str) -> str:
    return f"HT-{trip}"


@legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.05))
def book_car(trip: str) -> str:
    raise RuntimeError("no cars available at the destination")


@legato.step
def cancel_flight(ref: str) -> str:
    # a real airline API would take legato.step_key() to make the cancellation idempotent
    return f"cancelled {ref}"


@legato.step
def cancel_hotel(ref: str) -> str:
    return f"cancelled {ref}"


@legato.workflow(name="book_trip")
def book_trip(ctx: legato.WorkflowContext, trip: str) -> dict[str, str]:
    with ctx.saga() as saga:
        flight = book_flight(trip)
        saga.add(cancel_flight, flight)  # registered only once the booking succeeded
        hotel = book_hotel(trip)
        saga.add(cancel_hotel, hotel)
        car = book_car(trip)  # fails for good: cancel_hotel, then cancel_flight run
    return {"flight": flight, "hotel": hotel, "car": car}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, legato.Engine(f"sqlite:///{tmp}/trips.db") as e:
        handle = e.start(book_trip, "trip-7")
        try:
            handle.result(timeout=30)
        except legato.WorkflowFailed as failed:
            print(f"{handle.workflow_id} ended {failed.status} "
                  f"({handle.describe()['detail']}): {failed.error['message']}")
        t0 = handle.history()[0]["at"]
        for ev in handle.history():
            extra = ev.get("result") or ev.get("error", {}).get("message", "")
            print(f"  {ev['seq']:>3} +{ev['at'] - t0:6.3f}s {ev['type']:<18} "
                  f"{ev.get('name', ''):<14} {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
