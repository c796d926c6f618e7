"""The effective session configuration: OpenAI's defaults, and ``session.update`` merged in.

Merge rules (EVENTS.md §4.1, §6.14): only keys present change; ``null`` clears nullable objects;
``audio.input``/``audio.output`` merge key by key; a given ``turn_detection`` or
``transcription`` object replaces the old one, with OpenAI's defaults for what it leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import msgspec
from msgspec import UNSET

from ..protocol import errors
from ..protocol.errors import ClientError
from ..protocol.session_types import (
    AudioConfig,
    AudioInput,
    AudioOutput,
    AudioPCM,
    FunctionTool,
    McpTool,
    Modality,
    RealtimeSession,
    SemanticVad,
    ServerVad,
    Tool,
    ToolChoice,
    ToolChoiceFunction,
    ToolChoiceMcp,
    Transcription,
    TurnDetection,
    VoiceId,
)

T = TypeVar("T")
D = TypeVar("D")

# Stored prompts live in OpenAI's dashboard; a self-hosted server has none to expand.
NO_PROMPTS = "Stored prompts are not supported by this server; send instructions instead."
DEFAULT_VOICE = "marin"
DEFAULT_TRANSCRIPTION_MODEL = "whisper-1"
# OpenAI documents 500 ms (its live examples show 200 ms); we follow the documented value.
VAD_DEFAULTS = {"threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the engines behind a session can do; the core shapes its defaults on it."""

    audio_output: bool = False


def default_session(
    *, session_id: str, model: str, expires_at: int, caps: Capabilities
) -> RealtimeSession:
    return RealtimeSession(
        object="realtime.session",
        id=session_id,
        expires_at=expires_at,
        model=model,
        output_modalities=["audio"] if caps.audio_output else ["text"],
        instructions="",
        audio=AudioConfig(
            input=AudioInput(
                format=AudioPCM(),
                transcription=None,
                noise_reduction=None,
                turn_detection=fill_turn_detection(ServerVad()),
            ),
            output=AudioOutput(format=AudioPCM(), voice=DEFAULT_VOICE, speed=1.0),
        ),
        include=None,
        tracing=None,
        tools=[],
        tool_choice="auto",
        max_output_tokens="inf",
        truncation="auto",
        prompt=None,
        reasoning=None,
        parallel_tool_calls=True,
    )


def fill_turn_detection(td: TurnDetection) -> TurnDetection:
    if isinstance(td, ServerVad):
        return ServerVad(
            threshold=_or(td.threshold, VAD_DEFAULTS["threshold"]),
            prefix_padding_ms=_or(td.prefix_padding_ms, int(VAD_DEFAULTS["prefix_padding_ms"])),
            silence_duration_ms=_or(
                td.silence_duration_ms, int(VAD_DEFAULTS["silence_duration_ms"])
            ),
            idle_timeout_ms=_or(td.idle_timeout_ms, None),
            create_response=_or(td.create_response, True),
            interrupt_response=_or(td.interrupt_response, True),
        )
    return SemanticVad(
        eagerness=_or(td.eagerness, "auto"),
        create_response=_or(td.create_response, True),
        interrupt_response=_or(td.interrupt_response, True),
    )


def _or(value: T | msgspec.UnsetType, default: D) -> T | D:
    return default if isinstance(value, msgspec.UnsetType) else value


def check_modalities(modalities: list[Modality], param: str) -> None:
    if len(modalities) != 1:
        raise ClientError(
            "output_modalities must be exactly one of ['text'] or ['audio'].",
            param=param,
        )


def check_tools(tools: list[Tool], param: str) -> list[FunctionTool]:
    out: list[FunctionTool] = []
    for i, tool in enumerate(tools):
        if isinstance(tool, McpTool):
            raise ClientError(
                "MCP tools are not supported by this server; use function tools.",
                param=f"{param}[{i}].type",
            )
        out.append(tool)
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ClientError("Tool names must be unique.", param=param)
    return out


