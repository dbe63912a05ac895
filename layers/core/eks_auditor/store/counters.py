"""Windowed counters and one-per-window claims (spot bursts): items outside every finding partition.

COUNTER#<key> / COUNTER    count, TTL
CLAIM#<key> / CLAIM        TTL
"""

from __future__ import annotations

import time
from datetime import datetime

from eks_auditor.store.schema import TTL_ATTRIBUTE, epoch
from eks_auditor.store.table import Table


def _now() -> dict[str, str]:
    return {"N": str(int(time.time()))}


class Counters(Table):
    def increment_counter(self, key: str, *, member: str, expires_at: datetime) -> int:
        """Count `member` (an event id) once in the counter `key`; return how many members it holds.

        Idempotent: a retried or redelivered event adds nothing (the members are a string set), so a notice
        whose first attempt failed after counting is still counted exactly once. A counter whose window has
        ended (past expires_at, not yet removed by TTL) starts again with this member.
        """
        item_key = {"pk": {"S": f"COUNTER#{key}"}, "sk": {"S": "COUNTER"}}
        ttl = {"N": str(epoch(expires_at))}
        members = {"SS": [member]}
        while True:
            now = _now()
            response = self.conditional(
                "update_item",
                Key=item_key,
                UpdateExpression="ADD #m :m SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(pk) OR #ttl > :now",
                ExpressionAttributeNames={"#m": "members", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":m": members, ":ttl": ttl, ":now": now},
                ReturnValues="ALL_NEW",  # UPDATED_NEW may omit a set the member was already in
            )
            if response is not None:
                return len(response["Attributes"]["members"]["SS"])
            restarted = self.conditional(
                "put_item",
                Item={**item_key, "members": members, TTL_ATTRIBUTE: ttl},
                ConditionExpression="#ttl <= :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": now},
            )
            if restarted is not None:
                return 1
            # Another caller restarted the window first: count on top of it.

    def claim_once(self, key: str, *, claimant: str, expires_at: datetime) -> bool:
        """True for the first claimant only, until expires_at (one alert per burst window); True again for
        that same claimant (its retry must finish what its failed attempt claimed)."""
        claimed = self.conditional(
            "put_item",
            Item={
                "pk": {"S": f"CLAIM#{key}"},
                "sk": {"S": "CLAIM"},
                "claimant": {"S": claimant},
                TTL_ATTRIBUTE: {"N": str(epoch(expires_at))},
            },
            # TTL deletes expired items only eventually: an expired claim must not block a new window.
            ConditionExpression="attribute_not_exists(pk) OR #ttl <= :now OR #c = :c",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE, "#c": "claimant"},
            ExpressionAttributeValues={":now": _now(), ":c": {"S": claimant}},
        )
        return claimed is not None
