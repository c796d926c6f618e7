"""The 11 GA client events (EVENTS.md §4.1), names as in openai-python.

Every event rejects unknown top-level keys (``unknown_parameter``); ``ClientEvent`` is the tagged
union the codec decodes into, once, at the edge.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .items import InputItem, Item
from .session_types import (
    AudioFormat,
    MaxOutputTokens,
    Modality,
    Reasoning,
    SessionConfig,
    Tool,
    ToolChoice,
    Voice,
)

EventId = str | None | UnsetType


class _ClientEvent(msgspec.Struct, tag_field="type", kw_only=True, forbid_unknown_fields=True):
    event_id: EventId = UNSET


class SessionUpdateEvent(_ClientEvent, tag="session.update"):
    session: SessionConfig


class InputAudioBufferAppendEvent(_ClientEvent, tag="input_audio_buffer.append"):
    audio: str


class InputAudioBufferCommitEvent(_ClientEvent, tag="input_audio_buffer.commit"):
    pass


class InputAudioBufferClearEvent(_ClientEvent, tag="input_audio_buffer.clear"):
    pass


class OutputAudioBufferClearEvent(_ClientEvent, tag="output_audio_buffer.clear"):
    pass


class ConversationItemCreateEvent(_ClientEvent, tag="conversation.item.create"):
    item: Item
    previous_item_id: str | None | UnsetType = UNSET


class ConversationItemRetrieveEvent(_ClientEvent, tag="conversation.item.retrieve"):
    item_id: str


class ConversationItemTruncateEvent(_ClientEvent, tag="conversation.item.truncate"):
    item_id: str
    content_index: Annotated[int, Meta(ge=0)]
    audio_end_ms: Annotated[int, Meta(ge=0)]


class ConversationItemDeleteEvent(_ClientEvent, tag="conversation.item.delete"):
    item_id: str


class ResponseAudioOutput(msgspec.Struct, kw_only=True):
    format: AudioFormat | UnsetType = UNSET
    voice: Voice | UnsetType = UNSET


class ResponseAudio(msgspec.Struct, kw_only=True):
    output: ResponseAudioOutput | UnsetType = UNSET


Metadata = dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=512)]]


class RealtimeResponseCreateParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Per-response overrides (EVENTS.md §3.9); absent fields fall back to the session."""

    output_modalities: list[Modality] | UnsetType = UNSET
    instructions: str | UnsetType = UNSET
    audio: ResponseAudio | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    max_output_tokens: MaxOutputTokens | UnsetType = UNSET
    conversation: Literal["auto", "none"] | UnsetType = UNSET
    input: list[InputItem] | UnsetType = UNSET
    metadata: Annotated[Metadata, Meta(max_length=16)] | None | UnsetType = UNSET
    prompt: dict[str, Any] | None | UnsetType = UNSET
    reasoning: Reasoning | None | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


class ResponseCreateEvent(_ClientEvent, tag="response.create"):
    response: RealtimeResponseCreateParams | UnsetType = UNSET


class ResponseCancelEvent(_ClientEvent, tag="response.cancel"):
    response_id: str | UnsetType = UNSET


ClientEvent = (
    SessionUpdateEvent
    | InputAudioBufferAppendEvent
    | InputAudioBufferCommitEvent
    | InputAudioBufferClearEvent
    | OutputAudioBufferClearEvent
    | ConversationItemCreateEvent
    | ConversationItemRetrieveEvent
    | ConversationItemTruncateEvent
    | ConversationItemDeleteEvent
    | ResponseCreateEvent
    | ResponseCancelEvent
)

CLIENT_EVENT_TYPES: tuple[str, ...] = tuple(
    str(t.__struct_config__.tag) for t in ClientEvent.__args__
)
