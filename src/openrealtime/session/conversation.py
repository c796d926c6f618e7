"""The default conversation: an ordered list of items with O(1) lookup by id.

Appending (what every turn does) is O(1); inserting after a given item or deleting is O(n),
which only clients asking for it pay.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..protocol.items import Item


def item_id(item: Item) -> str:
    assert isinstance(item.id, str), "stored items always have an id"
    return item.id


class Conversation:
    __slots__ = ("_items", "_by_id")

    def __init__(self) -> None:
        self._items: list[Item] = []
        self._by_id: dict[str, Item] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __contains__(self, iid: str) -> bool:
        return iid in self._by_id

    def get(self, iid: str) -> Item | None:
        return self._by_id.get(iid)

    def last_id(self) -> str | None:
        return item_id(self._items[-1]) if self._items else None

    def snapshot(self) -> tuple[Item, ...]:
        return tuple(self._items)

    def append(self, item: Item) -> str | None:
        """Add at the end; returns the id of the item before it."""
        prev = self.last_id()
        self._items.append(item)
        self._by_id[item_id(item)] = item
        return prev

    def insert_after(self, item: Item, previous_item_id: str | None) -> str | None:
        """Insert after ``previous_item_id`` (``None``: at the start). The id must exist."""
        if previous_item_id is None:
            self._items.insert(0, item)
        else:
            prev = self._by_id[previous_item_id]
            index = next(i for i, it in enumerate(self._items) if it is prev)
            self._items.insert(index + 1, item)
        self._by_id[item_id(item)] = item
        return previous_item_id

    def delete(self, iid: str) -> None:
        item = self._by_id.pop(iid)
        # Identity, not equality: structs compare by value and that would be slower.
        del self._items[next(i for i, it in enumerate(self._items) if it is item)]
