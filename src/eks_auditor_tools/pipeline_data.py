"""Generates eks_auditor/data/pipeline.json from template.yaml: the rules and queues pipeline checks expect.

`member_rules` are the forwarding rules of member/event-forwarding.yaml (generated from the same template by
eks_auditor_tools.member_templates): what pipeline_rule_broken expects in each member account-region.

The Lambda does not ship template.yaml; `python -m eks_auditor_tools.pipeline_data` rewrites the data file
and tests/template/test_pipeline_data.py fails when it no longer equals what the template declares.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eks_auditor_tools.patterns import load_rules, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DATA_FILE = ROOT / "layers" / "core" / "eks_auditor" / "data" / "pipeline.json"


def _dead_letter_queues(resources: Mapping[str, Any]) -> set[str]:
    """Queues named as a dead-letter target anywhere: a redrive policy or a rule target's DeadLetterConfig."""
    found: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, Mapping):
            if key in ("deadLetterTargetArn", "DeadLetterConfig") or "deadLetterTargetArn" in node:
                target = node.get("deadLetterTargetArn", node.get("Arn", node))
                if isinstance(target, Mapping) and "Fn::GetAtt" in target:
                    found.add(str(target["Fn::GetAtt"][0]))
            for child_key, child in node.items():
                walk(child, str(child_key))
        elif isinstance(node, list):
            for child in node:
                walk(child, key)

    walk(resources)
    return found


def pipeline_data(template: Path = TEMPLATE) -> dict[str, Any]:
    resources = load_template(template).get("Resources") or {}
    rules = [
        {
            "logical_id": logical_id,
            "pattern": rule.pattern,
            "targets": [
                {
                    "id": target.id,
                    "dead_letter": target.dead_letter_resource is not None,
                    "role": "RoleArn" in _raw_target(resources, logical_id, target.id),
                }
                for target in rule.targets
            ],
        }
        for logical_id, rule in load_rules(template).items()
    ]
    dead_letter = _dead_letter_queues(resources)
    queues = {
        logical_id: logical_id in dead_letter
        for logical_id, resource in resources.items()
        if isinstance(resource, Mapping) and resource.get("Type") == "AWS::SQS::Queue"
    }
    return {"rules": rules, "queues": queues, "member_rules": member_rules(template)}


def member_rules(template: Path = TEMPLATE) -> list[dict[str, Any]]:
    """member/event-forwarding.yaml's rules: pattern, targets, and whether only us-east-1 has the rule."""
    from eks_auditor_tools.member_templates import forwarding_template

    return [
        {
            "logical_id": logical_id,
            "pattern": rule["Properties"]["EventPattern"],
            "targets": [
                {"id": str(t["Id"]), "dead_letter": "DeadLetterConfig" in t, "role": "RoleArn" in t}
                for t in rule["Properties"]["Targets"]
            ],
            "us_east_1_only": rule.get("Condition") == "InUsEast1",
        }
        for logical_id, rule in forwarding_template(template)["Resources"].items()
    ]


def _raw_target(resources: Mapping[str, Any], rule: str, target_id: str) -> Mapping[str, Any]:
    for target in resources[rule]["Properties"].get("Targets") or ():
        if str(target.get("Id")) == target_id:
            return dict(target)
    return {}


def render(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main() -> int:
    DATA_FILE.write_text(render(pipeline_data()), encoding="utf-8")
    print(f"wrote {DATA_FILE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
