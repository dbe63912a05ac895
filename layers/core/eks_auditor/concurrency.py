"""Bounded concurrency for audits: a per-key limiter with throttling backoff, single-flight, ordered maps.

The limiter bounds work in flight overall and per key (account, region): EC2 Describe* calls share one
token bucket per account-region (100 tokens, refilling 20/s) with the member's own workloads, so a scan
must not take the whole bucket. When AWS throttles a key, its limit halves and new work for that key
waits a jittered pause; each success after that earns one slot back (additive increase), up to the
configured limit. botocore's standard retry mode still retries the throttled call itself.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eks_auditor.config import MAX_CONCURRENCY, MAX_CONCURRENCY_PER_ACCOUNT_REGION

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
    }
)
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0


def limiter_key(account: str, region: str) -> tuple[str, str]:
    return (account, region)


@dataclass
class _KeyState:
    limit: int
    in_flight: int = 0
    not_before: float = 0.0
    throttles: int = 0


class Limiter:
    """At most `total` slots in flight overall and `per_key` per key; halves a key's limit when throttled.

    `clock`, `sleep_jitter` and `wait` are injectable so tests are deterministic.
    """

    def __init__(
        self,
        total: int = MAX_CONCURRENCY,
        per_key: int = MAX_CONCURRENCY_PER_ACCOUNT_REGION,
        *,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[float], float] = lambda ceiling: random.uniform(0, ceiling),
    ) -> None:
        if total < 1 or per_key < 1:
            raise ValueError("concurrency limits must be at least 1")
        self.total = total
        self.per_key = min(per_key, total)
        self._clock = clock
        self._jitter = jitter
        self._cond = threading.Condition()
        self._in_flight = 0
        self._keys: dict[Hashable, _KeyState] = {}
        self._local = threading.local()
        self.peak_in_flight = 0
        self.peak_per_key: dict[Hashable, int] = {}

    def _state(self, key: Hashable) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState(limit=self.per_key)
        return state

    def acquire(self, key: Hashable) -> None:
        with self._cond:
            while True:
                wait = self._wait_for(key)
                if wait <= 0:
                    break
                self._cond.wait(timeout=wait if wait != float("inf") else None)
            self._take(key)

    def acquire_any(self, keys: Iterable[Hashable]) -> Hashable:
        """Block until one of `keys` has a free slot, take it and return that key (the first free in order).

        A scheduler with work for several keys waits for whichever frees first, instead of a worker
        blocking on a full key while another key's work waits in the queue behind it.
        """
        keys = list(keys)
        if not keys:
            raise ValueError("acquire_any needs at least one key")
        with self._cond:
            while True:
                waits = [self._wait_for(key) for key in keys]
                for key, wait in zip(keys, waits, strict=True):
                    if wait <= 0:
                        self._take(key)
                        return key
                wait = min(waits)
                self._cond.wait(timeout=wait if wait != float("inf") else None)

    def _wait_for(self, key: Hashable) -> float:
        """Seconds until `key` may start (0 or less: now; inf: when a slot frees). Holds self._cond."""
        state = self._state(key)
        if self._in_flight >= self.total or state.in_flight >= state.limit:
            return float("inf")
        return state.not_before - self._clock()

    def _take(self, key: Hashable) -> None:
        state = self._state(key)
        self._in_flight += 1
        state.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        self.peak_per_key[key] = max(self.peak_per_key.get(key, 0), state.in_flight)

    def release(self, key: Hashable, *, succeeded: bool = True) -> None:
        with self._cond:
            state = self._state(key)
            self._in_flight -= 1
            state.in_flight -= 1
            if succeeded and state.limit < self.per_key and self._clock() >= state.not_before:
                state.limit += 1
            self._cond.notify_all()

    def throttled(self, key: Hashable) -> None:
        """AWS throttled a call for `key`: halve its limit and pause new work for it (with jitter)."""
        with self._cond:
            state = self._state(key)
            state.throttles += 1
            state.limit = max(1, state.limit // 2)
            ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(state.throttles, 5))
            state.not_before = max(state.not_before, self._clock() + self._jitter(ceiling))
            self._cond.notify_all()

    def throttled_region(self, region: str) -> None:
        """Throttling seen by clients that do not know the account: every (account, `region`) key backs off.

        A single-account runtime's clients report this way; an organization scan, with one set of
        clients per account, calls `throttled(limiter_key(account, region))`.
        """
        with self._cond:
            keys = [key for key in self._keys if isinstance(key, tuple) and key[1:] == (region,)]
        for key in keys or [limiter_key("", region)]:
            self.throttled(key)

    def limit_of(self, key: Hashable) -> int:
        with self._cond:
            return self._state(key).limit

    @contextmanager
    def slot(self, key: Hashable) -> Iterator[None]:
        """A slot of `key` for the block; reentrant: work nested in a slot of `key` this thread holds
        (a worker's audit calling the dispatcher, which bounds its own audits) runs in that slot."""
        if self._held()[key] > 0:
            yield
            return
        self.acquire(key)
        succeeded = False
        try:
            with self.holding(key):
                yield
            succeeded = True
        finally:
            self.release(key, succeeded=succeeded)

    @contextmanager
    def holding(self, key: Hashable) -> Iterator[None]:
        """Mark the calling thread as running in a slot of `key` (taken for it by map_bounded)."""
        held = self._held()
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1

    def holds_any(self) -> bool:
        """Whether the calling thread runs in a slot of this limiter (its work is nested in an item's)."""
        return any(count > 0 for count in self._held().values())

    def _held(self) -> Counter[Hashable]:
        held: Counter[Hashable] | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = Counter()
        return held


@dataclass(frozen=True)
class Attempt[T]:
    """One item's result or the exception it raised (map_bounded never raises an item's error)."""

    value: T | None = None
    error: BaseException | None = None


def map_bounded[I, T](
    function: Callable[[I], T],
    items: Sequence[I],
    *,
    key: Callable[[I], Hashable],
    limiter: Limiter,
) -> list[Attempt[T]]:
    """`function` over `items` in a pool of `limiter.total` threads; outcomes in the order of `items`.

    The calling thread hands an item to the pool only once the limiter gave it a slot: a full
    account-region never holds pool threads while another account-region's items wait (with items in
    region order, handing them out in order left half of the 16 threads blocked on the first region's 8
    slots). Among the keys that can start, the one with the most items still waiting goes first (ties:
    the earliest item), so the keys finish together: taking keys in input order left the last region
    to run alone at the end, at its per-key limit, while the other slots stayed idle (a 60-cluster,
    3-region scan spent its last third with half the slots in use). With a limit of 1, or when called
    from within an item of another map_bounded on the same limiter, everything runs on the calling
    thread, in order (the sequential behaviour).
    """

    def run(item: I) -> Attempt[T]:
        try:
            return Attempt(value=function(item))
        except Exception as exc:  # one item's failure is its own outcome
            return Attempt(error=exc)

    # Nested in an item already in flight (a worker's audit calling the dispatcher): run on this thread,
    # inside the slot it holds. Taking fresh slots here could wait forever for slots that the outer
    # items hold while they wait for this.
    if limiter.total == 1 or len(items) <= 1 or limiter.holds_any():
        attempts = []
        for item in items:
            with limiter.slot(key(item)):
                attempts.append(run(item))
        return attempts

    # Per key, its items' indexes in order; keys in order of their first item.
    queues: dict[Hashable, deque[int]] = {}
    for index, item in enumerate(items):
        queues.setdefault(key(item), deque()).append(index)

    def run_in_slot(index: int, slot_key: Hashable) -> Attempt[T]:
        succeeded = False
        try:
            with limiter.holding(slot_key):
                attempt = run(items[index])
            succeeded = attempt.error is None
            return attempt
        finally:
            limiter.release(slot_key, succeeded=succeeded)

    futures: list[Future[Attempt[T]] | None] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=min(limiter.total, len(items)), thread_name_prefix="audit") as pool:
        while queues:
            # Most items still waiting first; among equals, the key whose next item comes first.
            ready = sorted(queues, key=lambda k: (-len(queues[k]), queues[k][0]))
            slot_key = limiter.acquire_any(ready)
            queue = queues[slot_key]
            index = queue.popleft()
            if not queue:
                del queues[slot_key]
            futures[index] = pool.submit(run_in_slot, index, slot_key)
        return [future.result() for future in futures if future is not None]


