"""How many upload requests to keep in flight: additive increase, multiplicative decrease.

``--concurrency`` is a ceiling, not a promise the service can keep: the HR connector's
capacity is not documented and is shared with other tenants. An overloaded service says so
with 429 or 503 (or stops answering in time); each of those costs a Retry-After pause for
every request, so the number in flight is halved at the first one, then grown back by one
per window of successes, and only slowly (one step per ``probe_interval``) past the level
that last met an overload.

:class:`AimdLimit` decides and does nothing else (no threads, no I/O, the clock comes in);
:class:`ConcurrencyGate` is the thin thread-safe wrapper the connector client waits on.

Why it starts at the ceiling, not low: against a service with room (the normal case) a
slow start would cost every upload its ramp (the 1M-row benchmark must stay within 4 s),
while against an overloaded one starting high costs one round of quick 429s and a pause,
after which the limit is already halved. The ceiling was measured as the useful maximum
on the stand-in (docs/benchmarks.md, "Upload").
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Past the level that last met an overload, one step up at most this often (seconds).
#: Each failed probe costs every request a Retry-After pause (a second or more), so probing
#: every window (as TCP does, where a loss costs one round trip) would keep the service
#: overloaded; every 10 s costs at most a pause in ten seconds.
PROBE_INTERVAL = 10.0


class Signal(enum.Enum):
    """What one request's outcome says about the service's load."""

    SUCCESS = "success"
    #: 429, 503 or a read timeout: the service has more than it can take.
    OVERLOAD = "overload"
    #: Any other outcome (a refusal, a connection error): says nothing about load.
    OTHER = "other"


@dataclass(frozen=True)
class Ticket:
    """A request admitted under the limit; ``generation`` counts the decreases before it."""

    generation: int


class AimdLimit:
    """The AIMD decision: the current limit, requests in flight, and how outcomes move it.

    * an overload halves the limit (floor 1), at most once per *window*: an overload from a
      request admitted before the last decrease reports the load that decrease already
      answered, so a burst of 429s from one overload halves once, not down to 1;
    * after ``limit`` successes (a window's worth) the limit grows by one, up to ``ceiling``;
      to a level at or above the one that last met an overload only once ``probe_interval``
      seconds have passed since the last decrease or probe;
    * successes while fewer requests were in flight than allowed do not grow it: the limit
      was not what bounded them, so they say nothing about a higher one.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        start: int | None = None,
        probe_interval: float = PROBE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling if start is None else min(max(1, start), self.ceiling)
        self.probe_interval = probe_interval
        self.in_flight = 0
        #: How often the limit was halved, and the lowest it went (for tests and benchmarks).
        self.decreases = 0
        self.lowest = self.limit
        self._clock = clock
        self._generation = 0
        self._successes = 0
        self._overloaded_at: int | None = None  # the level that last met an overload
        self._last_change = -math.inf  # the last decrease or probe

    def try_acquire(self) -> Ticket | None:
        """Admit one request, or None while the limit is reached."""
        if self.in_flight >= self.limit:
            return None
        self.in_flight += 1
        return Ticket(self._generation)

    def release(self, ticket: Ticket, signal: Signal) -> None:
        """The request admitted with ``ticket`` ended with ``signal``."""
        saturated = self.in_flight >= self.limit
        self.in_flight = max(0, self.in_flight - 1)
        if signal is Signal.OVERLOAD:
            self._overload(ticket)
        elif signal is Signal.SUCCESS and saturated:
            self._success()

    def _overload(self, ticket: Ticket) -> None:
        if ticket.generation < self._generation:
            return  # admitted before the last decrease: the overload it already answered
        self._overloaded_at = self.limit
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self.decreases += 1
        self._generation += 1
        self._successes = 0
        self._last_change = self._clock()

    def _success(self) -> None:
        self._successes += 1
        if self._successes < self.limit or self.limit >= self.ceiling:
            return
        step = self.limit + 1
        if self._overloaded_at is not None and step >= self._overloaded_at:
            # Where the service said no: probe one step, now and then.
            now = self._clock()
            if now - self._last_change < self.probe_interval:
                return
            self._last_change = now
            self._overloaded_at = step + 1  # held until an overload says otherwise
        self.limit = step
        self._successes = 0


class ConcurrencyGate:
    """Holds requests back while :class:`AimdLimit` says the limit is reached; thread-safe.

    One gate per connector client, shared by every thread uploading through it.
    """

    def __init__(self, limit: AimdLimit) -> None:
        self._limit = limit
        self._changed = threading.Condition()

    @classmethod
    def adaptive(cls, ceiling: int) -> ConcurrencyGate:
        """The gate every front door uses: AIMD between 1 and ``ceiling`` (``--concurrency``)."""
        return cls(AimdLimit(ceiling))

    @property
    def limit(self) -> int:
        return self._limit.limit

    @property
    def ceiling(self) -> int:
        return self._limit.ceiling

    @property
    def lowest(self) -> int:
        return self._limit.lowest

    @property
    def decreases(self) -> int:
        return self._limit.decreases

    def acquire(self) -> Ticket:
        """Wait until one more request may go out."""
        with self._changed:
            while (ticket := self._limit.try_acquire()) is None:
                self._changed.wait()
            return ticket

    def release(self, ticket: Ticket, signal: Signal) -> None:
        with self._changed:
            self._limit.release(ticket, signal)
            self._changed.notify_all()  # the limit may have grown by more than one slot
