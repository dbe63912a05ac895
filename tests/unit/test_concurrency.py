"""eks_auditor.concurrency: the limiter, single-flight cache, ordered map. No AWS, no timing asserts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from eks_auditor.concurrency import Limiter, SingleFlight, gather, limiter_key, map_bounded


class InFlight:
    """Counts work in flight per key and overall; each item holds its slot until `limit` items of its key
    are in flight or its key has none left to start (5 s at most), so the bound is observed, not luck.
    """

    def __init__(self, items: list[tuple[str, int]], limit: int) -> None:
        self.limit = limit
        self.left = Counter(key for key, _ in items)
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.total = 0
        self.peak_total = 0
        self.cond = threading.Condition()

    def __call__(self, item: tuple[str, int]) -> tuple[str, int]:
        key = item[0]
        with self.cond:
            self.left[key] -= 1
            self.now[key] += 1
            self.total += 1
            self.peak[key] = max(self.peak[key], self.now[key])
            self.peak_total = max(self.peak_total, self.total)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.now[key] >= self.limit or self.left[key] == 0, timeout=5)
            self.now[key] -= 1
            self.total -= 1
            self.cond.notify_all()
        return item


def test_never_more_than_the_per_key_limit_in_flight() -> None:
    items = [(region, i) for i in range(12) for region in ("us-east-1", "eu-west-1", "ap-south-1")]
    work = InFlight(items, limit=2)
    limiter = Limiter(total=6, per_key=2)
    attempts = map_bounded(work, items, key=lambda item: item[0], limiter=limiter)
    assert [a.value for a in attempts] == items  # input order, whatever finished first
    assert dict(work.peak) == {"us-east-1": 2, "eu-west-1": 2, "ap-south-1": 2}
    assert limiter.peak_per_key == {"us-east-1": 2, "eu-west-1": 2, "ap-south-1": 2}


def test_a_full_key_does_not_hold_back_other_keys_work() -> None:
    # Items in key order, as a scan lists them region by region. The total allows both keys' slots at
    # once: every item waits until 2 of its key and 2 of the other are in flight together, which only
    # happens when the pool's threads are not stuck waiting for the first key's slots.
    items = [("us-east-1", i) for i in range(4)] + [("eu-west-1", i) for i in range(4)]
    together = threading.Barrier(4, timeout=5)

    def work(item: tuple[str, int]) -> tuple[str, int]:
        together.wait()
        return item

    limiter = Limiter(total=4, per_key=2)
    attempts = map_bounded(work, items, key=lambda item: item[0], limiter=limiter)
    assert [a.error for a in attempts] == [None] * 8
    assert [a.value for a in attempts] == items
    assert limiter.peak_in_flight == 4


@pytest.mark.parametrize("inner_items", [1, 3])
def test_work_nested_in_an_item_runs_in_its_slot(inner_items: int) -> None:
    # A worker batch audits its clusters under the limiter and each audit calls the dispatcher, which
    # bounds its own audits with the same limiter and key: with as many outer items as the key has slots,
    # fresh slots for the inner work would never come.
    limiter = Limiter(total=4, per_key=2)

    def audit(cluster: int) -> list[int]:
        inner = map_bounded(lambda n: n, list(range(inner_items)), key=lambda _: "k", limiter=limiter)
        return [cluster, *(a.value for a in inner if a.value is not None)]

    outcome: list[list[object]] = []
    worker = threading.Thread(
        target=lambda: outcome.append(map_bounded(audit, [0, 1, 2, 3], key=lambda _: "k", limiter=limiter)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "nested map_bounded waited forever for a slot"
    assert [a.value for a in outcome[0]] == [[c, *range(inner_items)] for c in range(4)]
    assert limiter.peak_per_key == {"k": 2}


def test_never_more_than_the_total_limit_in_flight() -> None:
    items = [("us-east-1", i) for i in range(12)]
    work = InFlight(items, limit=3)
    limiter = Limiter(total=3, per_key=8)
    map_bounded(work, items, key=lambda item: item[0], limiter=limiter)
    assert (work.peak_total, limiter.peak_in_flight, limiter.per_key) == (3, 3, 3)


def test_limit_of_one_runs_in_order_on_the_calling_thread() -> None:
    threads: list[str] = []
    attempts = map_bounded(
        lambda i: threads.append(threading.current_thread().name) or i,
        list(range(5)),
        key=lambda _: "k",
        limiter=Limiter(1, 1),
    )
    assert [a.value for a in attempts] == [0, 1, 2, 3, 4]
    assert set(threads) == {threading.current_thread().name}


def test_an_item_error_is_its_own_outcome() -> None:
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("two")
        return i

    attempts = map_bounded(work, [1, 2, 3], key=lambda _: "k", limiter=Limiter(4, 4))
    assert [a.value for a in attempts] == [1, None, 3]
    assert [type(a.error).__name__ if a.error else None for a in attempts] == [None, "ValueError", None]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttling_halves_the_key_limit_pauses_it_and_successes_earn_slots_back() -> None:
    clock = FakeClock()
    limiter = Limiter(16, 8, clock=clock, jitter=lambda ceiling: ceiling)
    key = limiter_key("111122223333", "us-east-1")
    other = limiter_key("111122223333", "eu-west-1")
    limiter.throttled(key)
    limiter.throttled(key)
    assert (limiter.limit_of(key), limiter.limit_of(other)) == (2, 8)

    # Paused: new work for the key waits until the jittered pause is over; other keys are not held.
    started = threading.Event()

    def acquire() -> None:
        limiter.acquire(key)
        started.set()

    limiter.acquire(other)
    limiter.release(other)
    thread = threading.Thread(target=acquire)
    thread.start()
    assert not started.wait(0.2)
    clock.now += 10
    with limiter._cond:
        limiter._cond.notify_all()
    assert started.wait(5)
    thread.join()
    limiter.release(key)
    assert limiter.limit_of(key) == 3  # additive increase after the pause
    for _ in range(10):
        limiter.acquire(key)
        limiter.release(key)
    assert limiter.limit_of(key) == 8  # never above the configured limit


def test_throttled_region_backs_off_every_account_in_that_region() -> None:
    limiter = Limiter(16, 8, jitter=lambda _: 0.0)
    for key in (limiter_key("a", "us-east-1"), limiter_key("b", "us-east-1"), limiter_key("a", "eu-west-1")):
        limiter.acquire(key)
        limiter.release(key)
    limiter.throttled_region("us-east-1")
    assert [limiter.limit_of(limiter_key(a, r)) for a, r in (("a", "us-east-1"), ("b", "us-east-1"))] == [
        4,
        4,
    ]
    assert limiter.limit_of(limiter_key("a", "eu-west-1")) == 8


def test_limits_below_one_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Limiter(0, 1)


def test_single_flight_fetches_once_under_contention_and_keys_in_parallel() -> None:
    cache: SingleFlight[str, int] = SingleFlight()
    calls: Counter[str] = Counter()
    arrived = threading.Semaphore(0)
    waiting = 8

    def fetch(key: str) -> int:
        calls[key] += 1
        # Hold the fetch until every caller has arrived, so they all contend for the one in flight.
        for _ in range(waiting):
            arrived.acquire(timeout=5)
        time.sleep(0.05)
        return len(key)

    def caller(key: str) -> int:
        arrived.release()
        return cache.get(key, lambda: fetch(key))

    keys = ["vpc-a"] * waiting
    results = map_bounded(caller, keys, key=lambda _: "k", limiter=Limiter(waiting, waiting))
    assert [r.value for r in results] == [5] * waiting
    assert calls == Counter({"vpc-a": 1})
    assert cache.get("vpc-b", lambda: 7) == 7


def test_single_flight_caches_declared_errors_only() -> None:
    cache: SingleFlight[str, int] = SingleFlight(cached_errors=(PermissionError,))
    calls: Counter[str] = Counter()

    def denied() -> int:
        calls["denied"] += 1
        raise PermissionError("AccessDenied")

    def flaky() -> int:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise TimeoutError("once")
        return 1

    for _ in range(2):
        with pytest.raises(PermissionError):
            cache.get("a", denied)
    with pytest.raises(TimeoutError):
        cache.get("b", flaky)
    assert cache.get("b", flaky) == 1
    assert calls == Counter({"denied": 1, "flaky": 2})


def test_keys_with_the_most_waiting_items_start_first() -> None:
    # Items region by region, as a scan lists them. Started in input order, the third region would wait
    # until the first two were nearly done and then run alone at its per-key limit; started by most
    # items waiting, the regions take turns from the first slot on.
    items = [(region, i) for region in ("us-east-1", "eu-west-1", "ap-south-1") for i in range(4)]
    started: list[str] = []
    lock = threading.Lock()

    def work(item: tuple[str, int]) -> tuple[str, int]:
        with lock:
            started.append(item[0])
        return item

    limiter = Limiter(total=2, per_key=2)
    attempts = map_bounded(work, items, key=lambda item: item[0], limiter=limiter)
    assert [a.value for a in attempts] == items  # results stay in input order
    # The first three items handed out come from three different regions.
    assert set(started[:3]) == {"us-east-1", "eu-west-1", "ap-south-1"}


def test_gather_runs_the_calls_together_and_returns_them_by_name() -> None:
    # Three calls that each wait for the other two: they finish only if all three run at once.
    together = threading.Barrier(3, timeout=5)

    def call(value: int) -> Callable[[], int]:
        def run() -> int:
            together.wait()
            return value

        return run

    assert gather({"a": call(1), "b": call(2), "c": call(3)}, in_flight=3) == {"a": 1, "b": 2, "c": 3}


def test_gather_with_one_in_flight_runs_in_order_on_the_calling_thread() -> None:
    seen: list[tuple[str, str]] = []

    def call(name: str) -> Callable[[], str]:
        def run() -> str:
            seen.append((name, threading.current_thread().name))
            return name

        return run

    assert gather({"x": call("x"), "y": call("y")}, in_flight=1) == {"x": "x", "y": "y"}
    assert seen == [("x", threading.current_thread().name), ("y", threading.current_thread().name)]


def test_gather_raises_the_first_failure_in_order_after_every_call_ended() -> None:
    ended: list[str] = []
    second_failed = threading.Event()

    def first() -> str:
        second_failed.wait(timeout=5)  # fails after the second has failed
        ended.append("first")
        raise KeyError("first")

    def second() -> str:
        ended.append("second")
        second_failed.set()
        raise ValueError("second")

    def third() -> str:
        ended.append("third")
        return "ok"

    with pytest.raises(KeyError):
        gather({"first": first, "second": second, "third": third}, in_flight=3)
    assert sorted(ended) == ["first", "second", "third"]


def test_gather_on_a_shared_pool_keeps_to_its_own_limit() -> None:
    # A long-lived pool larger than the gather's limit: never more than `in_flight` of its calls at once.
    items = [("k", i) for i in range(9)]
    work = InFlight(items, limit=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        calls = {str(i): (lambda item=item: work(item)) for i, item in enumerate(items)}
        assert gather(calls, in_flight=3, pool=pool) == {str(i): item for i, item in enumerate(items)}
    assert work.peak_total == 3