def gather[T](
    calls: Mapping[str, Callable[[], T]], *, in_flight: int, pool: Executor | None = None
) -> dict[str, T]:
    """Run independent calls together, at most `in_flight` at once; their results by name.

    With `in_flight` 1 they run in order on the calling thread. Otherwise every call runs to its end and
    the first failure in the mapping's order is raised, as running them in order would have raised it.
    `pool`: a long-lived executor to run them on (starting threads for every gather costs about 1 ms of
    CPU for 8 calls); its tasks must never wait for other tasks of the same pool. Without one, a pool of
    its own for this gather.
    """
    if in_flight <= 1 or len(calls) <= 1:
        return {name: call() for name, call in calls.items()}
    if pool is None:
        with ThreadPoolExecutor(max_workers=min(in_flight, len(calls)), thread_name_prefix="read") as own:
            return gather(calls, in_flight=in_flight, pool=own)
    waiting = deque(calls.items())
    running: dict[Future[T], str] = {}
    finished: dict[str, Future[T]] = {}
    while waiting or running:
        while waiting and len(running) < in_flight:
            name, call = waiting.popleft()
            running[pool.submit(call)] = name
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            finished[running.pop(future)] = future
    return {name: finished[name].result() for name in calls}


class SingleFlight[K: Hashable, V]:
    """A cache where concurrent callers for one key wait for one fetch; other keys fetch in parallel.

    Exceptions in `cached_errors` are cached like values (a denied call is not repeated); any other
    exception is raised to every waiter of that fetch and not cached.
    """

    def __init__(self, cached_errors: tuple[type[BaseException], ...] = ()) -> None:
        self._cached_errors = cached_errors
        self._lock = threading.Lock()
        self._entries: dict[K, Future[V]] = {}

    def get(self, key: K, fetch: Callable[[], V]) -> V:
        with self._lock:
            future = self._entries.get(key)
            owner = future is None
            if future is None:
                future = self._entries[key] = Future()
        if owner:
            try:
                future.set_result(fetch())
            except self._cached_errors as exc:
                future.set_exception(exc)
            except BaseException as exc:
                with self._lock:
                    self._entries.pop(key, None)
                future.set_exception(exc)
        return future.result()

    def peek(self, key: K) -> bool:
        """Whether `key` has a finished entry (value or cached error)."""
        with self._lock:
            future = self._entries.get(key)
        return future is not None and future.done()

    def keys(self) -> Iterable[K]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def is_throttling(error_code: Any) -> bool:
    return str(error_code) in THROTTLING_CODES
