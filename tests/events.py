"""Small readers of received server events (plain dicts), shared by the tests."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]


def types(events: list[Event]) -> list[str]:
    return [e["type"] for e in events]


def only(events: list[Event], kind: str) -> Event:
    """The one event of type ``kind``; fails naming what came instead."""
    found = [e for e in events if e["type"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {types(events)}"
    return found[0]
