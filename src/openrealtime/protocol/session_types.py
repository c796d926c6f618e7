"""GA session configuration on the wire (EVENTS.md §3.2, §3.3, §3.5).

One set of structs serves both directions. In ``session.update`` every field may be absent
(``UNSET``); "not given" is not ``None`` (``null`` clears a nullable field). The effective
session the server sends in ``session.created``/``session.updated`` is the same struct with every
field filled, so ``UNSET`` never reaches the wire there.

Top-level configuration objects reject unknown keys (OpenAI answers ``unknown_parameter``, which
also catches beta-shaped fields such as ``modalities`` on a GA connection). Nested objects accept
and ignore unknown keys, because SDKs send fields newer than the spec (agents-js sends
``turn_detection.model_version``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# --- audio formats ---------------------------------------------------------------------------


class AudioPCM(msgspec.Struct, tag="audio/pcm", tag_field="type", kw_only=True):
    # GA PCM is 16-bit little-endian mono at exactly 24 kHz; nothing else is accepted.
    rate: Literal[24000] = 24000


class AudioPCMU(msgspec.Struct, tag="audio/pcmu", tag_field="type", kw_only=True):
    pass


class AudioPCMA(msgspec.Struct, tag="audio/pcma", tag_field="type", kw_only=True):
    pass


AudioFormat = AudioPCM | AudioPCMU | AudioPCMA

# --- input side -------------------------------------------------------------------------------


class ServerVad(msgspec.Struct, tag="server_vad", tag_field="type", kw_only=True):
    threshold: Annotated[float, Meta(ge=0.0, le=1.0)] | UnsetType = UNSET
    prefix_padding_ms: Annotated[int, Meta(ge=0, le=10_000)] | UnsetType = UNSET
    silence_duration_ms: Annotated[int, Meta(ge=0, le=10_000)] | UnsetType = UNSET
    idle_timeout_ms: Annotated[int, Meta(ge=5_000, le=30_000)] | None | UnsetType = UNSET
    create_response: bool | UnsetType = UNSET
    interrupt_response: bool | UnsetType = UNSET


class SemanticVad(msgspec.Struct, tag="semantic_vad", tag_field="type", kw_only=True):
    eagerness: Literal["low", "medium", "high", "auto"] | UnsetType = UNSET
    create_response: bool | UnsetType = UNSET
    interrupt_response: bool | UnsetType = UNSET


TurnDetection = ServerVad | SemanticVad


class Transcription(msgspec.Struct, kw_only=True):
    model: str | UnsetType = UNSET
    language: str | None | UnsetType = UNSET
    languages: list[str] | None | UnsetType = UNSET
    keywords: list[str] | None | UnsetType = UNSET
    prompt: str | None | UnsetType = UNSET
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None | UnsetType = UNSET


class NoiseReduction(msgspec.Struct, kw_only=True):
    type: Literal["near_field", "far_field"] | UnsetType = UNSET


class AudioInput(msgspec.Struct, kw_only=True):
    format: AudioFormat | UnsetType = UNSET
    transcription: Transcription | None | UnsetType = UNSET
    noise_reduction: NoiseReduction | None | UnsetType = UNSET
    turn_detection: TurnDetection | None | UnsetType = UNSET


# --- output side ------------------------------------------------------------------------------


class VoiceId(msgspec.Struct, kw_only=True):
    id: str


Voice = str | VoiceId


class AudioOutput(msgspec.Struct, kw_only=True):
    format: AudioFormat | UnsetType = UNSET
    voice: Voice | UnsetType = UNSET
    speed: Annotated[float, Meta(ge=0.25, le=1.5)] | UnsetType = UNSET


class AudioConfig(msgspec.Struct, kw_only=True):
    input: AudioInput | UnsetType = UNSET
    output: AudioOutput | UnsetType = UNSET


# --- tools ------------------------------------------------------------------------------------


class FunctionTool(msgspec.Struct, tag="function", tag_field="type", kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern="^[a-zA-Z0-9_-]+$")]
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET


class McpTool(msgspec.Struct, tag="mcp", tag_field="type", kw_only=True):
    # Accepted by the parser so that the refusal can say what is unsupported.
    server_label: str


Tool = FunctionTool | McpTool


class ToolChoiceFunction(msgspec.Struct, tag="function", tag_field="type", kw_only=True):
    name: str


class ToolChoiceMcp(msgspec.Struct, tag="mcp", tag_field="type", kw_only=True):
    server_label: str
    name: str | None | UnsetType = UNSET


ToolChoice = Literal["auto", "none", "required"] | ToolChoiceFunction | ToolChoiceMcp

# --- the rest ---------------------------------------------------------------------------------


class TracingConfig(msgspec.Struct, kw_only=True):
    workflow_name: str | UnsetType = UNSET
    group_id: str | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET


Tracing = Literal["auto"] | TracingConfig


class TokenLimits(msgspec.Struct, kw_only=True):
    post_instructions: int | UnsetType = UNSET


class RetentionRatio(msgspec.Struct, tag="retention_ratio", tag_field="type", kw_only=True):
    retention_ratio: Annotated[float, Meta(ge=0.0, le=1.0)]
    token_limits: TokenLimits | UnsetType = UNSET


Truncation = Literal["auto", "disabled"] | RetentionRatio


class Reasoning(msgspec.Struct, kw_only=True):
    effort: Literal["minimal", "low", "medium", "high", "xhigh"] | UnsetType = UNSET


MaxOutputTokens = Annotated[int, Meta(ge=1, le=4096)] | Literal["inf"]
Modality = Literal["text", "audio"]
Include = Literal["item.input_audio_transcription.logprobs"]


class RealtimeSession(
    msgspec.Struct, tag="realtime", tag_field="type", kw_only=True, forbid_unknown_fields=True
):
    """A GA realtime session: the update request, and (fully filled) the effective session."""

    # Output-only fields. Clients that echo a received session back are tolerated.
    object: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    model: str | UnsetType = UNSET
    output_modalities: list[Modality] | UnsetType = UNSET
    instructions: str | UnsetType = UNSET
    audio: AudioConfig | UnsetType = UNSET
    include: list[Include] | None | UnsetType = UNSET
    tracing: Tracing | None | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    max_output_tokens: MaxOutputTokens | UnsetType = UNSET
    truncation: Truncation | UnsetType = UNSET
    prompt: dict[str, Any] | None | UnsetType = UNSET
    reasoning: Reasoning | None | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


class TranscriptionAudio(msgspec.Struct, kw_only=True):
    input: AudioInput | UnsetType = UNSET


class TranscriptionSession(
    msgspec.Struct, tag="transcription", tag_field="type", kw_only=True, forbid_unknown_fields=True
):
    """A GA transcription-only session (``session.type = "transcription"``)."""

    object: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    audio: TranscriptionAudio | UnsetType = UNSET
    include: list[Include] | None | UnsetType = UNSET


# ``session.type`` discriminates; a missing type is ``missing_required_parameter`` as at OpenAI.
SessionConfig = RealtimeSession | TranscriptionSession
