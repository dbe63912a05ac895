"""Suppression items in the findings table: one fixed partition, read with one Query per evaluation.

  SUPPRESSION / SUPPRESSION#<id>    the suppression as JSON in `data`

The item carries no `id`, `check_id`, `status_severity` or `registry` attribute, so it stays out of every
GSI (the finding queries decode whatever those indexes hold as findings).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from eks_auditor.store.schema import TTL_ATTRIBUTE, epoch
from eks_auditor.store.table import Table
from eks_auditor.suppressions import Suppression

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SUPPRESSION_PK = "SUPPRESSION"
SUPPRESSION_PREFIX = "SUPPRESSION#"
# Expired suppressions stay listable this long (who accepted which risk until when), then TTL removes them.
RETENTION_AFTER_EXPIRY = timedelta(days=90)


def suppression_key(suppression_id: str) -> dict[str, Any]:
    return {"pk": {"S": SUPPRESSION_PK}, "sk": {"S": f"{SUPPRESSION_PREFIX}{suppression_id}"}}


def suppression_item(suppression: Suppression) -> dict[str, Any]:
    return {
        **suppression_key(suppression.id),
        "data": {"S": suppression.model_dump_json()},
        TTL_ATTRIBUTE: {"N": str(epoch(suppression.expires_at + RETENTION_AFTER_EXPIRY))},
    }


def suppression_from_item(item: Mapping[str, Any]) -> Suppression:
    return Suppression.model_validate_json(item["data"]["S"])


class SuppressionRecords(Table):
    """The suppressions, read once per batch when start_batch() was called (else on every read)."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        super().__init__(table_name, client)
        # Off until start_batch(): the CLI and one-off callers always read the current suppressions.
        self._batch_caching = False
        self._cached: list[Suppression] | None = None

    def start_batch(self) -> None:
        self._batch_caching = True
        self._cached = None

    def put_suppression(self, suppression: Suppression) -> None:
        """Store a new suppression; an existing id is an error (ids are random: a clash is a bug)."""
        self.client.put_item(
            TableName=self.table_name,
            Item=suppression_item(suppression),
            ConditionExpression="attribute_not_exists(pk)",
        )
        self._cached = None

    def suppressions(self) -> list[Suppression]:
        """Every stored suppression, expired ones included (the matcher checks expiry), ordered by id."""
        if self._batch_caching and self._cached is not None:
            return self._cached
        items = self.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": SUPPRESSION_PK}, ":prefix": {"S": SUPPRESSION_PREFIX}},
            # A suppression added a moment ago must count in the next evaluation.
            ConsistentRead=True,
        )
        loaded = [suppression_from_item(item) for item in items]
        if self._batch_caching:
            self._cached = loaded
        return loaded

    def delete_suppression(self, suppression_id: str) -> bool:
        """Remove a suppression; False when there was none with this id."""
        self._cached = None
        deleted = self.conditional(
            "delete_item", Key=suppression_key(suppression_id), ConditionExpression="attribute_exists(pk)"
        )
        return deleted is not None
