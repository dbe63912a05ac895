"""The findings store (DynamoDB): the only package that knows the table's key schema."""

from eks_auditor.store.finding_store import FindingStore, HistoryEntry
from eks_auditor.store.lifecycle import change_id
from eks_auditor.store.query import FindingPage, FindingQuery, InvalidToken
from eks_auditor.store.schema import TABLE_DEFINITION, TTL_ATTRIBUTE

__all__ = [
    "TABLE_DEFINITION",
    "TTL_ATTRIBUTE",
    "FindingPage",
    "FindingQuery",
    "FindingStore",
    "HistoryEntry",
    "InvalidToken",
    "change_id",
]
