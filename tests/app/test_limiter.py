"""The AIMD concurrency limit: halve on overload (once per window), grow by one per window of
successes, probe slowly past the level that met an overload, floor 1, ceiling --concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from hrupload.app.limiter import AimdLimit, ConcurrencyGate, Signal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fill(limit: AimdLimit) -> list:
    """Admit requests until the limit refuses one."""
    tickets = []
    while (ticket := limit.try_acquire()) is not None:
        tickets.append(ticket)
    return tickets


def succeed(limit: AimdLimit, count: int) -> None:
    """``count`` successes with the limit kept full, as a busy upload keeps it."""
    held = fill(limit)
    for _ in range(count):
        limit.release(held.pop(), Signal.SUCCESS)
        held += fill(limit)
    for ticket in held:
        limit.release(ticket, Signal.OTHER)


def succeed_window(limit: AimdLimit) -> None:
    succeed(limit, limit.limit)


def test_it_starts_at_the_ceiling_and_admits_no_more() -> None:
    limit = AimdLimit(12)

    assert (limit.limit, len(fill(limit))) == (12, 12)
    assert limit.try_acquire() is None
    assert AimdLimit(12, start=30).limit == 12 and AimdLimit(12, start=0).limit == 1
    assert AimdLimit(0).limit == 1  # a ceiling below one still lets one through


def test_a_burst_of_overloads_from_one_window_halves_once() -> None:
    limit = AimdLimit(12, clock=Clock())
    tickets = fill(limit)

    for ticket in tickets[:8]:  # one overload: eight 429s for requests sent together
        limit.release(ticket, Signal.OVERLOAD)

    assert (limit.limit, limit.decreases) == (6, 1)


def test_overloads_after_a_decrease_halve_again_down_to_one() -> None:
    limit = AimdLimit(12, clock=Clock())
    levels = []
    for _ in range(6):
        for ticket in fill(limit):
            limit.release(ticket, Signal.OVERLOAD)
        levels.append(limit.limit)

    assert levels == [6, 3, 1, 1, 1, 1]
    assert limit.lowest == 1


def test_successes_grow_it_by_one_per_window_up_to_the_ceiling() -> None:
    limit = AimdLimit(8, start=2)
    levels = []
    for _ in range(8):
        succeed_window(limit)
        levels.append(limit.limit)

    assert levels == [3, 4, 5, 6, 7, 8, 8, 8]


def test_fewer_successes_than_a_window_do_not_grow_it() -> None:
    limit = AimdLimit(8, start=4)
    succeed(limit, 3)

    assert limit.limit == 4
    succeed(limit, 1)
    assert limit.limit == 5


def test_successes_below_the_limit_say_nothing_about_a_higher_one() -> None:
    limit = AimdLimit(8, start=4)
    for _ in range(20):  # one request at a time: the limit was never what held them back
        limit.release(limit.try_acquire(), Signal.SUCCESS)

    assert limit.limit == 4


def test_other_failures_leave_it_alone() -> None:
    limit = AimdLimit(8, start=4)
    for _ in range(10):
        for ticket in fill(limit):
            limit.release(ticket, Signal.OTHER)

    assert (limit.limit, limit.in_flight, limit.decreases) == (4, 0, 0)


def test_past_the_level_that_met_an_overload_it_probes_only_now_and_then() -> None:
    clock = Clock()
    limit = AimdLimit(12, start=6, probe_interval=10.0, clock=clock)
    held = fill(limit)
    limit.release(held.pop(), Signal.OVERLOAD)  # 6 was too many: down to 3
    for ticket in held:
        limit.release(ticket, Signal.OTHER)
    assert limit.limit == 3

    for _ in range(5):
        succeed_window(limit)
    assert limit.limit == 5  # back up quickly while below 6

    for _ in range(20):
        clock.now += 0.25
        succeed_window(limit)
    assert limit.limit == 5  # 5 s of successes: not yet 6

    clock.now += 5.0
    succeed_window(limit)
    assert limit.limit == 6  # one probe after 10 s
    for _ in range(20):
        succeed_window(limit)
    assert limit.limit == 6  # and the next step waits another 10 s
    clock.now += 10.0
    succeed_window(limit)
    assert limit.limit == 7


def test_a_failed_probe_halves_and_the_level_under_it_is_reached_quickly() -> None:
    clock = Clock()
    limit = AimdLimit(12, start=10, probe_interval=10.0, clock=clock)
    held = fill(limit)
    limit.release(held.pop(), Signal.OVERLOAD)  # 10 -> 5, overloaded at 10
    for ticket in held:
        limit.release(ticket, Signal.OTHER)
    clock.now += 30
    for _ in range(30):
        succeed_window(limit)
    assert limit.limit == 10  # 5..9 quickly, 10 probed
    for ticket in fill(limit):
        limit.release(ticket, Signal.OVERLOAD)  # the probe met an overload: 10 -> 5 again
    assert limit.limit == 5

    for _ in range(10):
        succeed_window(limit)

    assert limit.limit == 9


@pytest.mark.parametrize("ceiling", [1, 3, 12])
def test_the_gate_never_lets_more_through_than_the_limit(ceiling: int) -> None:
    gate = ConcurrencyGate(AimdLimit(ceiling))
    lock = threading.Lock()
    in_flight, peak, overloads = [0], [0], [0]

    def request(i: int) -> None:
        ticket = gate.acquire()
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.002)
        with lock:
            in_flight[0] -= 1
        overload = i % 7 == 0 and overloads[0] < 3
        if overload:
            overloads[0] += 1
        gate.release(ticket, Signal.OVERLOAD if overload else Signal.SUCCESS)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert not any(t.is_alive() for t in threads)  # nobody left waiting
    assert 1 <= peak[0] <= ceiling
    assert gate.lowest <= max(1, ceiling // 2) and gate.decreases >= 1
