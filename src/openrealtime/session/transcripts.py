"""What the LLM hears of user audio: its transcript.

OpenAI's model listens to audio itself; ours reads the speech-to-text transcript. So every
committed audio turn is transcribed, whether or not the client asked for transcription events
(``audio.input.transcription``), and a response whose context holds a turn still being
transcribed waits for it before its LLM request goes out (``response.created`` is not delayed).
A failed transcription releases the wait with nothing heard.

Transcripts the client did not ask for are kept here, not on the item: there, OpenAI leaves the
``transcript`` null.
"""

from __future__ import annotations

import dataclasses

import msgspec

from ..protocol.items import InputAudioPart, Item, MessageItem
from .effects import Generate


class Transcripts:
    __slots__ = ("_pending", "_heard", "_reported", "_held")

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._heard: dict[str, str] = {}
        self._reported: set[str] = set()
        self._held: dict[str, tuple[Generate, set[str]]] = {}

    def started(self, item_id: str, reported: bool) -> None:
        self._pending.add(item_id)
        if reported:
            self._reported.add(item_id)

    def reported(self, item_id: str) -> bool:
        return item_id in self._reported

    def finished(self, item_id: str, text: str) -> list[Generate]:
        """Record what was heard; return the LLM requests that were waiting only for it."""
        self._pending.discard(item_id)
        self._reported.discard(item_id)
        self._heard[item_id] = text
        ready: list[Generate] = []
        for rid, (gen, waiting) in list(self._held.items()):
            waiting.discard(item_id)
            if not waiting:
                del self._held[rid]
                ready.append(self.resolve(gen))
        return ready

    def hold(self, gen: Generate) -> Generate | None:
        """``gen`` with transcripts filled in, or ``None`` if it must wait for some."""
        if not self._pending and not self._heard:
            return gen  # a text-only session: nothing to look up
        waiting = {item.id for item in gen.items
                   if isinstance(item.id, str) and item.id in self._pending}
        if waiting:
            self._held[gen.response_id] = (gen, waiting)
            return None
        return self.resolve(gen)

    def drop(self, response_id: str) -> None:
        self._held.pop(response_id, None)

    def forget(self, item_id: str) -> None:
        self._heard.pop(item_id, None)

    def resolve(self, gen: Generate) -> Generate:
        if not self._heard:
            return gen
        items = tuple(self._with_transcript(item) for item in gen.items)
        return dataclasses.replace(gen, items=items)

    def _with_transcript(self, item: Item) -> Item:
        if not isinstance(item, MessageItem) or not isinstance(item.id, str):
            return item
        heard = self._heard.get(item.id)
        if heard is None:
            return item
        parts = [msgspec.structs.replace(p, transcript=heard)
                 if isinstance(p, InputAudioPart) and p.transcript is None else p
                 for p in item.content]
        return msgspec.structs.replace(item, content=parts)
