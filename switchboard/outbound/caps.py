"""Caps (OUTBOUND_LIMITS): may this request be sent, or is it over a limit? (policies/limits.py, records/limits.py)

The worker asks before it claims the request (outbound/worker.py, handle_message): a request over a limit
is `rejected` with reason `limit:<rule>` and never reaches Twilio. The counters are shared by every host and
count each request id once, so a redelivered message, a deferral's copy or a retry never counts again.
POST /api/outbound asks too, without counting, to answer 429 with Retry-After at once; the worker's check
still decides (two producers may race for the last unit).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from switchboard.outbound.contract import RAW_LIMIT, OutboundRequest, Rejection
from switchboard.policies.limits import Rule, reason, rules_for
from switchboard.records.limits import ALLOWED, Verdict
from switchboard.settings import Settings
from switchboard.shared.phones import mask
from switchboard.shared.text import clip

if TYPE_CHECKING:
    from switchboard.records.store import RecordStore

log = logging.getLogger("switchboard.outbound")


class Counters(Protocol):
    """The port to the shared counters (records/limits.py's LimitCounters)."""

    def admit(self, rules: Sequence[Rule], request_id: str, number: str, now: float, *, key: bytes) -> Verdict: ...

    def peek(self, rules: Sequence[Rule], number: str, now: float, *, key: bytes) -> Verdict: ...


class Deps(Protocol):
    """What over_limit needs of the worker's Deps (outbound/worker.py)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> RecordStore: ...
    @property
    def limits(self) -> Counters | None: ...
    @property
    def now(self) -> Callable[[], datetime]: ...


def over_limit(request: OutboundRequest, body: bytes, deps: Deps) -> Rejection | None:
    """Count the request in every limit that applies; a Rejection naming the rule when one is full.

    A request that has a record already is never refused here: it was taken before (counted then, or before
    these caps were set), and its record decides what happens to it (a deferral's copy must not be dropped).
    """
    settings, counters = deps.settings, deps.limits
    rules = rules_for(settings.outbound_limits, request.type)
    if counters is None or not rules:
        return None
    verdict = counters.admit(rules, request.id, request.number, deps.now().timestamp(), key=settings.limits_key)
    if verdict.allowed or verdict.rule is None or deps.store.get(request.id) is not None:
        return None
    log.warning(
        "Outbound %s %s to %s is over %s (room again in %d s): not sent",
        request.type, request.id, mask(request.number), reason(verdict.rule), math.ceil(verdict.retry_after),
    )  # fmt: skip
    return Rejection(
        request.id, reason(verdict.rule), clip(body.decode("utf-8", errors="replace"), RAW_LIMIT),
        type=request.type, to=request.to, from_=request.from_, id_given=request.id_given,
    )  # fmt: skip


def enqueue_verdict(request: OutboundRequest, settings: Settings, counters: Counters, now: datetime) -> Verdict:
    """Is a request over a limit already at enqueue time? Reads only; storage trouble lets it through."""
    rules = rules_for(settings.outbound_limits, request.type)
    if not rules:
        return ALLOWED
    try:
        return counters.peek(rules, request.number, now.timestamp(), key=settings.limits_key)
    except Exception as error:  # the worker's check still holds: an unreadable counter must not stop the enqueue
        log.warning("Could not read the limit counters for %s: %s", request.id, type(error).__name__)
        return ALLOWED
