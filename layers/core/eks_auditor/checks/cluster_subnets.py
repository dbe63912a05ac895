"""The cluster's own subnets (resourcesVpcConfig.subnetIds): room for the control plane's ENIs.

EKS places up to 4 cross-account ENIs for the control plane in these subnets and needs at least 6 free
IPs in each (16 recommended); an upgrade can create new ENIs (up to 5) before the old ones go. Below 6
free IPs: HIGH (upgrades and ENI replacement can fail); below 16: MEDIUM. Source: EKS user guide,
"VPC and subnet requirements" (Subnet requirements for clusters).

Resource id: `<cluster_arn>/cluster-subnet/<subnet id>`, one per cluster subnet.
"""

from __future__ import annotations

from eks_auditor.checks.base import *

MINIMUM_FREE_IPS = 6
RECOMMENDED_FREE_IPS = 16
_SUBNET_REQUIREMENTS_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html"

SPEC = CheckSpec(
    id="cluster_subnet_ip_low",
    title="A cluster subnet has too few free IP addresses for the control plane's ENIs",
    severity=Severity.HIGH,
    severity_rule="HIGH / MEDIUM",
    description=(
        "EKS places the control plane's network interfaces in the subnets given at cluster creation and "
        "needs at least 6 free IP addresses in each (16 recommended). With fewer, an upgrade or an ENI "
        "replacement can fail."
    ),
    remediation=(
        "Free addresses in the subnet (move node groups or pods to other subnets), or give the cluster "
        "subnets with room: aws eks update-cluster-config --name <cluster> --resources-vpc-config "
        "subnetIds=<subnet>,<subnet> (subnets in at least two AZs, each with 16 or more free IPs)."
    ),
    references=(_SUBNET_REQUIREMENTS_DOC,),
    requires=(Part.CLUSTER, Part.NETWORK),
    # ENIs of pods and load balancers use addresses up without an event of their own: the schedule
    # catches those; these calls change which subnets the cluster uses or how many addresses they have.
    events=events.CLUSTER_CONFIG + events.CLUSTER_VERSION + events.SUBNET_CREATED + events.SUBNET_DELETED,
    schedule_only={Part.NETWORK: events.IP_USE_CHANGES_CONSTANTLY},
)


def resource(snapshot: ClusterSnapshot, subnet_id: str) -> str:
    return f"{snapshot.arn}/cluster-subnet/{subnet_id}"


def check(snapshot: ClusterSnapshot) -> list[Outcome]:
    cluster = collected(snapshot.cluster, Part.CLUSTER)
    network = collected(snapshot.network, Part.NETWORK)
    if not cluster.subnet_ids:
        return [could_not_evaluate(SPEC, snapshot.arn, "DescribeCluster listed no subnets")]
    outcomes: list[Outcome] = []
    for subnet_id in cluster.subnet_ids:
        subnet = network.subnets.get(subnet_id)
        if subnet is None:
            outcomes.append(
                could_not_evaluate(SPEC, resource(snapshot, subnet_id), "subnet not described in the VPC")
            )
            continue
        evidence = {
            "subnet_id": subnet_id,
            "availability_zone": subnet.availability_zone,
            "available_ips": subnet.available_ips,
            "minimum": MINIMUM_FREE_IPS,
            "recommended": RECOMMENDED_FREE_IPS,
        }
        if subnet.available_ips < MINIMUM_FREE_IPS:
            outcomes.append(
                fail(SPEC, resource(snapshot, subnet_id), evidence=evidence, severity=Severity.HIGH)
            )
        elif subnet.available_ips < RECOMMENDED_FREE_IPS:
            outcomes.append(
                fail(SPEC, resource(snapshot, subnet_id), evidence=evidence, severity=Severity.MEDIUM)
            )
        else:
            outcomes.append(passed(SPEC, resource(snapshot, subnet_id), evidence=evidence))
    return outcomes


CHECKS: tuple[Check, ...] = (Check(spec=SPEC, run=check),)
