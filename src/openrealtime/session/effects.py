"""What the session core asks its owner to do (effects), and what comes back (results).

The core never awaits or calls an engine. It returns effects from ``effects_to_run()``; the
runtime performs them and feeds each outcome back through ``receive_result()``, tagged with the
response it belongs to so that late results of a cancelled response are simply dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..audio.spec import AudioSpec
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


@dataclass(frozen=True, slots=True)
class DetectSpeech:
    """Run voice activity detection on the next piece of input audio.

    Answered with ``SpeechProbabilities`` for each complete frame, in order. A new ``epoch``
    starts a fresh stream (turn detection switched on, or the input format changed)."""

    epoch: int
    audio: bytes = field(repr=False)
    spec: AudioSpec


@dataclass(frozen=True, slots=True)
class Transcribe:
    """Transcribe a committed user audio item (beside any response)."""

    item_id: str
    audio: bytes = field(repr=False)
    spec: AudioSpec
    model: str
    language: str | None
    prompt: str | None


@dataclass(frozen=True, slots=True)
class Synthesize:
    """Speak one segment of a response's text. Segments of a response are spoken strictly in
    order; their audio comes back as ``SpeechAudio`` in ``spec``, then ``SpeechDone``."""

    response_id: str
    segment: int
    text: str
    voice: str
    speed: float
    spec: AudioSpec


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Server playback: play this audio of a response after what is queued, in real time."""

    response_id: str
    item_id: str
    audio: bytes = field(repr=False)
    spec: AudioSpec


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Server playback: drop all audio not played yet, now."""


Effect = (Generate | CancelGeneration | DetectSpeech | Transcribe | Synthesize | PlayAudio
          | StopPlayback)

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


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    response_id: str
    segment: int
    audio: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SpeechDone:
    response_id: str
    segment: int


@dataclass(frozen=True, slots=True)
class SpeechFailed:
    response_id: str
    code: str
    message: str


ResponseResult = (TextDelta | ToolCallDelta | GenerationDone | GenerationFailed | SpeechAudio
                  | SpeechDone | SpeechFailed)


@dataclass(frozen=True, slots=True)
class SpeechProbabilities:
    """One probability of speech per VAD frame (``frame_ms`` each), continuing the epoch."""

    epoch: int
    probabilities: tuple[float, ...]
    frame_ms: int = 32


@dataclass(frozen=True, slots=True)
class TranscriptionDelta:
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptionDone:
    item_id: str
    text: str
    duration_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    item_id: str
    code: str
    message: str


Result = (ResponseResult | SpeechProbabilities | TranscriptionDelta | TranscriptionDone
          | TranscriptionFailed)
