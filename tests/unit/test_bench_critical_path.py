"""The latency bench's critical path: computed from the recorded chains of calls, not a constant."""

from __future__ import annotations

from typing import Any

from eks_auditor_tools.bench_latency import _Chains


def chains(preambles: list[list[Any]], audits: list[list[Any]], flights: dict[str, list[Any]]) -> _Chains:
    recorded = _Chains()
    recorded.preambles, recorded.audits, recorded.flights = preambles, audits, flights
    return recorded


CALL = "call"


def test_audits_wait_for_a_shared_fetch_after_their_listing() -> None:
    # ListClusters, then DescribeCluster, the VPC's four calls (shared), one more call.
    vpc = ("flight", "vpc")
    recorded = chains([[CALL]], [[CALL, vpc, CALL], [CALL, vpc, CALL]], {"vpc": [CALL] * 4})
    assert recorded.critical_path() == 1 + 1 + 4 + 1


def test_a_shared_fetch_starts_when_its_first_asker_asks() -> None:
    # A asks at depth 0; B, three calls in, finds it done (ends at 2): B's chain is 3 + 1, not 3 + 2 + 1.
    shared = ("flight", "t")
    recorded = chains([], [[shared, CALL], [CALL, CALL, CALL, shared, CALL]], {"t": [CALL, CALL]})
    assert recorded.critical_path() == 4


def test_a_fetch_inside_a_fetch_lengthens_it() -> None:
    recorded = chains(
        [[CALL]],
        [[CALL, ("flight", "outer")]],
        {"outer": [CALL, ("flight", "inner"), CALL], "inner": [CALL, CALL, CALL]},
    )
    assert recorded.critical_path() == 1 + 1 + (1 + 3 + 1)


def test_the_longest_listing_is_the_preamble() -> None:
    recorded = chains([[CALL], [CALL, CALL], []], [[CALL]], {})
    assert recorded.critical_path() == 3


def test_calls_made_together_count_as_deep_as_the_deepest() -> None:
    # A VPC's reads and an audit's parts run together (gather): in the caller's chain they weigh as much
    # as the longest of them; in turn (one in flight) they are all the caller's own calls.
    from eks_auditor.collect import network

    for in_flight, expected in ((3, 2), (1, 3)):
        recorded = _Chains()

        def calls(count: int, recorded: _Chains = recorded) -> None:
            for _ in range(count):
                recorded.call()

        with recorded.installed(), recorded.sequence(into=recorded.audits):
            network.gather({"two": lambda: calls(2), "one": lambda: calls(1)}, in_flight=in_flight)
        assert recorded.critical_path() == expected


def test_a_branch_that_waits_for_a_shared_fetch_lasts_as_long_as_the_fetch() -> None:
    # DescribeCluster, then two parts together: one waits for the VPC's fetch (2 calls) after a call of
    # its own, the other makes two calls; then one more call.
    together = ("together", [[CALL, ("flight", "vpc")], [CALL, CALL]])
    recorded = chains([], [[CALL, together, CALL]], {"vpc": [CALL, CALL]})
    assert recorded.critical_path() == 1 + max(1 + 2, 2) + 1
