"""`make bench`'s options: the event load is issue 14's size (5,000 events over 20 clusters) unless told."""

from __future__ import annotations

import pytest

from eks_auditor_tools.bench import LOAD_CLUSTERS, LOAD_EVENTS, arguments


def test_the_default_load_is_the_issues_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EKS_AUDITOR_BENCH_LOAD_EVENTS", raising=False)
    options = arguments([])
    assert (options.load_events, options.load_clusters, options.only) == (LOAD_EVENTS, LOAD_CLUSTERS, None)
    assert (LOAD_EVENTS, LOAD_CLUSTERS) == (5000, 20)


def test_the_size_is_a_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EKS_AUDITOR_BENCH_LOAD_EVENTS", "800")
    assert arguments([]).load_events == 800
    options = arguments(["--load-events", "300", "--load-clusters", "6", "--only", "event_load"])
    assert (options.load_events, options.load_clusters, options.only) == (300, 6, "event_load")


@pytest.mark.parametrize("argv", [["--load-events", "0"], ["--load-clusters", "-1"], ["--only", "scans"]])
def test_nonsense_is_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        arguments(argv)
    assert exit_.value.code == 2


def test_scenarios_run_in_order_and_say_so_on_a_terminal() -> None:
    import io

    from eks_auditor_tools.bench import run_scenarios
    from eks_auditor_tools.cli.progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    ran: list[str] = []
    scenarios = {
        name: (lambda name=name: ran.append(name) or {"name": name}) for name in ("scans", "latency")
    }
    stderr = Tty()
    report = run_scenarios(scenarios, Progress("bench", stderr))
    assert (ran, report) == (
        ["scans", "latency"],
        {"scans": {"name": "scans"}, "latency": {"name": "latency"}},
    )
    assert "bench: scans (1 of 2; 0s so far)" in stderr.getvalue()
    assert "bench: latency (2 of 2; " in stderr.getvalue()
    assert stderr.getvalue().endswith("\r\033[K")  # cleared before the JSON
    quiet = io.StringIO()
    run_scenarios(scenarios, Progress("bench", quiet))
    assert quiet.getvalue() == ""
