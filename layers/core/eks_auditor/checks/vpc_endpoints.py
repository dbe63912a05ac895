"""VPC endpoints that nodes in isolated subnets need (EKS user guide, "private clusters").

A node subnet is isolated when the egress model (`VpcNetwork.egress`, DESIGN §2) finds no way out: no
route, a blackhole, a private NAT gateway, a VPC peering connection, a firewall endpoint with nothing
behind it, a transit gateway whose route tables lead nowhere. NAT instances, firewall / GWLB endpoints
in front of a NAT or internet gateway, and transit gateways leading to an egress VPC (or declared by
the operator) are egress. Where egress exists but what is behind it could not be read, the subnet is
*unverified*: not isolated, and one LOW outcome (`<cluster_arn>/vpc-endpoint/egress-unverified`) says
what could not be verified — never a CRITICAL "image pulls fail".

Resource id, both checks: `<cluster_arn>/vpc-endpoint/<service suffix>` (e.g. `.../vpc-endpoint/ecr.api`),
one per required service, stable when an endpoint is replaced. With no isolated node subnet every
service gets NOT_APPLICABLE, so findings opened earlier resolve.

Severity of a missing endpoint follows what breaks without it:
- ecr.api, ecr.dkr, s3: CRITICAL, image pulls fail (ECR keeps image layers in S3);
- ec2 (the VPC CNI assigns ENIs and IPs through it): HIGH;
- sts: HIGH when IRSA is in use (an IAM OIDC provider for the cluster's issuer) or cluster-autoscaler
  runs (its credentials come through IRSA); neither: NOT_APPLICABLE (not a finding);
- eks: MEDIUM (the AWS table lists it; cluster-autoscaler's DescribeNodegroup for zero-node groups and
  bootstrap scripts that describe the cluster use it);
- logs, elasticloadbalancing: MEDIUM, node and pod logs are lost silently / the AWS Load Balancer
  Controller cannot create or register load balancers, both common in production clusters;
- autoscaling: HIGH when cluster-autoscaler runs (it cannot scale without it), else LOW.

S3 counts as present when the S3 *gateway* endpoints' route tables include the effective route table
(explicit association, else the main table) of every isolated node subnet, or when an S3 *interface*
endpoint has private DNS on (then the standard S3 host names resolve to it). The snapshot does not
carry `PrivateDnsOnlyForInboundResolverEndpoint`; with it set, in-VPC traffic still needs the gateway.

An interface endpoint present but without a network interface in some isolated subnet's AZ still
passes (cross-AZ traffic works); the PASS evidence lists those AZs (`azs_without_endpoint`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from eks_auditor.checks.base import *
from eks_auditor.model.network import VpcEndpoint, VpcNetwork

_INTERFACE_DOC = "https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html"
_S3_GATEWAY_DOC = "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html"
_ECR_DOC = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html"
_PRIVATE_DNS_DOC = (
    "https://docs.aws.amazon.com/vpc/latest/privatelink/interface-endpoints.html#enable-private-dns-names"
)


@dataclass(frozen=True)
class RequiredService:
    suffix: str
    severity: Severity
    consequence: str


INTERFACE_SERVICES: tuple[RequiredService, ...] = (
    RequiredService("ecr.api", Severity.CRITICAL, "image pulls from ECR fail (registry API)"),
    RequiredService("ecr.dkr", Severity.CRITICAL, "image pulls from ECR fail (Docker registry endpoint)"),
    RequiredService("sts", Severity.HIGH, "IRSA pods cannot get credentials (AssumeRoleWithWebIdentity)"),
    RequiredService("ec2", Severity.HIGH, "the VPC CNI cannot attach ENIs or assign pod IPs"),
    RequiredService("logs", Severity.MEDIUM, "node and pod logs never reach CloudWatch Logs"),
    RequiredService(
        "elasticloadbalancing",
        Severity.MEDIUM,
        "the AWS Load Balancer Controller cannot manage load balancers",
    ),
    RequiredService(
        "autoscaling", Severity.LOW, "cluster-autoscaler cannot read or resize Auto Scaling groups"
    ),
    RequiredService(
        "eks-auth",
        Severity.HIGH,
        "pods using EKS Pod Identity cannot get credentials (AssumeRoleForPodIdentity)",
    ),
    RequiredService(
        "eks",
        Severity.MEDIUM,
        "EKS API calls from the VPC fail (cluster-autoscaler's DescribeNodegroup for zero-node groups)",
    ),
)
UNVERIFIED_RESOURCE = "egress-unverified"
S3_SERVICE = RequiredService("s3", Severity.CRITICAL, "image layers (stored in S3) cannot be downloaded")
REQUIRED_SERVICES: tuple[RequiredService, ...] = (
    *INTERFACE_SERVICES[:2],
    S3_SERVICE,
    *INTERFACE_SERVICES[2:],
)

_EVENTS = (
    events.CLUSTER_CONFIG
    + events.NODEGROUPS_ADDED_OR_REMOVED
    + events.SELF_MANAGED_GROUPS
    + events.VPC_ENDPOINTS
    + events.NODE_EGRESS
    + events.EGRESS_PATHS
)

ENDPOINT_MISSING = CheckSpec(
    id="vpc_endpoint_missing",
    title="Isolated node subnets lack a required VPC endpoint",
    severity=Severity.CRITICAL,
    severity_rule="by service",
    description=(
        "Nodes run in subnets with no route to a NAT or internet gateway, and the VPC has no endpoint for an "
        "AWS service they need. Severity depends on the service: ECR and S3 (image pulls) CRITICAL, STS and "
        "EC2 (IRSA, VPC CNI) HIGH, CloudWatch Logs and Elastic Load Balancing MEDIUM, Auto Scaling LOW."
    ),
    remediation=(
        "Create the endpoint in the cluster VPC. Interface services: aws ec2 create-vpc-endpoint "
        "--vpc-endpoint-type Interface --vpc-id <vpc> --service-name com.amazonaws.<region>.<service> "
        "--subnet-ids <one node subnet per AZ> --security-group-ids <sg allowing 443 from the node subnets> "
        "--private-dns-enabled. S3: aws ec2 create-vpc-endpoint --vpc-endpoint-type Gateway --vpc-id <vpc> "
        "--service-name com.amazonaws.<region>.s3 --route-table-ids <every node subnet's route table> "
        "(or aws ec2 modify-vpc-endpoint --add-route-table-ids for an existing one). "
        "Console: VPC > Endpoints > Create endpoint."
    ),
    references=(PRIVATE_CLUSTERS_DOC, _INTERFACE_DOC, _S3_GATEWAY_DOC, _ECR_DOC),
    requires=(Part.CLUSTER, Part.NETWORK, Part.NODEGROUPS),
    # Which services are required depends on the features in use: IRSA (OIDC providers),
    # cluster-autoscaler and log shippers (Kubernetes), Pod Identity (associations, add-ons).
    reads=(Part.IAM_OIDC_PROVIDERS, Part.KUBERNETES, Part.ADDONS, Part.POD_IDENTITY),
    # IRSA (an IAM OIDC provider for the cluster's issuer) makes sts required; Pod Identity eks-auth;
    # a log-shipping add-on logs.
    # The endpoints' security groups must admit 443 from the nodes: their rules change the verdict too.
    events=_EVENTS
    + events.OIDC_PROVIDERS
    + events.ADDONS
    + events.POD_IDENTITY
    + events.SECURITY_GROUP_RULES,
    schedule_only={
        Part.KUBERNETES: (
            "cluster-autoscaler (which makes autoscaling and sts required) and log-shipping DaemonSets are "
            "installed, changed and removed through the Kubernetes API"
        )
    },
)

PRIVATE_DNS_DISABLED = CheckSpec(
    id="vpc_endpoint_private_dns_disabled",
    title="Required interface endpoint has private DNS off",
    severity=Severity.HIGH,
    description=(
        "An interface endpoint that isolated nodes need exists but has private DNS off: the service's "
        "standard host name still resolves to public addresses the nodes cannot reach, so clients that "
        "do not use the endpoint-specific DNS name (kubelet, the VPC CNI, the AWS SDKs) fail."
    ),
    remediation=(
        "Turn private DNS on: aws ec2 modify-vpc-endpoint --vpc-endpoint-id <vpce-id> --private-dns-enabled "
        "(the VPC needs enableDnsSupport and enableDnsHostnames: aws ec2 modify-vpc-attribute). "
        "Console: VPC > Endpoints > Actions > Modify private DNS name."
    ),
    references=(PRIVATE_CLUSTERS_DOC, _PRIVATE_DNS_DOC),
    requires=(Part.CLUSTER, Part.NETWORK, Part.NODEGROUPS),
    events=_EVENTS + events.VPC_DNS,
)


def endpoint_resource(cluster_arn: str, suffix: str) -> str:
    return f"{cluster_arn}/vpc-endpoint/{suffix}"


def usable_endpoints(network: VpcNetwork, region: str, suffix: str) -> tuple[VpcEndpoint, ...]:
    """Available or pending endpoints for the service; China regions prefix the name with `cn.`."""
    found = network.endpoints_for(suffix, region)
    if region.startswith("cn-"):
        china = f"cn.com.amazonaws.{region}.{suffix}"
        found += tuple(
            e
            for e in network.vpc_endpoints
            if e.service_name == china and e.state.lower() in ("available", "pending", "pendingacceptance")
        )
    return found


def _of_type(endpoints: tuple[VpcEndpoint, ...], kind: str) -> list[VpcEndpoint]:
    return [e for e in endpoints if e.type.lower() == kind]


@dataclass(frozen=True)
class _Scope:
    isolated: tuple[str, ...]
    azs: tuple[str, ...]  # AZs of the isolated subnets, sorted
    unverified: tuple[dict[str, str], ...] = ()  # subnets whose egress could not be verified


def _scope(snapshot: ClusterSnapshot, network: VpcNetwork) -> _Scope:
    verdicts = {s: network.egress(s) for s in snapshot.node_subnet_ids()}
    isolated = tuple(s for s, e in verdicts.items() if e.verdict == "none")
    unverified = tuple(
        {"subnet_id": s, "via": e.via, "not_verified": e.reason}
        for s, e in verdicts.items()
        if e.verdict == "unverified"
    )
    azs = sorted({network.subnets[s].availability_zone for s in isolated if s in network.subnets})
    return _Scope(isolated=isolated, azs=tuple(azs), unverified=unverified)


def _autoscaler_runs(snapshot: ClusterSnapshot) -> bool | None:
    kubernetes = snapshot.kubernetes
    if kubernetes is None or kubernetes.autoscalers is None:
        return None
    return any(w.replicas != 0 for w in kubernetes.autoscalers)


def _uses_irsa(snapshot: ClusterSnapshot) -> bool | None:
    issuer = snapshot.cluster.oidc_issuer if snapshot.cluster else None
    if not issuer:
        return False
    if snapshot.iam_oidc_providers is None:
        return None
    return issuer.removeprefix("https://") in snapshot.iam_oidc_providers


POD_IDENTITY_AGENT_ADDON = "eks-pod-identity-agent"
CLOUDWATCH_OBSERVABILITY_ADDON = "amazon-cloudwatch-observability"


def _uses_pod_identity(snapshot: ClusterSnapshot) -> tuple[bool | None, str]:
    associations, addons = snapshot.pod_identity_associations, snapshot.addons
    if associations:
        return True, f"{len(associations)} EKS Pod Identity association(s)"
    if addons is not None and POD_IDENTITY_AGENT_ADDON in addons:
        return True, f"the {POD_IDENTITY_AGENT_ADDON} add-on is installed"
    unread = [
        f"{part}: {snapshot.gaps.get(part, 'not collected')}"
        for part, value in ((Part.POD_IDENTITY, associations), (Part.ADDONS, addons))
        if value is None
    ]
    if unread:
        return None, "EKS Pod Identity use could not be read (" + "; ".join(unread) + ")"
    return False, f"no EKS Pod Identity association and no {POD_IDENTITY_AGENT_ADDON} add-on"


def _ships_logs(snapshot: ClusterSnapshot) -> tuple[bool | None, str]:
    addons = snapshot.addons
    if addons is not None and CLOUDWATCH_OBSERVABILITY_ADDON in addons:
        return True, f"the {CLOUDWATCH_OBSERVABILITY_ADDON} add-on ships logs to CloudWatch"
    kubernetes = snapshot.kubernetes
    shippers = kubernetes.log_shippers if kubernetes else None
    if shippers:
        names = ", ".join(f"{w.namespace}/{w.name}" for w in shippers)
        return True, f"log shipper DaemonSet(s) run: {names}"
    if addons is None or shippers is None:
        return None, "log shippers (add-ons, DaemonSets) could not be read: assumed in use"
    return False, "no CloudWatch log shipper (add-on, Fluent Bit or CloudWatch agent DaemonSet)"


@dataclass(frozen=True)
class Requirement:
    """Whether a service is needed: `severity` None is not needed, unless `unknown` (then ERROR)."""

    severity: Severity | None
    why: str
    unknown: bool = False


def requirement(snapshot: ClusterSnapshot, service: RequiredService) -> Requirement:
    """The service's severity by the features the cluster uses (EKS user guide, private clusters)."""
    autoscaler, irsa = _autoscaler_runs(snapshot), _uses_irsa(snapshot)
    if service.suffix == "autoscaling":
        if autoscaler:
            return Requirement(Severity.HIGH, "cluster-autoscaler runs in the cluster")
        why = "cluster-autoscaler not seen" if autoscaler is False else "Deployments not read"
        return Requirement(service.severity, why)
    if service.suffix == "sts":
        if irsa or autoscaler:
            return Requirement(
                Severity.HIGH, "IRSA in use" if irsa else "cluster-autoscaler runs in the cluster"
            )
        if irsa is None or autoscaler is None:
            return Requirement(
                Severity.HIGH, "IRSA / cluster-autoscaler use could not be read: assumed in use"
            )
        return Requirement(None, "no IRSA (no IAM OIDC provider for the issuer) and no cluster-autoscaler")
    if service.suffix == "eks-auth":
        used, why = _uses_pod_identity(snapshot)
        if used is None:
            return Requirement(None, why, unknown=True)
        return Requirement(service.severity if used else None, why)
    if service.suffix == "logs":
        ships, why = _ships_logs(snapshot)
        return Requirement(None if ships is False else service.severity, why)
    return Requirement(service.severity, "required for every isolated cluster")


