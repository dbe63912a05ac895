"""FindingStore lifecycle against moto's DynamoDB: open, keep, severity change, resolve, reopen, delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eks_auditor.compliance.verdict import Verdict
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, StateChange, Status
from eks_auditor.store import FindingStore, change_id
from eks_auditor.suppressions import Suppression
from table import (
    ACCOUNT,
    CLUSTER,
    REGION,
    T0,
    CallCounter,
    later,
    make_evaluation,
    make_finding,
    make_incomplete,
)

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"


def publish_all(store: FindingStore, changes: list[StateChange]) -> list[tuple[ChangeKind, str]]:
    """What a handler does after apply_evaluation: publish (here: record) and mark notified."""
    for change in changes:
        store.mark_notified(change)
    return [(change.kind, change.finding.check_id) for change in changes]


def test_new_failing_finding_opens_with_history(store: FindingStore) -> None:
    finding = make_finding()

    changes = store.apply_evaluation(make_evaluation([finding]))

    assert len(changes) == 1
    change = changes[0]
    assert change.kind is ChangeKind.OPENED
    assert change.change_id == change_id(finding.id, ChangeKind.OPENED, T0)
    assert change.previous_status is None and change.previous_severity is None
    assert change.changed_at == T0
    assert change.finding == finding.model_copy(update={"sequence": 1})  # the engine's finding, as stored
    assert store.get(finding.id) == change.finding
    [entry] = store.history(finding.id)
    assert (entry.kind, entry.new_status, entry.new_severity, entry.source, entry.changed_at) == (
        ChangeKind.OPENED,
        Status.OPEN,
        Severity.HIGH,
        "scan-1",
        T0,
    )


def test_full_lifecycle_keep_heartbeat_severity_resolve_reopen(store: FindingStore) -> None:
    finding = make_finding()
    assert publish_all(store, store.apply_evaluation(make_evaluation([finding]))) == [
        (ChangeKind.OPENED, ENDPOINT)
    ]

    # Unchanged within the heartbeat: no change and no finding write; last_seen stays.
    assert store.apply_evaluation(make_evaluation([finding], at=later(1), source="scan-2")) == []
    kept = store.get(finding.id)
    assert kept is not None
    assert (kept.first_seen, kept.last_seen, kept.evaluated_at, kept.source) == (T0, T0, T0, "scan-1")

    # Past the heartbeat (24 h): a quiet last_seen update, still no change.
    assert store.apply_evaluation(make_evaluation([finding], at=later(25), source="scan-3")) == []
    kept = store.get(finding.id)
    assert kept is not None
    assert (kept.first_seen, kept.last_seen, kept.evaluated_at, kept.source) == (
        T0,
        later(25),
        later(25),
        "scan-1",
    )

    # Severity change.
    critical = finding.model_copy(update={"severity": Severity.CRITICAL})
    [change] = store.apply_evaluation(make_evaluation([critical], at=later(26), source="scan-4"))
    store.mark_notified(change)
    assert change.kind is ChangeKind.SEVERITY_CHANGED
    assert (change.previous_status, change.previous_severity) == (Status.OPEN, Severity.HIGH)
    assert (change.finding.severity, change.finding.first_seen, change.finding.last_seen) == (
        Severity.CRITICAL,
        T0,
        later(26),
    )

    # The check passes: resolved, resolved_at set, last_seen kept at the last failure.
    [change] = store.apply_evaluation(make_evaluation([], at=later(27), source="scan-5"))
    store.mark_notified(change)
    assert change.kind is ChangeKind.RESOLVED
    assert (change.previous_status, change.previous_severity) == (Status.OPEN, Severity.CRITICAL)
    assert change.reason == f"{ENDPOINT} passed for {finding.resource}"
    resolved = store.get(finding.id)
    assert resolved is not None
    assert (resolved.status, resolved.resolved_at, resolved.last_seen, resolved.source) == (
        Status.RESOLVED,
        later(27),
        later(26),
        "scan-5",
    )

    # Still passing: nothing.
    assert store.apply_evaluation(make_evaluation([], at=later(28), source="scan-6")) == []

    # Fails again: reopened, first_seen kept, resolved_at cleared.
    [change] = store.apply_evaluation(make_evaluation([finding], at=later(29), source="scan-7"))
    store.mark_notified(change)
    assert change.kind is ChangeKind.REOPENED
    assert (change.previous_status, change.previous_severity) == (Status.RESOLVED, Severity.CRITICAL)
    reopened = store.get(finding.id)
    assert reopened is not None
    assert (reopened.status, reopened.severity, reopened.first_seen, reopened.last_seen) == (
        Status.OPEN,
        Severity.HIGH,
        T0,
        later(29),
    )
    assert reopened.resolved_at is None

    assert [(e.kind, e.previous_status, e.new_status, e.source) for e in store.history(finding.id)] == [
        (ChangeKind.OPENED, None, Status.OPEN, "scan-1"),
        (ChangeKind.SEVERITY_CHANGED, Status.OPEN, Status.OPEN, "scan-4"),
        (ChangeKind.RESOLVED, Status.OPEN, Status.RESOLVED, "scan-5"),
        (ChangeKind.REOPENED, Status.RESOLVED, Status.OPEN, "scan-7"),
    ]


def test_unchanged_rescan_costs_two_queries_and_one_write(store: FindingStore, client: Any) -> None:
    findings = [make_finding(resource=f"subnet-{i}") for i in range(5)] + [make_finding(LOGGING, "cluster")]
    publish_all(store, store.apply_evaluation(make_evaluation(findings)))
    calls = CallCounter(client)

    assert store.apply_evaluation(make_evaluation(findings, at=later(2), source="scan-2")) == []

    # Queries: the cluster's findings, and the suppressions. The one write also renews each check's verdict.
    assert dict(calls.calls) == {"UpdateItem": 1, "Query": 2}
    [cluster] = store.cluster_verdicts(ACCOUNT, REGION)
    assert {v.check_id: (v.verdict, v.evaluated_at, v.failing) for v in cluster.verdicts.values()} == {
        ENDPOINT: (Verdict.FAIL, later(2), tuple(f"subnet-{i}" for i in range(5))),
        LOGGING: (Verdict.FAIL, later(2), ("cluster",)),
    }


def test_audit_record_keeps_each_checks_latest_verdict(store: FindingStore, client: Any) -> None:
    """PASS, NOT_APPLICABLE, INCOMPLETE and FAIL, read back without a Scan (registry Query + BatchGetItem)."""
    checks = (ENDPOINT, LOGGING, "secrets_encryption_disabled", "nodes_public_subnet")
    evaluation = make_evaluation(
        [make_incomplete(LOGGING, "cluster"), make_finding("nodes_public_subnet", "subnet-1")],
        checks_run=checks,
        passing=[
            (ENDPOINT, "cluster"),
            ("secrets_encryption_disabled", "cluster"),
            ("nodes_public_subnet", "subnet-2"),
        ],
        not_applicable=[("secrets_encryption_disabled", "cluster")],
        errored=[LOGGING],
    )
    store.apply_evaluation(evaluation)
    calls = CallCounter(client)

    [cluster] = store.cluster_verdicts(ACCOUNT, REGION)

    assert (cluster.account, cluster.region, cluster.cluster) == (ACCOUNT, REGION, CLUSTER)
    assert {v.check_id: (v.verdict, v.failing) for v in cluster.verdicts.values()} == {
        ENDPOINT: (Verdict.PASS, ()),
        LOGGING: (Verdict.INCOMPLETE, ()),
        "secrets_encryption_disabled": (Verdict.NOT_APPLICABLE, ()),
        "nodes_public_subnet": (Verdict.FAIL, ("subnet-1",)),
    }
    assert dict(calls.calls) == {"Query": 1, "BatchGetItem": 1}

    # A targeted re-audit of one check replaces that check's verdict only.
    store.apply_evaluation(make_evaluation(checks_run=[LOGGING], passing=[(LOGGING, "cluster")], at=later(1)))
    [cluster] = store.cluster_verdicts(ACCOUNT, REGION)
    assert (cluster.verdicts[LOGGING].verdict, cluster.verdicts[LOGGING].evaluated_at) == (
        Verdict.PASS,
        later(1),
    )
    assert cluster.verdicts["nodes_public_subnet"].verdict is Verdict.FAIL


def test_changed_content_without_state_change_is_refreshed_quietly(store: FindingStore) -> None:
    finding = make_finding()
    publish_all(store, store.apply_evaluation(make_evaluation([finding])))
    wider = finding.model_copy(update={"evidence": {"publicAccessCidrs": ["0.0.0.0/0", "::/0"]}})

    assert store.apply_evaluation(make_evaluation([wider], at=later(1), source="scan-2")) == []

    stored = store.get(finding.id)
    assert stored is not None
    assert stored.evidence == {"publicAccessCidrs": ["0.0.0.0/0", "::/0"]}
    assert (stored.status, stored.last_seen, stored.source) == (Status.OPEN, later(1), "scan-1")
    assert len(store.history(finding.id)) == 1


def test_targeted_reaudit_resolves_only_the_checks_it_ran(store: FindingStore) -> None:
    endpoint = make_finding()
    logging_off = make_finding(LOGGING, "cluster", severity=Severity.MEDIUM)
    publish_all(store, store.apply_evaluation(make_evaluation([endpoint, logging_off])))

    changes = store.apply_evaluation(make_evaluation([], at=later(1), source="evt-1", checks_run=[LOGGING]))

    assert [(c.kind, c.finding.id) for c in changes] == [(ChangeKind.RESOLVED, logging_off.id)]
    still = store.get(endpoint.id)
    assert still is not None and still.status is Status.OPEN


def test_explicit_passing_key_resolves_even_outside_checks_run(store: FindingStore) -> None:
    endpoint = make_finding()
    publish_all(store, store.apply_evaluation(make_evaluation([endpoint])))

    changes = store.apply_evaluation(
        make_evaluation([], at=later(1), checks_run=[LOGGING], passing=[(ENDPOINT, endpoint.resource)])
    )

    assert [(c.kind, c.finding.id) for c in changes] == [(ChangeKind.RESOLVED, endpoint.id)]


def test_audit_incomplete_keeps_the_original_finding(store: FindingStore) -> None:
    endpoint = make_finding()
    publish_all(store, store.apply_evaluation(make_evaluation([endpoint])))
    incomplete = make_incomplete(ENDPOINT, endpoint.resource)

    changes = store.apply_evaluation(
        make_evaluation([incomplete], at=later(1), source="scan-2", errored=[ENDPOINT])
    )

    assert [(c.kind, c.finding.check_id, c.finding.resource) for c in changes] == [
        (ChangeKind.OPENED, "audit_incomplete", f"{ENDPOINT}:{endpoint.resource}")
    ]
    publish_all(store, changes)
    original = store.get(endpoint.id)
    assert original is not None and original.status is Status.OPEN  # an error is never a pass

    # The check runs again and passes: both the original finding and the audit_incomplete one resolve.
    changes = store.apply_evaluation(make_evaluation([], at=later(2), source="scan-3"))
    assert sorted((c.kind, c.finding.check_id) for c in changes) == [
        (ChangeKind.RESOLVED, "audit_incomplete"),
        (ChangeKind.RESOLVED, ENDPOINT),
    ]
    incomplete_change = next(c for c in changes if c.finding.check_id == "audit_incomplete")
    assert incomplete_change.reason == f"{ENDPOINT} could be evaluated again"


def test_audit_incomplete_resolves_when_its_check_runs_again_and_fails(store: FindingStore) -> None:
    incomplete = make_incomplete(ENDPOINT, "arn:cluster")
    publish_all(store, store.apply_evaluation(make_evaluation([incomplete], errored=[ENDPOINT])))
    endpoint = make_finding(resource="arn:cluster")

    changes = store.apply_evaluation(make_evaluation([endpoint], at=later(1), source="scan-2"))

    assert sorted((c.kind, c.finding.check_id) for c in changes) == [
        (ChangeKind.OPENED, ENDPOINT),
        (ChangeKind.RESOLVED, "audit_incomplete"),
    ]


def test_suppressed_finding_stays_suppressed(store: FindingStore) -> None:
    finding = make_finding()
    publish_all(store, store.apply_evaluation(make_evaluation([finding])))
    store.put_suppression(
        Suppression(
            check_id=ENDPOINT, reason="accepted", author="alice", created_at=T0, expires_at=later(100)
        )
    )
    suppressed = store.apply_evaluation(make_evaluation([finding], at=later(1), source="scan-2"))
    assert [(c.kind, c.finding.status) for c in suppressed] == [(ChangeKind.SUPPRESSED, Status.SUPPRESSED)]
    publish_all(store, suppressed)

    assert store.apply_evaluation(make_evaluation([finding], at=later(30), source="scan-3")) == []

    stored = store.get(finding.id)
    assert stored is not None
    assert (stored.status, stored.last_seen) == (Status.SUPPRESSED, later(30))


def test_deleted_cluster_resolves_all_and_leaves_the_registry(store: FindingStore) -> None:
    findings = [make_finding(), make_finding(LOGGING, "cluster", severity=Severity.MEDIUM)]
    publish_all(store, store.apply_evaluation(make_evaluation(findings)))
    publish_all(store, store.apply_evaluation(make_evaluation([make_finding()], cluster="prod-b")))
    assert store.known_clusters(ACCOUNT, REGION) == ["prod-a", "prod-b"]

    changes = store.resolve_cluster(ACCOUNT, REGION, CLUSTER, source="evt-delete", evaluated_at=later(1))

    assert sorted((c.kind, c.finding.check_id, c.reason) for c in changes) == [
        (ChangeKind.RESOLVED, LOGGING, "the cluster was deleted"),
        (ChangeKind.RESOLVED, ENDPOINT, "the cluster was deleted"),
    ]
    assert all(c.finding.resolved_at == later(1) and c.finding.source == "evt-delete" for c in changes)
    assert store.known_clusters(ACCOUNT, REGION) == ["prod-b"]
    publish_all(store, changes)
    # A redelivered DeleteCluster event changes nothing; an evaluation older than the deletion is stale.
    assert store.resolve_cluster(ACCOUNT, REGION, CLUSTER, source="evt-delete", evaluated_at=later(1)) == []
    assert store.apply_evaluation(make_evaluation(findings, at=T0 + timedelta(minutes=30))) == []
    # A cluster created again under the same name is audited afresh.
    [change] = store.apply_evaluation(make_evaluation(findings[:1], at=later(2), source="scan-new"))
    assert change.kind is ChangeKind.REOPENED
    assert store.known_clusters(ACCOUNT, REGION) == ["prod-a", "prod-b"]


def test_deletion_older_than_the_last_evaluation_is_ignored(store: FindingStore) -> None:
    publish_all(store, store.apply_evaluation(make_evaluation([make_finding()], at=later(2))))

    assert store.resolve_cluster(ACCOUNT, REGION, CLUSTER, source="evt-old", evaluated_at=later(1)) == []
    assert store.known_clusters(ACCOUNT, REGION) == [CLUSTER]


def test_get_and_history_of_an_unknown_finding(store: FindingStore) -> None:
    assert store.get("0" * 32) is None
    assert store.history("0" * 32) == []


def test_failing_since_survives_failures_and_incomplete_runs_until_a_pass(store: FindingStore) -> None:
    subnets = "nodes_public_subnet"
    failing = make_finding(subnets, "subnet-1")

    def since_after(evaluation: Any) -> tuple[Verdict, Any]:
        store.apply_evaluation(evaluation)
        [cluster] = store.cluster_verdicts(ACCOUNT, REGION)
        return cluster.verdicts[subnets].verdict, cluster.verdicts[subnets].failing_since

    assert since_after(make_evaluation([failing], checks_run=[subnets])) == (Verdict.FAIL, T0)
    again = make_evaluation([failing], checks_run=[subnets], at=later(6), source="scan-2")
    assert since_after(again) == (Verdict.FAIL, T0)
    unknown = make_evaluation(
        [make_incomplete(subnets, "subnet-1", at=later(12))],
        checks_run=[subnets],
        errored=[subnets],
        at=later(12),
    )
    assert since_after(unknown) == (Verdict.INCOMPLETE, T0)
    fixed = make_evaluation(checks_run=[subnets], passing=[(subnets, "subnet-1")], at=later(18), source="s4")
    assert since_after(fixed) == (Verdict.PASS, None)
    broken = make_evaluation([failing], checks_run=[subnets], at=later(24), source="scan-5")
    assert since_after(broken) == (Verdict.FAIL, later(24))


def test_verdicts_left_unprocessed_by_batch_get_are_asked_again(
    store: FindingStore, client: Any, monkeypatch: Any
) -> None:
    for cluster in ("prod-a", "prod-b"):
        store.apply_evaluation(make_evaluation(cluster=cluster, passing=[(ENDPOINT, "cluster")]))
    real = client.batch_get_item
    answers: list[int] = []

    def throttled_once(**request: Any) -> Any:
        response = real(**request)
        if not answers:  # the first answer: one key left unprocessed, as under throttling
            [table] = response["Responses"]
            kept, left = response["Responses"][table][:1], response["Responses"][table][1:]
            response["Responses"][table] = kept
            response["UnprocessedKeys"] = {
                table: {"Keys": [{"pk": item["pk"], "sk": item["sk"]} for item in left]}
            }
        answers.append(len(request["RequestItems"][next(iter(request["RequestItems"]))]["Keys"]))
        return response

    monkeypatch.setattr(client, "batch_get_item", throttled_once)
    monkeypatch.setattr("eks_auditor.store.reader.time.sleep", lambda seconds: None)

    verdicts = store.cluster_verdicts(ACCOUNT, REGION)

    assert answers == [2, 1]
    assert {c.cluster: c.verdicts[ENDPOINT].verdict for c in verdicts} == {
        "prod-a": Verdict.PASS,
        "prod-b": Verdict.PASS,
    }
