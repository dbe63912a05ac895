"""version_end_of_standard_support and the packaged EKS release calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from eks_auditor.checks.version import load_calendar, support_from_calendar
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.snapshot import ClusterSnapshot, KubernetesVersion, VersionSupport
from snapshots import ARN, BASE, only, with_cluster, without

VERSION = "version_end_of_standard_support"
END = date(2026, 7, 29)  # base: 1.33


def on(day: date, snapshot: ClusterSnapshot = BASE) -> ClusterSnapshot:
    return snapshot.model_copy(
        update={"collected_at": datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)}
    )


def past_end() -> ClusterSnapshot:
    return on(date(2026, 8, 1))


def within_90_days() -> ClusterSnapshot:
    return on(END - timedelta(days=30))


def no_version() -> ClusterSnapshot:
    return with_cluster(BASE, version=None, parsed_version=None)


COVERAGE = [
    (VERSION, Result.FAIL, past_end),
    (VERSION, Result.FAIL, within_90_days),
    (VERSION, Result.PASS, lambda: BASE),
    (VERSION, Result.ERROR, no_version),
    (VERSION, Result.ERROR, lambda: without(BASE, "version_support")),
]


def test_more_than_90_days_left_passes() -> None:
    outcome = only(VERSION, BASE)
    assert outcome.result is Result.PASS
    assert outcome.resource == ARN
    assert outcome.evidence == {
        "version": "1.33",
        "end_of_standard_support": "2026-07-29",
        "end_of_extended_support": "2027-07-29",
        "evaluated_on": "2026-01-15",
        "days_until_end_of_standard_support": 195,
        "source": "test calendar",
    }


def test_within_90_days_is_medium() -> None:
    outcome = only(VERSION, within_90_days())
    assert outcome.result is Result.FAIL
    assert outcome.severity is Severity.MEDIUM
    assert outcome.evidence["days_until_end_of_standard_support"] == 30
    assert outcome.title == "Kubernetes 1.33 leaves EKS standard support in 30 days"


def test_boundaries() -> None:
    assert only(VERSION, on(END - timedelta(days=91))).result is Result.PASS
    at_90 = only(VERSION, on(END - timedelta(days=90)))
    assert (at_90.result, at_90.severity) == (Result.FAIL, Severity.MEDIUM)
    # Extended-support billing starts at the beginning of the end date (UTC+0).
    on_end = only(VERSION, on(END))
    assert (on_end.result, on_end.severity) == (Result.FAIL, Severity.HIGH)
    assert on_end.evidence["days_until_end_of_standard_support"] == 0


def test_past_end_is_high() -> None:
    outcome = only(VERSION, past_end())
    assert outcome.result is Result.FAIL
    assert outcome.severity is Severity.HIGH
    assert outcome.evidence["days_until_end_of_standard_support"] == -3
    assert outcome.evidence["past_end_of_extended_support"] is False
    assert outcome.title == "Kubernetes 1.33 is past the end of EKS standard support"


def test_past_extended_support_is_flagged() -> None:
    outcome = only(VERSION, on(date(2027, 8, 1)))
    assert outcome.severity is Severity.HIGH
    assert outcome.evidence["past_end_of_extended_support"] is True


def test_evaluation_day_is_utc() -> None:
    # 2026-05-01 01:00 at UTC+9 is still 2026-04-30 in UTC: 90 days left, not 89.
    tokyo = timezone(timedelta(hours=9))
    snapshot = BASE.model_copy(update={"collected_at": datetime(2026, 5, 1, 1, 0, tzinfo=tokyo)})
    assert only(VERSION, snapshot).evidence["days_until_end_of_standard_support"] == 90


def test_no_cluster_version_is_error_not_skipped() -> None:
    outcome = only(VERSION, no_version())
    assert outcome.result is Result.ERROR
    assert outcome.reason == "cluster version unknown (None)"


def test_unparseable_version_is_error() -> None:
    outcome = only(VERSION, with_cluster(BASE, version="latest", parsed_version=None))
    assert outcome.result is Result.ERROR
    assert outcome.reason == "cluster version unknown ('latest')"


def test_support_data_for_another_version_is_error() -> None:
    wrong = VersionSupport(version="1.32", end_of_standard_support=date(2030, 1, 1), source="x")
    outcome = only(VERSION, BASE.model_copy(update={"version_support": wrong}))
    assert outcome.result is Result.ERROR
    assert outcome.reason == "support dates are for 1.32, cluster runs 1.33"


def test_missing_end_date_and_missing_parts_are_errors() -> None:
    undated = VersionSupport(version="1.33", source="x")
    assert only(VERSION, BASE.model_copy(update={"version_support": undated})).result is Result.ERROR
    assert only(VERSION, without(BASE, "version_support")).result is Result.ERROR
    assert only(VERSION, without(BASE, "cluster")).result is Result.ERROR


# --- calendar -------------------------------------------------------------------------------------

TEST_CALENDAR = {
    "source_url": "https://example.test/calendar",
    "read_on": "2026-11-21",
    "versions": {
        "1.10": {"end_of_standard_support": "2019-07-22", "end_of_extended_support": None},
        "1.11": {"end_of_standard_support": date(2019, 11, 4)},
    },
}


def v(text: str) -> KubernetesVersion:
    parsed = KubernetesVersion.parse(text)
    assert parsed is not None
    return parsed


def test_version_ordering_is_numeric() -> None:
    # As strings "1.9" > "1.10"; as versions 1.9 is older and so already past 1.10's end of support.
    assert v("1.9") < v("1.10")
    support = support_from_calendar(v("1.9"), TEST_CALENDAR)
    snapshot = with_cluster(BASE, version="1.9", parsed_version=v("1.9")).model_copy(
        update={"version_support": support}
    )
    outcome = only(VERSION, snapshot)
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.evidence["version"] == "1.9"


def test_version_older_than_every_row_gets_the_oldest_dates_as_upper_bound() -> None:
    support = support_from_calendar(v("1.9"), TEST_CALENDAR)
    assert support == VersionSupport(
        version="1.9",
        end_of_standard_support=date(2019, 7, 22),
        end_of_extended_support=None,
        source="upper bound from 1.10: https://example.test/calendar (read 2026-11-21)",
    )


def test_known_row_and_unknown_newer_version() -> None:
    support = support_from_calendar(v("1.11"), TEST_CALENDAR)
    assert support is not None
    assert support.end_of_standard_support == date(2019, 11, 4)
    assert support.source == "https://example.test/calendar (read 2026-11-21)"
    assert support_from_calendar(v("1.12"), TEST_CALENDAR) is None
    assert support_from_calendar(v("1.12"), {"versions": {}}) is None


def test_packaged_calendar_matches_the_eks_guide() -> None:
    calendar = load_calendar()
    assert calendar["source_url"].startswith(
        "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions"
    )
    expected = {
        "1.34": (date(2026, 12, 2), date(2027, 12, 2)),
        "1.33": (date(2026, 7, 29), date(2027, 7, 29)),
        "1.32": (date(2026, 3, 23), date(2027, 3, 23)),
        "1.31": (date(2025, 11, 26), date(2026, 11, 26)),
        "1.29": (date(2025, 3, 23), date(2026, 3, 23)),
        "1.25": (date(2024, 5, 1), date(2025, 5, 1)),  # not EKS release + 14 months
        "1.23": (date(2023, 10, 11), date(2024, 10, 11)),
    }
    for text, (standard, extended) in expected.items():
        support = support_from_calendar(v(text), calendar)
        assert support is not None, text
        assert (support.end_of_standard_support, support.end_of_extended_support) == (standard, extended), (
            text
        )
    # Every row ends extended support 12 months after standard support.
    for key, row in calendar["versions"].items():
        std, ext = row["end_of_standard_support"], row["end_of_extended_support"]
        assert (ext.year - std.year, ext.month, ext.day) == (1, std.month, std.day), key


def test_calendar_feeds_the_check() -> None:
    support = support_from_calendar(v("1.31"), load_calendar())
    snapshot = with_cluster(on(date(2026, 1, 15)), version="1.31", parsed_version=v("1.31")).model_copy(
        update={"version_support": support}
    )
    outcome = only(VERSION, snapshot)
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.evidence["end_of_standard_support"] == "2025-11-26"