def _not_applicable_all(spec: CheckSpec, snapshot: ClusterSnapshot, suffixes: list[str]) -> list[Outcome]:
    reason = "no node subnet is isolated: nodes reach AWS APIs through a NAT or internet gateway"
    return [not_applicable(spec, endpoint_resource(snapshot.arn, s), reason) for s in suffixes]


def _endpoint_azs(network: VpcNetwork, endpoints: list[VpcEndpoint]) -> set[str]:
    return {
        network.subnets[s].availability_zone for e in endpoints for s in e.subnet_ids if s in network.subnets
    }


def _interface_outcome(
    snapshot: ClusterSnapshot, network: VpcNetwork, scope: _Scope, service: RequiredService
) -> Outcome:
    spec = ENDPOINT_MISSING
    resource = endpoint_resource(snapshot.arn, service.suffix)
    name = f"com.amazonaws.{snapshot.region}.{service.suffix}"
    interfaces = _of_type(usable_endpoints(network, snapshot.region, service.suffix), "interface")
    needed = requirement(snapshot, service)
    if needed.unknown:
        return could_not_evaluate(spec, resource, needed.why)
    if needed.severity is None:
        return not_applicable(spec, resource, f"not needed: {needed.why}")
    if not interfaces:
        return _interface_fail(
            resource,
            name,
            service,
            needed,
            detail={"isolated_subnets": list(scope.isolated)},
            title=f"Isolated node subnets have no {service.suffix} VPC endpoint",
        )
    reach = [_reachability(snapshot, network, scope, e) for e in interfaces]
    serving = [r for r in reach if not r.blocked and not r.unsure]
    if not serving:
        return _unreachable_outcome(resource, name, service, reach, needed)
    uncovered = sorted(set(scope.azs) - _endpoint_azs(network, interfaces))
    return passed(
        spec,
        resource,
        evidence={
            "service": name,
            "vpc_endpoint_ids": [e.id for e in interfaces],
            "admitting_endpoint_ids": [r.endpoint_id for r in serving],
            "azs_without_endpoint": uncovered,
        },
    )


