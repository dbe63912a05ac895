"""The Slack messages of the demo fleet's findings read well (issue #15): titles within Chatbot's limit and
not repeated, remediation with the real ids (no `<...>` left), next steps as short numbered lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from eks_auditor.audit import Auditor
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.config import Settings
from eks_auditor.model.finding import ChangeKind, Finding, StateChange
from eks_auditor.notify import STEP_CHARS, TITLE_CHARS, render
from eks_auditor.runtime import Runtime

from eks_auditor_tools.demo import run as demo_run


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    found: list[Finding] = []
    with demo_run.embedded_account() as (session, fleet, _account):
        runtime = Runtime(settings=Settings(), session=session)
        collector = SnapshotCollector(runtime.clients, now=lambda: datetime(2026, 11, 21, 12, tzinfo=UTC))
        auditor = Auditor(collector)
        for cluster in fleet.clusters:
            found.extend(auditor.audit("us-east-1", cluster, source="test").evaluation.failing)
    assert len(found) > 20
    return found


def opened(finding: Finding) -> dict:
    change = StateChange(
        change_id="c", kind=ChangeKind.OPENED, finding=finding, changed_at=finding.evaluated_at
    )
    return render(change)["content"]


def test_titles_fit_and_are_not_repeated(findings: list[Finding]) -> None:
    for finding in findings:
        content = opened(finding)
        assert len(content["title"]) <= TITLE_CHARS, content["title"]
        assert content["title"] not in content["description"]
        if content["title"].endswith(finding.title):
            assert finding.title not in content["description"]


def test_no_placeholder_survives_and_real_ids_are_filled_in(findings: list[Finding]) -> None:
    steps = {(f.check_id, f.cluster): opened(f)["nextSteps"] for f in findings}
    for (check, cluster), lines in steps.items():
        text = "\n".join(lines)
        assert re.findall(r"<[^<>\s][^<>]*>", text) == [], (check, cluster)
        assert all(len(line) <= STEP_CHARS for line in lines), (check, cluster)
        numbered = [line for line in lines if not line.startswith("Docs: ")]
        assert [line.split(". ", 1)[0] for line in numbered] == [str(n) for n in range(1, len(numbered) + 1)]
    assert "--name prod-web" in "\n".join(steps[("endpoint_public_unrestricted", "prod-web")])
    # moto picks the ids: the endpoint's and the NAT gateway's Elastic IP.
    assert re.search(
        r"--vpc-endpoint-id vpce-[0-9a-f]{17} ",
        "\n".join(steps[("vpc_endpoint_private_dns_disabled", "payments")]),
    )
    assert re.search(
        r"publicAccessCidrs=203\.0\.113\.0/24,[0-9.]+/32",
        "\n".join(steps[("endpoint_nodes_blocked_by_cidrs", "analytics")]),
    )
    assert "--kubernetes-version 1.32" in "\n".join(steps[("version_end_of_standard_support", "analytics")])


def test_a_numbered_remediation_is_not_numbered_twice(findings: list[Finding]) -> None:
    [capacity, *_] = [f for f in findings if f.check_id == "ip_capacity_exhaustion_risk"]
    lines = opened(capacity)["nextSteps"]
    assert not any(re.fullmatch(r"\d+\. \d+[.)]?", line) for line in lines), lines
    assert lines[0].startswith("1. Add a larger or additional subnet in us-east-1"), lines


def test_titles_with_the_longest_account_name_fit(findings: list[Finding]) -> None:
    # Organizations allows 50 characters in an account name; a title cuts it so that what happened stays.
    name = "n" * 50
    for finding in findings:
        change = StateChange(
            change_id="c", kind=ChangeKind.OPENED, finding=finding, changed_at=finding.evaluated_at
        )
        content = render(change, account_name=name)["content"]
        assert len(content["title"]) <= TITLE_CHARS, content["title"]
        assert f"on {finding.cluster} ({'n' * 31}…)" in content["title"], content["title"]
        assert f"account {name} ({finding.account})" in content["description"]
