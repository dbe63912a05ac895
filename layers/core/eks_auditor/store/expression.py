"""The one DynamoDB expression builder: placeholders for every attribute name and value.

UpdateExpression (SET/REMOVE), ConditionExpression, KeyConditionExpression and FilterExpression of one
request share the same name and value maps, so one builder serves a whole request.
"""

from __future__ import annotations

from typing import Any


class Expression:
    """Names as `#n<i>`, values as `:v<i>`; `sets`/`removes` build the update, `filters` the filter."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.filters: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        """A placeholder for a typed value ({"S": ...}); a plain string is taken as {"S": string}."""
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = {"S": value} if isinstance(value, str) else value
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(value)}")

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    def equals(self, attribute: str, text: str) -> None:
        self.filters.append(f"{self.name(attribute)} = {self.value(text)}")

    def one_of(self, attribute: str, texts: list[str]) -> None:
        self.filters.append(f"{self.name(attribute)} IN ({', '.join(self.value(text) for text in texts)})")

    @property
    def update(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def placeholders(self) -> dict[str, Any]:
        """ExpressionAttributeNames/Values for a request (DynamoDB rejects an empty values map)."""
        request: dict[str, Any] = {"ExpressionAttributeNames": dict(self.names)}
        if self.values:
            request["ExpressionAttributeValues"] = dict(self.values)
        return request

    def query(self, key_condition: str, **extra: Any) -> dict[str, Any]:
        """A Query request: the key condition, the filters joined with AND, the placeholders."""
        request: dict[str, Any] = {"KeyConditionExpression": key_condition, **self.placeholders(), **extra}
        if self.filters:
            request["FilterExpression"] = " AND ".join(self.filters)
        return request

    def update_request(self, table: str, key: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        """An UpdateItem (or transaction Update) request for `key`."""
        request: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": self.update}
        if condition:
            request["ConditionExpression"] = condition
        request.update(self.placeholders())
        return request