HTTPS = 443


@dataclass(frozen=True)
class _Reach:
    """Whether one interface endpoint's security groups admit 443 from each isolated node subnet."""

    endpoint_id: str
    security_group_ids: tuple[str, ...]
    blocked: tuple[str, ...] = ()  # subnets certainly not admitted
    unsure: tuple[str, ...] = ()  # subnets whose admission could not be decided
    unsure_reason: str = ""

    def evidence(self) -> dict[str, Any]:
        return {
            "vpc_endpoint_id": self.endpoint_id,
            "security_group_ids": list(self.security_group_ids),
            "subnets_not_admitted": list(self.blocked),
        }


def _unreachable_outcome(
    resource: str,
    name: str,
    service: RequiredService,
    reach: list[_Reach],
    needed: Requirement,
) -> Outcome:
    """No endpoint of the service certainly admits the nodes: ERROR when that is unknown for one, else FAIL
    at the severity of a missing endpoint (the nodes' calls time out all the same)."""
    spec = ENDPOINT_MISSING
    if any(not r.blocked for r in reach):
        unsure = "; ".join(f"{r.endpoint_id}: {r.unsure_reason}" for r in reach if not r.blocked)
        return could_not_evaluate(
            spec, resource, f"whether the {service.suffix} endpoint admits the nodes is unknown ({unsure})"
        )
    return _interface_fail(
        resource,
        name,
        service,
        needed,
        detail={"endpoints": [r.evidence() for r in reach]},
        title=f"The {service.suffix} VPC endpoint's security groups do not admit HTTPS from the nodes",
        description=(
            f"An interface endpoint for {name} exists, but none of its security groups admits TCP 443 "
            "from the isolated node subnets' CIDRs or from the nodes' security groups: the nodes' calls to "
            f"the service time out, as if the endpoint were missing ({service.consequence})."
        ),
        remediation=(
            "aws ec2 authorize-security-group-ingress --group-id <endpoint security group> --protocol tcp "
            "--port 443 --cidr <node subnet CIDR> (or --source-group <node security group>), or attach a "
            "security group that does: aws ec2 modify-vpc-endpoint --vpc-endpoint-id <vpce-id> "
            "--add-security-group-ids <sg>. Console: VPC > Security groups > Edit inbound rules."
        ),
    )


