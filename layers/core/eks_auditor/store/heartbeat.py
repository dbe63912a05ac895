"""The event pipeline's heartbeat per account-region, in the findings table.

  HEARTBEAT#<account>#<region> / HEARTBEAT   last event processed, previous scheduled scan, watch start

The item carries none of the GSI key attributes (id, check_id, status_severity, registry): it stays out of
every index, and known_clusters never sees it. Writes are conditional, so an older event or scan arriving
late never moves a time backwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.model.pipeline import Heartbeat
from eks_auditor.store.schema import BY_STATUS_SEVERITY, finding_from_item, parse_timestamp, timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEARTBEAT_SK = "HEARTBEAT"
# The schedule's scan ids (functions/schedule): findings it opened are the ones the event path missed.
SCHEDULE_SOURCE_PREFIX = "scan-"


def heartbeat_pk(account: str, region: str) -> str:
    return f"HEARTBEAT#{account}#{region}"


class HeartbeatStore:
    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def record_event(
        self, account: str, region: str, *, event_id: str, event_name: str, at: datetime
    ) -> bool:
        """Note that an event of the account-region was processed; False when a later one is already noted."""
        return self._advance(
            account,
            region,
            "last_event_at",
            at,
            {"last_event_id": event_id, "last_event_name": event_name},
        )

    def record_scan(self, account: str, region: str, *, at: datetime) -> bool:
        """Note a scheduled scan of the account-region (the next scan's "previous scan")."""
        return self._advance(account, region, "previous_scan_at", at, {}, start_watch=True)

    def read(self, account: str, region: str) -> Heartbeat:
        # A Query rather than GetItem: the audit functions are granted Query on the table, not GetItem.
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :p AND sk = :s",
            ExpressionAttributeValues={
                ":p": {"S": heartbeat_pk(account, region)},
                ":s": {"S": HEARTBEAT_SK},
            },
            ConsistentRead=True,
        )
        items = response.get("Items") or [{}]
        item = items[0]

        def time(name: str) -> datetime | None:
            return parse_timestamp(item[name]["S"]) if name in item else None

        def text(name: str) -> str | None:
            return str(item[name]["S"]) if name in item else None

        return Heartbeat(
            last_event_at=time("last_event_at"),
            last_event_id=text("last_event_id"),
            last_event_name=text("last_event_name"),
            previous_scan_at=time("previous_scan_at"),
            watch_started_at=time("watch_started_at"),
        )

    def opened_by_schedule(self, account: str, region: str, since: datetime) -> list[Finding]:
        """OPEN findings of the account-region first seen by a scheduled scan at or after `since`.

        One Query per severity on the status/severity index, from `since` on: never a Scan.
        """
        found: list[Finding] = []
        for severity in Severity:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": BY_STATUS_SEVERITY,
                "KeyConditionExpression": "status_severity = :s AND changed_at >= :t",
                "FilterExpression": ("#a = :a AND #r = :r AND first_seen >= :t AND begins_with(#src, :scan)"),
                "ExpressionAttributeNames": {"#a": "account", "#r": "region", "#src": "source"},
                "ExpressionAttributeValues": {
                    ":s": {"S": f"{Status.OPEN.value}#{severity.value}"},
                    ":t": {"S": timestamp(since)},
                    ":a": {"S": account},
                    ":r": {"S": region},
                    ":scan": {"S": SCHEDULE_SOURCE_PREFIX},
                },
            }
            while True:
                response = self.client.query(**request)
                found.extend(finding_from_item(item) for item in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(found, key=lambda finding: (finding.first_seen, finding.id))

    def _advance(
        self,
        account: str,
        region: str,
        attribute: str,
        at: datetime,
        extra: dict[str, str],
        *,
        start_watch: bool = False,
    ) -> bool:
        names = {"#t": attribute}
        values: dict[str, Any] = {":t": {"S": timestamp(at)}}
        sets = ["#t = :t"]
        for index, (name, value) in enumerate(extra.items()):
            names[f"#x{index}"] = name
            values[f":x{index}"] = {"S": value}
            sets.append(f"#x{index} = :x{index}")
        if start_watch:
            names["#w"] = "watch_started_at"
            sets.append("#w = if_not_exists(#w, :t)")
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": heartbeat_pk(account, region)}, "sk": {"S": HEARTBEAT_SK}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(#t) OR #t < :t",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
