"""What the session core asks its owner to do (effects), and what comes back (results).

The core never awaits or calls an engine. It returns effects from ``effects_to_run()``; the
runtime performs them and feeds each outcome back through ``receive_result()``, tagged with the
response it belongs to so that late results of a cancelled response are simply dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..protocol.items import Item
from ..protocol.session_types import FunctionTool, ToolChoice

# --- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generate:
    """Run the LLM for one response. ``items`` is a snapshot of the context, oldest first."""

    response_id: str
    model: str
    instructions: str
    items: tuple[Item, ...]
    tools: tuple[FunctionTool, ...]
    tool_choice: ToolChoice
    max_output_tokens: int | None
    parallel_tool_calls: bool


@dataclass(frozen=True, slots=True)
class CancelGeneration:
    """Stop the work of a response now and close its backend stream."""

    response_id: str


Effect = Generate | CancelGeneration

# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    response_id: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call. The first delta of each ``index`` carries ``name``/``call_id``."""

    response_id: str
    index: int
    arguments: str
    name: str | None = None
    call_id: str | None = None


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class GenerationDone:
    response_id: str
    finish_reason: FinishReason
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    """The backend failed; ``code`` says how (``llm_unreachable``, ``llm_timeout``, …)."""

    response_id: str
    code: str
    message: str


Result = TextDelta | ToolCallDelta | GenerationDone | GenerationFailed