def _interface_fail(
    resource: str,
    name: str,
    service: RequiredService,
    needed: Requirement,
    detail: dict[str, Any],
    **text: str,
) -> Outcome:
    """FAIL: the nodes reach no interface endpoint of the service (none exists, or none admits them);
    `detail` is the evidence of which, `text` the title (and description, remediation) saying so."""
    evidence = {
        "service": name,
        "endpoint_type": "Interface",
        **detail,
        "consequence": service.consequence,
        "required_because": needed.why,
    }
    return fail(ENDPOINT_MISSING, resource, evidence=evidence, severity=needed.severity, **text)


def node_security_groups_in(snapshot: ClusterSnapshot, subnet_id: str) -> frozenset[str] | None:
    """The security groups the nodes in a subnet carry: their groups' launch-template (or launch
    configuration) groups; a managed group without any gets the cluster security group, as do nodes
    assumed in the cluster's subnets. None when some group's are unknown (a self-managed group whose
    template was not read)."""
    cluster_sg = snapshot.cluster.cluster_security_group_id if snapshot.cluster else None
    groups = [g for g in snapshot.nodegroups or () if subnet_id in g.subnet_ids]
    if not groups:
        return frozenset({cluster_sg} if cluster_sg else ())
    found: set[str] = set()
    for group in groups:
        if group.security_group_ids:
            found.update(group.security_group_ids)
        elif group.kind == "managed" and cluster_sg:
            found.add(cluster_sg)
        else:
            return None
    return frozenset(found)


