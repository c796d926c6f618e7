"""The LLM engine interface: a request in, a stream of chunks out.

Failures are translated once, at the engine boundary, into ``LLMError`` with a stable ``code``
and whether retrying could help (httpx's ``map_httpcore_exceptions``, livekit's
``APIStatusError.retryable``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from ..protocol.items import Item
from ..protocol.session_types import FunctionTool, ToolChoice


@dataclass(frozen=True, slots=True)
class LLMRequest:
    model: str
    instructions: str
    items: tuple[Item, ...]
    tools: tuple[FunctionTool, ...]
    tool_choice: ToolChoice
    max_output_tokens: int | None
    parallel_tool_calls: bool = True


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """Part of tool call ``index``; its first chunk carries ``name`` and ``call_id``."""

    index: int
    arguments: str
    name: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class FinishChunk:
    reason: Literal["stop", "length", "tool_calls", "content_filter"]
    input_tokens: int
    output_tokens: int


Chunk = TextChunk | ToolCallChunk | FinishChunk

ErrorCode = Literal[
    "llm_unreachable", "llm_timeout", "llm_http_error", "llm_malformed_stream",
    "llm_not_configured", "llm_engine_error",
]


class LLMError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class LLM(Protocol):
    """Streams one response. Must end with exactly one ``FinishChunk`` or raise ``LLMError``.

    Cancelling the consuming task must close the backend stream promptly.
    """

    name: str

    def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A rough count (about four characters per token) for backends that report no usage."""
    return (len(text) + 3) // 4
