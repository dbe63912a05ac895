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
    def increment_counter(self, key: str, *, expires_at: datetime) -> int:
        """Atomically add one to the counter `key` and return the new count (TTL from expires_at).

        A counter whose window has ended (past expires_at, not yet removed by TTL) starts again at 1.
        """
        item_key = {"pk": {"S": f"COUNTER#{key}"}, "sk": {"S": "COUNTER"}}
        ttl = {"N": str(epoch(expires_at))}
        while True:
            now = _now()
            response = self.conditional(
                "update_item",
                Key=item_key,
                UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(pk) OR #ttl > :now",
                ExpressionAttributeNames={"#n": "count", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": ttl, ":now": now},
                ReturnValues="UPDATED_NEW",
            )
            if response is not None:
                return int(response["Attributes"]["count"]["N"])
            restarted = self.conditional(
                "put_item",
                Item={**item_key, "count": {"N": "1"}, TTL_ATTRIBUTE: ttl},
                ConditionExpression="#ttl <= :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": now},
            )
            if restarted is not None:
                return 1
            # Another caller restarted the window first: count on top of it.

    def claim_once(self, key: str, *, expires_at: datetime) -> bool:
        """True for the first caller only, until expires_at (one alert per burst window)."""
        claimed = self.conditional(
            "put_item",
            Item={
                "pk": {"S": f"CLAIM#{key}"},
                "sk": {"S": "CLAIM"},
                TTL_ATTRIBUTE: {"N": str(epoch(expires_at))},
            },
            # TTL deletes expired items only eventually: an expired claim must not block a new window.
            ConditionExpression="attribute_not_exists(pk) OR #ttl <= :now",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":now": _now()},
        )
        return claimed is not None
