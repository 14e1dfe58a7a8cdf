"""Reservations: quantity held against a hard limit between "may I?" and "I did".

A check alone races: many callers near a hard limit all hear "allow" before
any of their usage is counted. A reservation closes the race. It lives in the
license's own state (``LicenseState.reservations``, changelogged with the
usage), and every request for a license is answered by the one worker owning
it, on its event loop, with no ``await`` between reading the state and writing
the reservation back: two reservations can never both see the same headroom.

The headroom of a hard limit is ``limit - used - held``, where ``held`` sums
the open reservations of that metric. A reservation ends when usage naming it
is counted (the actual amount counts, the rest is released), when the caller
cancels it, or when it expires (``expires_us``, event-loop wall clock).
"""

from __future__ import annotations

import uuid
from typing import Iterable

from .state import LicenseState, Reservation


def held(state: LicenseState, metric: str, now_us: int) -> int:
    """Unscaled quantity of ``metric`` held by the reservations still open at ``now_us``."""
    return sum(r.quantity for r in state.reservations.values() if r.metric == metric and r.expires_us > now_us)


def expire(state: LicenseState, now_us: int) -> int:
    """Forget the reservations expired at ``now_us``; return how many."""
    gone = [rid for rid, r in state.reservations.items() if r.expires_us <= now_us]
    for rid in gone:
        del state.reservations[rid]
    return len(gone)


def new_id() -> str:
    """A reservation id: random, so one cannot be guessed from another."""
    return "rsv_" + uuid.uuid4().hex


def hold(state: LicenseState, metric: str, quantity: int, expires_us: int, decision_id: str) -> str:
    """Open a reservation (the caller has judged the headroom in the same synchronous step); return its id."""
    rid = new_id()
    state.reservations[rid] = Reservation(metric, quantity, expires_us, decision_id)
    return rid


def release(state: LicenseState, reservation_id: str) -> Reservation | None:
    """Close one reservation (cancelled by its caller); None if it was not open."""
    return state.reservations.pop(reservation_id, None)


def capture(state: LicenseState, reservation_ids: Iterable[str | None]) -> int:
    """Close the reservations that counted usage names (its actual amount is counted instead); return how many."""
    closed = 0
    for rid in set(reservation_ids):
        if rid and state.reservations.pop(rid, None) is not None:
            closed += 1
    return closed