def _covers(rule_cidr: str, subnet_cidr: str) -> bool:
    try:
        rule, subnet = ipaddress.ip_network(rule_cidr, strict=False), ipaddress.ip_network(subnet_cidr)
    except ValueError:
        return False
    return rule.version == subnet.version and subnet.subnet_of(rule)  # type: ignore[arg-type]


def _reachability(
    snapshot: ClusterSnapshot, network: VpcNetwork, scope: _Scope, endpoint: VpcEndpoint
) -> _Reach:
    sgs = endpoint.security_group_ids
    unread = network.endpoint_security_groups_unread
    missing = [sg for sg in sgs if sg not in network.endpoint_security_groups]
    if unread or not sgs or missing:
        reason = (
            f"its security groups could not be read ({unread})"
            if unread
            else "DescribeVpcEndpoints listed no security group"
            if not sgs
            else f"security groups {', '.join(missing)} not described"
        )
        return _Reach(endpoint.id, sgs, unsure=scope.isolated, unsure_reason=reason)
    rules = [
        r for sg in sgs for r in network.endpoint_security_groups[sg].ingress if r.allows_port(HTTPS, "tcp")
    ]
    blocked: list[str] = []
    unsure: list[str] = []
    reasons: list[str] = []
    ipv6 = snapshot.cluster is not None and snapshot.cluster.ip_family == "ipv6"
    for subnet_id in scope.isolated:
        subnet = network.subnets.get(subnet_id)
        node_sgs = node_security_groups_in(snapshot, subnet_id)
        if subnet is not None and any(_covers(c, subnet.cidr) for r in rules for c in r.cidrs):
            continue
        if node_sgs and any(set(r.source_groups) & node_sgs for r in rules):
            continue
        doubts = []
        if subnet is None:
            doubts.append(f"subnet {subnet_id} not described")
        if any(r.prefix_lists for r in rules):
            doubts.append("a prefix-list source (its ranges are not read)")
        if node_sgs is None and any(r.source_groups for r in rules):
            doubts.append(f"the security groups of the nodes in {subnet_id} are unknown")
        if ipv6 and any(":" in c for r in rules for c in r.cidrs):
            # Dual-stack endpoints take the nodes' IPv6 traffic; the subnets' IPv6 CIDRs are not read.
            doubts.append("an IPv6 source range (the node subnets' IPv6 CIDRs are not read)")
        if doubts:
            unsure.append(subnet_id)
            reasons.extend(doubts)
        else:
            blocked.append(subnet_id)
    return _Reach(
        endpoint.id,
        sgs,
        blocked=tuple(blocked),
        unsure=tuple(unsure),
        unsure_reason="; ".join(dict.fromkeys(reasons)),
    )


