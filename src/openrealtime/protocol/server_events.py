"""GA server events (EVENTS.md §4.2), one struct per ``type``, names as in openai-python.

Each carries ``event_id``; the session core stamps it when it emits the event. Fields the
openai-python models require are always present; nullable fields are sent as ``null`` rather
than left out, as OpenAI does.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from .items import Item, ResponsePart
from .session_types import (
    AudioFormat,
    MaxOutputTokens,
    Modality,
    RealtimeSession,
    TranscriptionSession,
)


class _ServerEvent(msgspec.Struct, tag_field="type", kw_only=True):
    event_id: str = ""


# --- errors and session ---------------------------------------------------------------------


class RealtimeError(msgspec.Struct, kw_only=True):
    type: str
    code: str | None
    message: str
    param: str | None
    event_id: str | None


class ErrorEvent(_ServerEvent, tag="error"):
    error: RealtimeError


class SessionCreatedEvent(_ServerEvent, tag="session.created"):
    session: RealtimeSession | TranscriptionSession


class SessionUpdatedEvent(_ServerEvent, tag="session.updated"):
    session: RealtimeSession | TranscriptionSession


# --- conversation -----------------------------------------------------------------------------


class ConversationItemAdded(_ServerEvent, tag="conversation.item.added"):
    item: Item
    previous_item_id: str | None


class ConversationItemDone(_ServerEvent, tag="conversation.item.done"):
    item: Item
    previous_item_id: str | None


class ConversationItemRetrieved(_ServerEvent, tag="conversation.item.retrieved"):
    item: Item


class ConversationItemTruncatedEvent(_ServerEvent, tag="conversation.item.truncated"):
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDeletedEvent(_ServerEvent, tag="conversation.item.deleted"):
    item_id: str


class LogProb(msgspec.Struct, kw_only=True):
    token: str
    logprob: float
    bytes: list[int]


class TranscriptionDeltaEvent(
    _ServerEvent, tag="conversation.item.input_audio_transcription.delta"
):
    item_id: str
    content_index: int
    delta: str
    logprobs: list[LogProb] | None = None


class TranscriptionUsageDuration(msgspec.Struct, tag="duration", tag_field="type", kw_only=True):
    seconds: float


class TranscriptionUsageTokens(msgspec.Struct, tag="tokens", tag_field="type", kw_only=True):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class TranscriptionCompletedEvent(
    _ServerEvent, tag="conversation.item.input_audio_transcription.completed"
):
    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptionUsageDuration | TranscriptionUsageTokens
    logprobs: list[LogProb] | None = None


class TranscriptionError(msgspec.Struct, kw_only=True):
    type: str
    code: str | None
    message: str
    param: str | None = None


class TranscriptionFailedEvent(
    _ServerEvent, tag="conversation.item.input_audio_transcription.failed"
):
    item_id: str
    content_index: int
    error: TranscriptionError


# --- input audio buffer -----------------------------------------------------------------------


class InputAudioBufferCommittedEvent(_ServerEvent, tag="input_audio_buffer.committed"):
    item_id: str
    previous_item_id: str | None


class InputAudioBufferClearedEvent(_ServerEvent, tag="input_audio_buffer.cleared"):
    pass


class InputAudioBufferSpeechStartedEvent(_ServerEvent, tag="input_audio_buffer.speech_started"):
    audio_start_ms: int
    item_id: str


class InputAudioBufferSpeechStoppedEvent(_ServerEvent, tag="input_audio_buffer.speech_stopped"):
    audio_end_ms: int
    item_id: str


class InputAudioBufferTimeoutTriggered(_ServerEvent, tag="input_audio_buffer.timeout_triggered"):
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


# --- responses --------------------------------------------------------------------------------


class StatusError(msgspec.Struct, kw_only=True):
    type: str
    code: str | None
    # Not in OpenAI's typed model (extra keys are allowed); it says what went wrong.
    message: str | UnsetType = UNSET


class ResponseStatusDetails(msgspec.Struct, kw_only=True):
    type: Literal["completed", "cancelled", "incomplete", "failed"]
    reason: (
        Literal["turn_detected", "client_cancelled", "max_output_tokens", "content_filter"]
        | UnsetType
    ) = UNSET
    error: StatusError | UnsetType = UNSET


class CachedTokensDetails(msgspec.Struct, kw_only=True):
    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0


class InputTokenDetails(msgspec.Struct, kw_only=True):
    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0
    cached_tokens: int = 0
    cached_tokens_details: CachedTokensDetails = msgspec.field(default_factory=CachedTokensDetails)


class OutputTokenDetails(msgspec.Struct, kw_only=True):
    text_tokens: int = 0
    audio_tokens: int = 0


class ResponseUsage(msgspec.Struct, kw_only=True):
    total_tokens: int
    input_tokens: int
    output_tokens: int
    input_token_details: InputTokenDetails
    output_token_details: OutputTokenDetails


class ResponseAudioOutputInfo(msgspec.Struct, kw_only=True):
    format: AudioFormat
    voice: str


class ResponseAudioInfo(msgspec.Struct, kw_only=True):
    output: ResponseAudioOutputInfo


ResponseStatus = Literal["in_progress", "completed", "cancelled", "incomplete", "failed"]


class RealtimeResponse(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["realtime.response"] = "realtime.response"
    status: ResponseStatus
    status_details: ResponseStatusDetails | None
    output: list[Item]
    conversation_id: str | None
    output_modalities: list[Modality]
    audio: ResponseAudioInfo
    max_output_tokens: MaxOutputTokens
    metadata: dict[str, str] | None
    usage: ResponseUsage | None


class ResponseCreatedEvent(_ServerEvent, tag="response.created"):
    response: RealtimeResponse


class ResponseDoneEvent(_ServerEvent, tag="response.done"):
    response: RealtimeResponse


class ResponseOutputItemAddedEvent(_ServerEvent, tag="response.output_item.added"):
    response_id: str
    output_index: int
    item: Item


class ResponseOutputItemDoneEvent(_ServerEvent, tag="response.output_item.done"):
    response_id: str
    output_index: int
    item: Item


class ResponseContentPartAddedEvent(_ServerEvent, tag="response.content_part.added"):
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ResponsePart


class ResponseContentPartDoneEvent(_ServerEvent, tag="response.content_part.done"):
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ResponsePart


class _PartEvent(_ServerEvent):
    response_id: str
    item_id: str
    output_index: int
    content_index: int


class ResponseTextDeltaEvent(_PartEvent, tag="response.output_text.delta"):
    delta: str


class ResponseTextDoneEvent(_PartEvent, tag="response.output_text.done"):
    text: str


class ResponseAudioTranscriptDeltaEvent(_PartEvent, tag="response.output_audio_transcript.delta"):
    delta: str


class ResponseAudioTranscriptDoneEvent(_PartEvent, tag="response.output_audio_transcript.done"):
    transcript: str


class ResponseAudioDeltaEvent(_PartEvent, tag="response.output_audio.delta"):
    delta: str


class ResponseAudioDoneEvent(_PartEvent, tag="response.output_audio.done"):
    pass


class ResponseFunctionCallArgumentsDeltaEvent(
    _ServerEvent, tag="response.function_call_arguments.delta"
):
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


class ResponseFunctionCallArgumentsDoneEvent(
    _ServerEvent, tag="response.function_call_arguments.done"
):
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str


class OutputAudioBufferStarted(_ServerEvent, tag="output_audio_buffer.started"):
    response_id: str


class OutputAudioBufferStopped(_ServerEvent, tag="output_audio_buffer.stopped"):
    response_id: str


class OutputAudioBufferCleared(_ServerEvent, tag="output_audio_buffer.cleared"):
    response_id: str


ServerEvent = (
    ErrorEvent
    | SessionCreatedEvent
    | SessionUpdatedEvent
    | ConversationItemAdded
    | ConversationItemDone
    | ConversationItemRetrieved
    | ConversationItemTruncatedEvent
    | ConversationItemDeletedEvent
    | TranscriptionDeltaEvent
    | TranscriptionCompletedEvent
    | TranscriptionFailedEvent
    | InputAudioBufferCommittedEvent
    | InputAudioBufferClearedEvent
    | InputAudioBufferSpeechStartedEvent
    | InputAudioBufferSpeechStoppedEvent
    | InputAudioBufferTimeoutTriggered
    | ResponseCreatedEvent
    | ResponseDoneEvent
    | ResponseOutputItemAddedEvent
    | ResponseOutputItemDoneEvent
    | ResponseContentPartAddedEvent
    | ResponseContentPartDoneEvent
    | ResponseTextDeltaEvent
    | ResponseTextDoneEvent
    | ResponseAudioTranscriptDeltaEvent
    | ResponseAudioTranscriptDoneEvent
    | ResponseAudioDeltaEvent
    | ResponseAudioDoneEvent
    | ResponseFunctionCallArgumentsDeltaEvent
    | ResponseFunctionCallArgumentsDoneEvent
    | OutputAudioBufferStarted
    | OutputAudioBufferStopped
    | OutputAudioBufferCleared
)
