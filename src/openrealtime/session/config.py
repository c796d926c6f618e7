"""The effective session configuration: OpenAI's defaults, and ``session.update`` merged in.

Merge rules (EVENTS.md §4.1, §6.14): only keys present change; ``null`` clears nullable objects;
``audio.input``/``audio.output`` merge key by key; a given ``turn_detection`` or
``transcription`` object replaces the old one, with OpenAI's defaults for what it leaves out.

A transcription session (EVENTS.md §3.3) has only the input side. Its turn detection never
answers or interrupts anything, so ``create_response``, ``interrupt_response`` and
``idle_timeout_ms`` (which commits and answers) are accepted in an update but not kept: the
session shows only what applies, as OpenAI's transcription session object does.
"""

from __future__ import annotations

from collections.abc import Callable
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
    TranscriptionAudio,
    TranscriptionSession,
    TurnDetection,
    VoiceId,
)

T = TypeVar("T")
D = TypeVar("D")

# Stored prompts live in OpenAI's dashboard; a self-hosted server has none to expand.
NO_PROMPTS = "Stored prompts are not supported by this server; send instructions instead."
DEFAULT_VOICE = "marin"
DEFAULT_TRANSCRIPTION_MODEL = "whisper-1"
TRANSCRIPTION_SESSION_OBJECT = "realtime.transcription_session"
# OpenAI documents 500 ms (its live examples show 200 ms); we follow the documented value.
VAD_DEFAULTS = {"threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the engines behind a session can do; the core shapes its defaults on it."""

    audio_output: bool = False
    server_playback: bool = False
    """The server plays the output audio to the client itself, in real time (WebRTC): no audio
    deltas; it tracks what was heard, owns ``output_audio_buffer.*`` and truncates on a cut."""


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


def default_transcription_session(*, session_id: str, expires_at: int) -> TranscriptionSession:
    # Transcription is on from the start: it is all such a session does.
    return TranscriptionSession(
        object=TRANSCRIPTION_SESSION_OBJECT,
        id=session_id,
        expires_at=expires_at,
        audio=TranscriptionAudio(input=AudioInput(
            format=AudioPCM(),
            transcription=_fill_session_transcription(Transcription()),
            noise_reduction=None,
            turn_detection=_fill_input_turn_detection(ServerVad()),
        )),
        include=None,
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


def _fill_input_turn_detection(td: TurnDetection) -> TurnDetection:
    """Turn detection as a transcription session keeps it: only what applies there."""
    full = fill_turn_detection(td)
    if isinstance(full, ServerVad):
        return ServerVad(threshold=full.threshold, prefix_padding_ms=full.prefix_padding_ms,
                         silence_duration_ms=full.silence_duration_ms)
    return SemanticVad(eagerness=full.eagerness)


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
    new_in = cur_in
    new_out = msgspec.structs.replace(cur_out)
    if (up_in := update.input) is not UNSET:
        new_in = _merge_input(cur_in, up_in, _fill_transcription, fill_turn_detection)
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


def _merge_input(
    current: AudioInput,
    update: AudioInput,
    fill_transcription: Callable[[Transcription | None], Transcription | None],
    fill_td: Callable[[TurnDetection], TurnDetection],
) -> AudioInput:
    new = msgspec.structs.replace(current)
    if update.format is not UNSET:
        new.format = update.format
    if update.noise_reduction is not UNSET:
        new.noise_reduction = update.noise_reduction
    if update.transcription is not UNSET:
        new.transcription = fill_transcription(update.transcription)
    if update.turn_detection is not UNSET:
        td = update.turn_detection
        new.turn_detection = None if td is None else fill_td(td)
    return new


def _fill_transcription(t: Transcription | None) -> Transcription | None:
    if t is None:
        return None
    return msgspec.structs.replace(t, model=_or(t.model, DEFAULT_TRANSCRIPTION_MODEL))


def _fill_session_transcription(t: Transcription | None) -> Transcription | None:
    # A transcription session shows its language and prompt, as OpenAI's does (§3.3).
    if t is None:
        return None
    return msgspec.structs.replace(
        t, model=_or(t.model, DEFAULT_TRANSCRIPTION_MODEL), language=_or(t.language, None),
        prompt=_or(t.prompt, ""))


def apply_transcription_update(
    current: TranscriptionSession, update: TranscriptionSession
) -> TranscriptionSession:
    """Return the new effective transcription session, or raise ``ClientError``."""
    new = msgspec.structs.replace(current)
    if update.include is not UNSET:
        new.include = update.include
    if update.audio is not UNSET and (up_in := update.audio.input) is not UNSET:
        assert isinstance(current.audio, TranscriptionAudio)
        cur_in = current.audio.input
        assert isinstance(cur_in, AudioInput)
        new.audio = TranscriptionAudio(input=_merge_input(
            cur_in, up_in, _fill_session_transcription, _fill_input_turn_detection))
    return new
