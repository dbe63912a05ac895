"""What every part of the store shares: the client, the table name and the few request shapes they repeat."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

Item = dict[str, Any]
TRANSACTION_ATTEMPTS = 3


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def default_client() -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))


class Table:
    """The findings table as the store's parts use it (they share one client)."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def query_all(self, **request: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            response = self.client.query(TableName=self.table_name, **request)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_item(self, pk: str, sk: str) -> Item | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return response.get("Item")

    def conditional(self, operation: str, **request: Any) -> Item | None:
        """A conditional PutItem/UpdateItem/DeleteItem: its response, or None when the condition failed."""
        call = getattr(self.client, operation)
        try:
            response: Item = call(**{"TableName": self.table_name, **request})
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return response

    def transact(self, items: list[dict[str, Any]], what: str) -> bool:
        """True when written; False when a condition failed (a newer write won, or a duplicate)."""
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            except self.client.exceptions.TransactionCanceledException as exc:
                cancelled = exc.response.get("CancellationReasons", [])
                reasons = [reason.get("Code", "None") for reason in cancelled]
                if "ConditionalCheckFailed" in reasons:
                    logger.info("write of %s skipped (condition failed: %s)", what, reasons)
                    return False
                if "TransactionConflict" in reasons and attempt < TRANSACTION_ATTEMPTS:
                    time.sleep(0.05 * attempt)
                    continue
                raise
            return True
        return False
