"""Names shared by node specs and the tabular library. No pandas here: node modules import this at load time."""

from __future__ import annotations

OPERATORS = (
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "not_contains",
    "in",
    "not_in",
    "is_missing",
    "not_missing",
)
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")