def _s3_outcome(snapshot: ClusterSnapshot, network: VpcNetwork, scope: _Scope) -> Outcome:
    spec = ENDPOINT_MISSING
    resource = endpoint_resource(snapshot.arn, S3_SERVICE.suffix)
    name = f"com.amazonaws.{snapshot.region}.s3"
    endpoints = usable_endpoints(network, snapshot.region, "s3")
    gateways = _of_type(endpoints, "gateway")
    interfaces = _of_type(endpoints, "interface")
    covered = {rt for e in gateways for rt in e.route_table_ids}
    uncovered_subnets: list[dict[str, Any]] = []
    for subnet_id in scope.isolated:
        table = network.route_table_for(subnet_id)
        if table is None or table.id not in covered:
            uncovered_subnets.append({"subnet_id": subnet_id, "route_table_id": table.id if table else None})
    dns_interfaces = [e.id for e in interfaces if e.private_dns_enabled]
    if not uncovered_subnets:
        return passed(
            spec, resource, evidence={"service": name, "gateway_endpoint_ids": [e.id for e in gateways]}
        )
    if dns_interfaces:
        # Reached through the interface endpoint: its security groups must admit the nodes' HTTPS too.
        reach = [_reachability(snapshot, network, scope, e) for e in interfaces if e.private_dns_enabled]
        if not any(not r.blocked and not r.unsure for r in reach):
            why = "the S3 gateway endpoint does not cover every isolated node subnet's route table"
            needed = Requirement(S3_SERVICE.severity, why)
            return _unreachable_outcome(resource, name, S3_SERVICE, reach, needed)
        return passed(spec, resource, evidence={"service": name, "interface_endpoint_ids": dns_interfaces})
    evidence: dict[str, Any] = {
        "service": name,
        "endpoint_type": "Gateway",
        "gateway_endpoint_ids": [e.id for e in gateways],
        "route_tables_without_s3": sorted({str(u["route_table_id"]) for u in uncovered_subnets}),
        "subnets_without_s3": [u["subnet_id"] for u in uncovered_subnets],
        "consequence": S3_SERVICE.consequence,
    }
    if interfaces:
        evidence["interface_endpoints_without_private_dns"] = [e.id for e in interfaces]
    title = (
        "S3 gateway endpoint is not associated with every isolated node subnet's route table"
        if gateways
        else "Isolated node subnets have no S3 VPC endpoint"
    )
    return fail(spec, resource, evidence=evidence, severity=S3_SERVICE.severity, title=title)


