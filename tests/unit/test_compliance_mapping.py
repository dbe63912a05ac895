"""The compliance mapping of every check, pinned: a check without a mapping decision fails here."""

from __future__ import annotations

import pytest
from eks_auditor.checks.registry import CATALOG
from eks_auditor.compliance.frameworks import Coverage, framework, frameworks
from eks_auditor.compliance.frameworks import controls_of as mapped

F, P = Coverage.FULL, Coverage.PARTIAL

# Every check of the catalog: the controls it evidences (framework:control -> coverage); {} says "none".
MAPPING: dict[str, dict[str, Coverage]] = {
    "endpoint_public_unrestricted": {"cis-eks-1.7:5.4.1": F, "cis-eks-1.7:5.4.2": P, "fsbp:EKS.1": P},
    "endpoint_public_access_enabled": {"cis-eks-1.7:5.4.2": F, "fsbp:EKS.1": F},
    "endpoint_private_access_disabled": {"cis-eks-1.7:5.4.1": F},
    "endpoint_nodes_blocked_by_cidrs": {},
    "vpc_endpoint_missing": {},
    "vpc_endpoint_private_dns_disabled": {},
    "control_plane_logging_disabled": {"cis-eks-1.7:2.1.1": P, "fsbp:EKS.8": P},
    "secrets_encryption_disabled": {"cis-eks-1.7:5.3.1": F, "fsbp:EKS.3": F},
    # Also warns 90 days ahead: EKS.2 fails only past the end of support (no exact check yet).
    "version_end_of_standard_support": {"fsbp:EKS.2": P},
    "oidc_provider_missing": {},
    "nodegroup_ssh_open": {"fsbp:EC2.13": P},
    "nodes_public_subnet": {"cis-eks-1.7:5.4.3": P, "fsbp:EC2.15": P},
    "spot_interruption_notice": {},
    "spot_interruption_burst": {},
    "spot_single_instance_type": {},
    "autoscaler_dynamic_instance_list": {},
    "cluster_admin_broad": {"cis-eks-1.7:4.1.1": P},
    "ip_capacity_exhaustion_risk": {},
    "ip_prefix_delegation_recommended": {},
    "pipeline_trail_missing": {},
    "pipeline_rule_broken": {},
    "pipeline_backlog": {},
    "pipeline_silent": {},
    "cluster_subnet_ip_low": {},
    "audit_incomplete": {},
}


def test_every_check_of_the_catalog_has_its_mapping_pinned() -> None:
    assert sorted(MAPPING) == sorted(CATALOG)
    assert {check: {ref.label: ref.coverage for ref in mapped(check)} for check in CATALOG} == MAPPING


@pytest.mark.parametrize("f", frameworks(), ids=lambda f: f.id)
def test_every_framework_file_decides_every_check_once(f) -> None:  # type: ignore[no-untyped-def]
    named = [check for control in f.controls for check in control.checks]
    assert not set(named) & set(f.no_controls), "a check both maps and evidences nothing"
    assert sorted(set(named) | set(f.no_controls)) == sorted(CATALOG), "undecided or unknown check ids"
    assert len(f.no_controls) == len(set(f.no_controls))
    ids = [control.id for control in f.controls]
    assert len(ids) == len(set(ids))
    assert all(control.url.startswith("https://") for control in f.controls)


def test_assessed_controls_are_those_with_an_exact_check() -> None:
    assessed = {f.id: [c.id for c in f.controls if c.assessed] for f in frameworks()}
    assert assessed == {"cis-eks-1.7": ["5.3.1", "5.4.1", "5.4.2"], "fsbp": ["EKS.1", "EKS.3"]}


def test_a_family_names_its_latest_version() -> None:
    assert framework("cis-eks").id == "cis-eks-1.7"
    assert framework("cis-eks-1.7").id == "cis-eks-1.7"
    assert framework("fsbp").id == "fsbp"
    with pytest.raises(KeyError, match="unknown framework 'nist'"):
        framework("nist")


def test_cis_ids_are_the_benchmarks_sections_two_four_and_five() -> None:
    ids = [c.id for c in framework("cis-eks").controls]
    assert ids[:2] == ["2.1.1", "2.1.2"]
    assert {i.rsplit(".", 1)[0] for i in ids} == {
        "2.1",
        "4.1",
        "4.2",
        "4.3",
        "4.4",
        "4.5",
        "5.1",
        "5.2",
        "5.3",
        "5.4",
        "5.5",
    }
    assert len(ids) == 33
