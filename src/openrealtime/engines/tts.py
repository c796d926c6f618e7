"""The text-to-speech engine interface: a piece of text in, a stream of PCM16 out.

Failures are translated once, at the engine boundary, into ``TTSError`` with a stable ``code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    text: str
    voice: str
    """A Realtime voice name (``alloy``, ``marin``, …); engines map it to one they have."""
    speed: float = 1.0
    instructions: str | None = None


class TTSError(Exception):
    """A synthesis failed; ``code`` is stable (``tts_unreachable``, ``tts_timeout``,
    ``tts_bad_response``, ``tts_http_<status>``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Synthesizer(Protocol):
    sample_rate: int
    """The rate of the PCM16 it yields."""

    def synthesize(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        """PCM16 mono little-endian at ``sample_rate``, in chunks as they are made; every
        chunk holds whole samples (an even number of bytes)."""
        ...

    async def aclose(self) -> None: ...