def check_endpoint_missing(snapshot: ClusterSnapshot) -> list[Outcome]:
    network = collected(snapshot.network, Part.NETWORK)
    scope = _scope(snapshot, network)
    unverified = _unverified_outcome(snapshot, scope)
    if not scope.isolated:
        suffixes = [s.suffix for s in REQUIRED_SERVICES]
        return [*_not_applicable_all(ENDPOINT_MISSING, snapshot, suffixes), unverified]
    outcomes: list[Outcome] = [unverified]
    for service in REQUIRED_SERVICES:
        if service is S3_SERVICE:
            outcomes.append(_s3_outcome(snapshot, network, scope))
        else:
            outcomes.append(_interface_outcome(snapshot, network, scope, service))
    return outcomes


def _unverified_outcome(snapshot: ClusterSnapshot, scope: _Scope) -> Outcome:
    spec = ENDPOINT_MISSING
    resource = endpoint_resource(snapshot.arn, UNVERIFIED_RESOURCE)
    if not scope.unverified:
        return passed(spec, resource, evidence={"unverified_subnets": []})
    return fail(
        spec,
        resource,
        evidence={"unverified_subnets": list(scope.unverified)},
        severity=Severity.LOW,
        title="Node subnets' internet egress could not be verified",
        description=(
            "Node subnets route 0.0.0.0/0 to a target whose way out could not be read (a transit gateway "
            "of another account, a denied read, an unknown appliance). They are not treated as isolated; "
            "if they have no internet egress, they need the VPC endpoints of a private cluster."
        ),
        remediation=(
            "Grant the audit role the reads named in the evidence (e.g. ec2:SearchTransitGatewayRoutes in "
            "the network account), or declare the transit gateway's egress with the template parameter "
            "KnownEgressTransitGateways; suppress this finding if the path is known to work."
        ),
    )


