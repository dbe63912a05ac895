"""eks_auditor/data/pipeline.json is what template.yaml declares (the Lambda does not ship the template)."""

from __future__ import annotations

import json
from pathlib import Path

from eks_auditor.collect.pipeline import expected_pipeline

from eks_auditor_tools.pipeline_data import DATA_FILE, TEMPLATE, pipeline_data, render


def test_the_data_file_equals_the_template() -> None:
    # Regenerate with: .venv/bin/python -m eks_auditor_tools.pipeline_data
    assert DATA_FILE.read_text(encoding="utf-8") == render(pipeline_data(TEMPLATE))


def test_the_data_file_names_every_rule_and_queue_with_their_dead_letter_queues() -> None:
    expected = expected_pipeline()
    assert [rule.logical_id for rule in expected.rules] == [
        "EksApiCallsRule",
        "Ec2ApiCallsRule",
        "AutoScalingApiCallsRule",
        "NetworkFirewallApiCallsRule",
        "IamOidcRule",
        "SpotRule",
    ]
    assert all(target.dead_letter and not target.role for r in expected.rules for target in r.targets)
    assert dict(expected.queues) == {
        "EventsQueue": False,
        "EventsDLQ": True,
        "AuditQueue": False,
        "AuditDLQ": True,
        "SpotQueue": False,
        "SpotDLQ": True,
        "TargetsDLQ": True,
    }
    assert expected.rules[0].pattern["source"] == ["aws.eks"]


def test_the_generator_sees_a_changed_pattern(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        TEMPLATE.read_text(encoding="utf-8").replace("- CreateCluster\n", "- CreateClusterX\n", 1),
        encoding="utf-8",
    )
    changed = pipeline_data(template)
    assert changed != json.loads(DATA_FILE.read_text(encoding="utf-8"))
