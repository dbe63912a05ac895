"""`make demo` as a smoke test: the story it tells, step by step, on stable substrings of its output.

The demo runs once per module (about 15 s): the real handlers against the embedded account.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from eks_auditor_tools.demo.run import run

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def steps() -> dict[str, str]:
    """The output split at its section headers ("== 1. ..."): step number -> text; "0" the preamble."""
    out = io.StringIO()
    assert run(out) == 0
    parts = re.split(r"^== (\d+)\. ", out.getvalue(), flags=re.MULTILINE)
    return {"0": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}


def alerts(text: str) -> list[str]:
    """The alert headlines a step printed, without the finding's title after them (a digest has none)."""
    return [
        line.strip().removeprefix("> ").split(": ")[0]
        for line in text.splitlines()
        if line.strip().startswith("> ")
    ]


def test_all_steps_ran(steps: dict[str, str]) -> None:
    assert {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"} <= set(steps)
    assert "clusters: prod-web, analytics, payments, batch, platform, inspected, ipv6-api" in steps["0"]
    assert (
        "EventBridge rules from template.yaml: AutoScalingApiCallsRule, Ec2ApiCallsRule, EksApiCallsRule, "
        "IamOidcRule, NetworkFirewallApiCallsRule, SpotRule" in steps["0"]
    )


def test_step1_scheduled_scan_finds_every_severity(steps: dict[str, str]) -> None:
    text = steps["1"]
    # Seven clusters and one pipeline audit (the pseudo-cluster "-") for the one region.
    assert 'fan-out: {"scan_id": "scan-d32c5kddcf5bb8c3", "enqueued": 8, "regions": ["us-east-1"]}' in text
    assert 'worker: {"delivered": 8, "failed": 0}' in text
    [counts_line] = [line for line in text.splitlines() if line.startswith("open findings: ")]
    counts = json.loads(counts_line.split(" ", 3)[3])
    assert all(counts.get(severity, 0) >= 1 for severity in SEVERITIES), counts
    rows = {tuple(line.split()[:4]) for line in text.splitlines() if line.startswith(SEVERITIES)}
    for row in (
        ("CRITICAL", "OPEN", "analytics", "endpoint_nodes_blocked_by_cidrs"),
        ("CRITICAL", "OPEN", "payments", "vpc_endpoint_missing"),
        ("CRITICAL", "OPEN", "batch", "ip_capacity_exhaustion_risk"),
        ("HIGH", "OPEN", "prod-web", "endpoint_public_unrestricted"),
        ("HIGH", "OPEN", "payments", "vpc_endpoint_private_dns_disabled"),
        ("MEDIUM", "OPEN", "payments", "autoscaler_dynamic_instance_list"),
        ("HIGH", "OPEN", "payments", "cluster_admin_broad"),
        ("MEDIUM", "OPEN", "prod-web", "endpoint_private_access_disabled"),
        # cluster-autoscaler runs in payments: the autoscaling endpoint is HIGH there (else LOW).
        ("HIGH", "OPEN", "payments", "vpc_endpoint_missing"),
    ):
        assert row in rows, row
    # The healthy reference cluster has nothing HIGH or worse; nor do the clusters that guard against false
    # alarms: firewall egress (inspected) and IPv6 pods (ipv6-api: no finding at all).
    assert not any(row[2] in ("platform", "inspected") and row[0] in ("CRITICAL", "HIGH") for row in rows)
    assert not any(row[2] == "ipv6-api" for row in rows), rows
    # The demo account's pipeline is whole (a logging trail, the template's rules): no pipeline finding.
    assert not any(row[3].startswith("pipeline_") for row in rows), rows
    # First-run baseline: Slack gets one digest per cluster, not every opening (the issue counted 11 Slack
    # messages for the 5 clusters; the severity-only filter let 15 through); the security queue gets all.
    # ipv6-api has no finding, so no digest: 6 for 7 clusters.
    assert "by the filter policy): 6 message(s)" in text
    digests = [re.match(r"\[(\w+)\] (\S+) first scan found (\d+) open finding", a) for a in alerts(text)]
    assert all(digests), alerts(text)
    assert sorted(d[2] for d in digests if d) == [
        "analytics",
        "batch",
        "inspected",
        "payments",
        "platform",
        "prod-web",
    ]
    everything = int(re.findall(r"security-team queue \(everything\): (\d+)", text)[0])
    assert everything == sum(int(d[3]) for d in digests if d) + len(digests)


def test_step2_deleted_vpc_endpoint_alerts_critical(steps: dict[str, str]) -> None:
    text = steps["2"]
    assert "routed to: ['EventsQueue']" in text
    assert 'event audit: {"delivered": 1, "failed": 0}' in text
    assert alerts(text) == ["[CRITICAL] OPENED vpc_endpoint_missing on payments"]


def test_step3_fix_resolves_the_public_endpoint(steps: dict[str, str]) -> None:
    text = steps["3"]
    assert "[HIGH] RESOLVED endpoint_public_unrestricted on prod-web" in alerts(text)
    assert "RESOLVED endpoint_public_unrestricted on prod-web: no longer failing" in text
    assert 'a failed UpdateClusterConfig (errorCode set) is skipped: {"delivered": 1, "failed": 0}' in text


def test_step5_unchanged_rescan_is_quiet(steps: dict[str, str]) -> None:
    assert 'worker: {"delivered": 8, "failed": 0}' in steps["5"]
    assert "SNS messages on an unchanged re-scan: 0" in steps["5"]
    assert alerts(steps["5"]) == []


def test_step6_spot_burst_escalates(steps: dict[str, str]) -> None:
    text = steps["6"]
    assert "[HIGH] OPENED spot_interruption_burst on batch" in alerts(text)
    notices = [a for a in alerts(text) if "spot_interruption_notice" in a]
    assert notices and set(notices) == {"[MEDIUM] OPENED spot_interruption_notice on batch"}


def test_step7_malformed_message_fails_alone(steps: dict[str, str]) -> None:
    assert 'event audit: {"delivered": 1, "failed": 1} (the failed item goes to the DLQ)' in steps["7"]


def test_step9_suppressed_spot_notice_is_stored_without_an_alert(steps: dict[str, str]) -> None:
    text = steps["9"]
    spot = text[text.index("spot worker (a rebalance recommendation for spot-3)") :]
    assert 'spot worker (a rebalance recommendation for spot-3): {"delivered": 1, "failed": 0}' in spot
    assert "Slack: 0 message(s); security-team queue (everything): 0" in spot
    assert "stored as SUPPRESSED: spot_interruption_notice on batch" in text


def test_step10_disabled_rule_opens_and_resolves_a_pipeline_finding(steps: dict[str, str]) -> None:
    text = steps["10"]
    disabled, enabled = text.split("aws events enable-rule --name EksApiCallsRule")
    assert 'scan (the pipeline audit rides the schedule): {"delivered": 8, "failed": 0}' in disabled
    # Only the pipeline finding: the clusters are re-audited unchanged, and the trail still logs.
    assert alerts(disabled) == ["[HIGH] OPENED pipeline_rule_broken on -"]
    assert "arn:aws:events:us-east-1:123456789012:rule/EksApiCallsRule: state is DISABLED" in disabled
    assert alerts(enabled) == ["[HIGH] RESOLVED pipeline_rule_broken on -"]


def test_step11_prints_the_cis_eks_posture_of_the_fleet(steps: dict[str, str]) -> None:
    text = steps["11"]
    assert "CIS Amazon EKS Benchmark 1.7.0 (cis-eks-1.7): 7 cluster(s)" in text
    rows = {line.split()[0]: line for line in text.splitlines() if re.match(r"\d\.\d\.\d ", line)}
    # payments, inspected and ipv6-api keep their endpoint private (5.4.2); prod-web has no secrets
    # encryption, an accepted risk (5.3.1: an exception, not a pass); analytics is public-only with
    # private access off (5.4.1). Partially mapped controls: not assessed.
    # Columns: PASS FAIL EXC INC N/A RATE FAILING CLUSTERS.
    assert re.search(r"\s3\s+4\s+0\s+0\s+0\s+43%\s+analytics, batch, platform, prod-web$", rows["5.4.2"])
    assert re.search(r"\s6\s+0\s+1\s+0\s+0\s+86%\s+-$", rows["5.3.1"])
    assert re.search(r"\s6\s+1\s+0\s+0\s+0\s+86%\s+analytics$", rows["5.4.1"])
    assert re.search(r"\s0\s+0\s+0\s+0\s+0\s+—\s+-$", rows["2.1.1"])
    assert "GET /posture?framework=fsbp -> 200" in text
    assert "EKS.1   pass 3 fail 4 exception 0 incomplete 0  pass rate 43%" in text
    assert "EKS.3   pass 6 fail 0 exception 1 incomplete 0  pass rate 86%" in text


def test_log_summary_counts_expected_and_unexpected_errors(steps: dict[str, str]) -> None:
    last = list(steps.values())[-1]
    summary = re.search(
        r"\((\d+) ERROR line\(s\): (\d+) the bad input .*?, (\d+) APIs the embedded .*?, (\d+) unexpected\)",
        last,
    )
    assert summary, last[-400:]
    total, bad_input, embedded, unexpected = map(int, summary.groups())
    assert (bad_input, unexpected) == (1, 0)
    assert total == bad_input + embedded + unexpected