def check_tool_choice(choice: ToolChoice, tools: list[Tool], param: str) -> None:
    if isinstance(choice, ToolChoiceMcp):
        raise ClientError("MCP tool choice is not supported by this server.", param=param)
    if isinstance(choice, ToolChoiceFunction) and not any(
        isinstance(t, FunctionTool) and t.name == choice.name for t in tools
    ):
        raise ClientError(f"tool_choice names an unknown function {choice.name!r}.",
                          param=f"{param}.name")


def voice_name(voice: str | VoiceId) -> str:
    # Custom voices go out as their plain id: the most compatible form (EVENTS.md §3.2).
    return voice.id if isinstance(voice, VoiceId) else voice


def apply_update(
    current: RealtimeSession, update: RealtimeSession, *, caps: Capabilities, voice_locked: bool
) -> RealtimeSession:
    """Return the new effective session, or raise ``ClientError`` and change nothing."""
    if update.prompt is not UNSET and update.prompt is not None:
        raise ClientError(NO_PROMPTS, param="session.prompt")
    new = msgspec.structs.replace(current)
    for field in ("model", "instructions", "include", "tracing", "max_output_tokens",
                  "truncation", "prompt", "reasoning", "parallel_tool_calls"):
        value = getattr(update, field)
        if value is not UNSET:
            setattr(new, field, value)
    if update.output_modalities is not UNSET:
        check_modalities(update.output_modalities, "session.output_modalities")
        new.output_modalities = (
            update.output_modalities if caps.audio_output else ["text"]
        )
    if update.tools is not UNSET:
        check_tools(update.tools, "session.tools")
        new.tools = update.tools
    if update.tool_choice is not UNSET:
        new.tool_choice = update.tool_choice
    assert not isinstance(new.tools, msgspec.UnsetType)
    assert not isinstance(new.tool_choice, msgspec.UnsetType)
    if update.tools is not UNSET or update.tool_choice is not UNSET:
        check_tool_choice(new.tool_choice, new.tools, "session.tool_choice")
    if update.audio is not UNSET:
        new.audio = _merge_audio(current.audio, update.audio, voice_locked)
    return new


def _merge_audio(
    current: AudioConfig | msgspec.UnsetType, update: AudioConfig, voice_locked: bool
) -> AudioConfig:
    assert isinstance(current, AudioConfig)
    cur_in, cur_out = current.input, current.output
    assert isinstance(cur_in, AudioInput) and isinstance(cur_out, AudioOutput)
    new_in = msgspec.structs.replace(cur_in)
    new_out = msgspec.structs.replace(cur_out)
    if (up_in := update.input) is not UNSET:
        if up_in.format is not UNSET:
            new_in.format = up_in.format
        if up_in.noise_reduction is not UNSET:
            new_in.noise_reduction = up_in.noise_reduction
        if up_in.transcription is not UNSET:
            new_in.transcription = _fill_transcription(up_in.transcription)
        if up_in.turn_detection is not UNSET:
            td = up_in.turn_detection
            new_in.turn_detection = None if td is None else fill_turn_detection(td)
    if (up_out := update.output) is not UNSET:
        if up_out.format is not UNSET:
            new_out.format = up_out.format
        if up_out.speed is not UNSET:
            new_out.speed = up_out.speed
        if up_out.voice is not UNSET:
            voice = voice_name(up_out.voice)
            # SDKs resend the voice in every update; only an actual change is refused.
            if voice_locked and voice != cur_out.voice:
                raise ClientError(
                    "Cannot update a conversation's voice if assistant audio is present.",
                    code=errors.CANNOT_UPDATE_VOICE,
                    param="session.audio.output.voice",
                )
            new_out.voice = voice
    return AudioConfig(input=new_in, output=new_out)


def _fill_transcription(t: Transcription | None) -> Transcription | None:
    if t is None:
        return None
    return msgspec.structs.replace(t, model=_or(t.model, DEFAULT_TRANSCRIPTION_MODEL))