VPC_DNS_RESOURCE = "vpc-dns"


def _vpc_dns_outcome(snapshot: ClusterSnapshot, network: VpcNetwork) -> Outcome:
    """Private DNS names resolve only with the VPC's enableDnsSupport and enableDnsHostnames on
    (PrivateLink guide, "DNS attributes for your VPC")."""
    spec = PRIVATE_DNS_DISABLED
    resource = endpoint_resource(snapshot.arn, VPC_DNS_RESOURCE)
    relied_on = sorted(
        e.id
        for service in INTERFACE_SERVICES
        for e in _of_type(usable_endpoints(network, snapshot.region, service.suffix), "interface")
        if e.private_dns_enabled
    )
    if not relied_on:
        return not_applicable(spec, resource, "no required interface endpoint relies on private DNS")
    attributes = {"enableDnsSupport": network.dns_support, "enableDnsHostnames": network.dns_hostnames}
    off = [name for name, value in attributes.items() if value is False]
    evidence = {"vpc_id": network.vpc_id, **attributes, "private_dns_endpoint_ids": relied_on}
    if off:
        return fail(
            spec,
            resource,
            evidence=evidence,
            severity=Severity.HIGH,
            title=f"The VPC has {' and '.join(off)} off: endpoint private DNS names do not resolve",
            description=(
                "Interface endpoints have private DNS on, but the VPC's DNS attributes are off: the "
                "services' standard host names do not resolve to the endpoints, so nodes reach for public "
                "addresses they cannot use."
            ),
            remediation=(
                f"aws ec2 modify-vpc-attribute --vpc-id {network.vpc_id} --enable-dns-support; then "
                f"aws ec2 modify-vpc-attribute --vpc-id {network.vpc_id} --enable-dns-hostnames "
                "(console: VPC > Your VPCs > Actions > Edit VPC settings)."
            ),
        )
    unread = [name for name, value in attributes.items() if value is None]
    if unread:
        return could_not_evaluate(spec, resource, f"VPC attributes not read: {', '.join(unread)}")
    return passed(spec, resource, evidence=evidence)


def check_private_dns_disabled(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = PRIVATE_DNS_DISABLED
    network = collected(snapshot.network, Part.NETWORK)
    scope = _scope(snapshot, network)
    if not scope.isolated:
        return _not_applicable_all(
            spec, snapshot, [*(s.suffix for s in INTERFACE_SERVICES), VPC_DNS_RESOURCE]
        )
    outcomes: list[Outcome] = [_vpc_dns_outcome(snapshot, network)]
    for service in INTERFACE_SERVICES:
        resource = endpoint_resource(snapshot.arn, service.suffix)
        interfaces = _of_type(usable_endpoints(network, snapshot.region, service.suffix), "interface")
        if not interfaces:
            outcomes.append(
                not_applicable(spec, resource, "no interface endpoint (see vpc_endpoint_missing)")
            )
            continue
        name = f"com.amazonaws.{snapshot.region}.{service.suffix}"
        with_dns = [e.id for e in interfaces if e.private_dns_enabled]
        if with_dns:
            outcomes.append(passed(spec, resource, evidence={"service": name, "vpc_endpoint_ids": with_dns}))
            continue
        outcomes.append(
            fail(
                spec,
                resource,
                evidence={
                    "service": name,
                    "vpc_endpoint_ids": [e.id for e in interfaces],
                    "private_dns_enabled": False,
                },
                title=f"The {service.suffix} interface endpoint has private DNS off",
            )
        )
    return outcomes


CHECKS: list[Check] = [
    Check(spec=ENDPOINT_MISSING, run=check_endpoint_missing),
    Check(spec=PRIVATE_DNS_DISABLED, run=check_private_dns_disabled),
]
