"""The speech-to-text engine interface: one committed utterance in, a transcript stream out.

Failures are translated once, at the engine boundary, into ``STTError`` with a stable ``code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TranscriptionRequest:
    audio: bytes
    """PCM16 mono little-endian at ``sample_rate``."""
    sample_rate: int
    model: str
    """The model name the client asked for (``whisper-1``, ``gpt-4o-transcribe``, …)."""
    language: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptDone:
    text: str
    """The whole transcript (not only what the deltas did not carry)."""
    duration_s: float
    """Seconds of audio transcribed."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    """Token counts when the engine reports them; otherwise usage is given as duration."""


TranscriptChunk = TranscriptDelta | TranscriptDone


class STTError(Exception):
    """A transcription failed; ``code`` is stable (``stt_unreachable``, ``stt_timeout``,
    ``stt_bad_response``, ``stt_http_<status>``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Transcriber(Protocol):
    sample_rate: int
    """The rate it prefers its audio at; the runtime resamples to it."""

    def transcribe(self, request: TranscriptionRequest) -> AsyncIterator[TranscriptChunk]:
        """Zero or more deltas, then exactly one ``TranscriptDone``; or raise ``STTError``."""
        ...

    async def aclose(self) -> None: ...
