"""The beta dialect's translation, both ways, without a server (EVENTS.md §3.4, §3.9, §5, §7).

Client side: every beta client event becomes a frame the GA codec decodes. Server side: GA
events made by the real server-event structs come out as events openai-python's beta models
accept, named and shaped as the beta table says.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec
import pytest

from openrealtime.protocol import client_events as ce
from openrealtime.protocol import server_events as ev
from openrealtime.protocol.beta import BetaDialect, is_beta
from openrealtime.protocol.codec import decode_client_event, encode
from openrealtime.protocol.errors import ClientError
from openrealtime.protocol.items import (
    FunctionCallItem,
    InputAudioPart,
    MessageItem,
    OutputAudioPart,
    OutputTextPart,
    ResponsePart,
)
from openrealtime.protocol.session_types import (
    AudioConfig,
    AudioInput,
    AudioOutput,
    AudioPCM,
    AudioPCMU,
    FunctionTool,
    RealtimeSession,
    ServerVad,
    ToolChoiceFunction,
    Transcription,
    TranscriptionAudio,
    TranscriptionSession,
)

Event = dict[str, Any]


def to_ga(dialect: BetaDialect, event: Event) -> Event:
    """Translate one beta client event; check that the GA codec takes it; return it as a dict."""
    out = dialect.from_client(json.dumps(event))
    decode_client_event(out)
    result: Event = json.loads(out)
    return result


@functools.cache
def _beta_adapter() -> Any:
    from openai.types.beta.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    return TypeAdapter(RealtimeServerEvent)


def to_beta(dialect: BetaDialect, event: ev.ServerEvent) -> Event | None:
    """Translate one GA server event; check the result against the beta models."""
    event.event_id = "event_1"
    out = dialect.to_client(encode(event))
    if out is None:
        return None
    result: Event = json.loads(out)
    if result["type"] != "transcription_session.created":  # not in openai-python's union
        assert _beta_adapter().validate_python(result).type == result["type"]
    return result


def refused(dialect: BetaDialect, event: Event) -> ClientError:
    with pytest.raises(ClientError) as info:
        dialect.from_client(json.dumps(event))
    return info.value


# --- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "beta"), [
    ({"OpenAI-Beta": "realtime=v1"}, True),
    ({"OpenAI-Beta": "assistants=v2, realtime=v1"}, True),
    ({"Sec-WebSocket-Protocol": "realtime, openai-insecure-api-key.k, openai-beta.realtime-v1"},
     True),
    ({"Sec-WebSocket-Protocol": "realtime"}, False),
    ({"OpenAI-Beta": "assistants=v2"}, False),
    ({}, False),
])
def test_beta_is_chosen_by_header_or_subprotocol(headers: dict[str, str], beta: bool) -> None:
    assert is_beta(headers) is beta


# --- client → GA ----------------------------------------------------------------------------


def test_session_update_becomes_a_ga_realtime_update() -> None:
    ga = to_ga(BetaDialect(), {"type": "session.update", "event_id": "e1", "session": {
        "modalities": ["text", "audio"], "instructions": "Hi.", "voice": "ash", "speed": 1.1,
        "input_audio_format": "g711_ulaw", "output_audio_format": "pcm16",
        "input_audio_transcription": {"model": "whisper-1"},
        "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
        "input_audio_noise_reduction": None, "tools": [{"name": "f"}], "tool_choice": "f",
        "temperature": 1.0, "max_response_output_tokens": "inf", "tracing": "auto",
        "model": "gpt-4o-realtime-preview",
        "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 60}}}})
    assert ga == {"type": "session.update", "event_id": "e1", "session": {
        "type": "realtime", "output_modalities": ["audio"], "instructions": "Hi.",
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "transcription": {"model": "whisper-1"},
                      "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
                      "noise_reduction": None},
            "output": {"voice": "ash", "speed": 1.1,
                       "format": {"type": "audio/pcm", "rate": 24000}}},
        "tools": [{"type": "function", "name": "f"}],
        "tool_choice": {"type": "function", "name": "f"},
        "max_output_tokens": "inf", "tracing": "auto", "model": "gpt-4o-realtime-preview"}}


@pytest.mark.parametrize(("beta", "ga"), [(["text"], ["text"]), (["audio", "text"], ["audio"]),
                                          (["audio"], ["audio"])])
def test_modalities(beta: list[str], ga: list[str]) -> None:
    out = to_ga(BetaDialect(), {"type": "session.update", "session": {"modalities": beta}})
    assert out["session"]["output_modalities"] == ga


def test_transcription_session_update_becomes_a_ga_transcription_update() -> None:
    ga = to_ga(BetaDialect(), {"type": "transcription_session.update", "session": {
        "input_audio_format": "g711_alaw", "modalities": ["text"],
        "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "de"},
        "turn_detection": None, "input_audio_noise_reduction": {"type": "far_field"},
        "include": ["item.input_audio_transcription.logprobs"]}})
    assert ga == {"type": "session.update", "session": {
        "type": "transcription", "include": ["item.input_audio_transcription.logprobs"],
        "audio": {"input": {
            "format": {"type": "audio/pcma"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "de"},
            "turn_detection": None, "noise_reduction": {"type": "far_field"}}}}}
    assert isinstance(decode_client_event(json.dumps(ga)).session,  # type: ignore[union-attr]
                      TranscriptionSession)


def test_response_create_params_become_ga() -> None:
    ga = to_ga(BetaDialect(), {"type": "response.create", "response": {
        "modalities": ["text"], "voice": "sage", "output_audio_format": "g711_ulaw",
        "max_response_output_tokens": 10, "temperature": 0.6, "tool_choice": "required",
        "tools": [{"name": "f", "parameters": {"type": "object"}}], "instructions": "x",
        "conversation": "none", "metadata": {"k": "v"},
        "input": [{"type": "item_reference", "id": "item_1"},
                  {"type": "message", "role": "assistant",
                   "content": [{"type": "text", "text": "earlier"}]}]}})
    assert ga["response"] == {
        "output_modalities": ["text"],
        "audio": {"output": {"voice": "sage", "format": {"type": "audio/pcmu"}}},
        "max_output_tokens": 10, "tool_choice": "required",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "instructions": "x", "conversation": "none", "metadata": {"k": "v"},
        "input": [{"type": "item_reference", "id": "item_1"},
                  {"type": "message", "role": "assistant",
                   "content": [{"type": "output_text", "text": "earlier"}]}]}


def test_item_create_renames_assistant_parts_only() -> None:
    dialect = BetaDialect()
    assistant = to_ga(dialect, {"type": "conversation.item.create", "previous_item_id": "root",
                                "item": {"type": "message", "role": "assistant",
                                         "content": [{"type": "text", "text": "a"}]}})
    assert assistant["item"]["content"] == [{"type": "output_text", "text": "a"}]
    assert assistant["previous_item_id"] == "root"
    user = {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "u"}, {"type": "input_audio", "audio": "AAAA"}]}
    assert to_ga(dialect, {"type": "conversation.item.create", "item": user})["item"] == user
    output = {"type": "function_call_output", "call_id": "c", "output": "o"}
    assert to_ga(dialect, {"type": "conversation.item.create", "item": output})["item"] == output


@pytest.mark.parametrize("event", [
    {"type": "input_audio_buffer.append", "audio": "AAAA"},
    {"type": "input_audio_buffer.commit", "event_id": "e"},
    {"type": "input_audio_buffer.clear"},
    {"type": "output_audio_buffer.clear"},
    {"type": "conversation.item.retrieve", "item_id": "i"},
    {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0,
     "audio_end_ms": 10},
    {"type": "conversation.item.delete", "item_id": "i"},
    {"type": "response.cancel", "response_id": "r"},
    {"type": "response.create"},
])
def test_events_with_the_same_shape_pass_unchanged(event: Event) -> None:
    frame = json.dumps(event)
    assert BetaDialect().from_client(frame) is frame
    decode_client_event(frame)


def test_beta_values_are_refused_with_beta_params_and_the_event_id() -> None:
    dialect = BetaDialect()
    cases: list[tuple[Event, str, str]] = [
        ({"type": "nope", "event_id": "e0"}, "type", "invalid_value"),
        ({"type": "session.update", "event_id": "e1",
          "session": {"input_audio_format": "mp3"}}, "session.input_audio_format",
         "invalid_value"),
        ({"type": "session.update", "event_id": "e2", "session": {"temperature": 1.5}},
         "session.temperature", "invalid_value"),
        ({"type": "session.update", "event_id": "e3", "session": {"temperature": "hot"}},
         "session.temperature", "invalid_type"),
        ({"type": "session.update", "event_id": "e4", "session": {"modalities": []}},
         "session.modalities", "invalid_value"),
        ({"type": "response.create", "event_id": "e5",
          "response": {"output_audio_format": "opus"}}, "response.output_audio_format",
         "invalid_value"),
        ({"type": "transcription_session.update", "event_id": "e6",
          "session": {"input_audio_format": 3}}, "session.input_audio_format", "invalid_value"),
    ]
    for event, param, code in cases:
        err = refused(dialect, event)
        assert (err.param, err.code, err.event_id) == (param, code, event["event_id"]), event
    assert "'transcription_session.update'" in refused(dialect, {"type": "x"}).message


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '{"no": "type"}', '{"type": 5}',
                                   '{"type": "session.update", "session": 3}'])
def test_unreadable_frames_go_on_for_the_ga_codec_to_refuse(frame: str) -> None:
    out = BetaDialect().from_client(frame)
    with pytest.raises(ClientError):
        decode_client_event(out)


def test_a_ga_shaped_first_update_turns_the_dialect_off() -> None:
    dialect = BetaDialect()
    frame = json.dumps({"type": "session.update", "session": {"type": "realtime"}})
    assert dialect.from_client(frame) is frame and not dialect.active
    delta = encode(ev.ResponseTextDeltaEvent(response_id="r", item_id="i", output_index=0,
                                             content_index=0, delta="x"))
    assert dialect.to_client(delta) is delta
    # Only the first update decides.
    later = BetaDialect()
    to_ga(later, {"type": "session.update", "session": {"voice": "ash"}})
    to_ga(later, {"type": "session.update", "session": {"modalities": ["text"]}})
    assert later.active


# --- GA → beta ------------------------------------------------------------------------------


def ga_session(**overrides: Any) -> RealtimeSession:
    values: dict[str, Any] = dict(
        object="realtime.session", id="sess_1", expires_at=100, model="gpt-realtime",
        output_modalities=["audio"], instructions="Hi.",
        audio=AudioConfig(
            input=AudioInput(format=AudioPCMU(), transcription=Transcription(model="whisper-1"),
                             noise_reduction=None, turn_detection=ServerVad(threshold=0.5)),
            output=AudioOutput(format=AudioPCM(), voice="ash", speed=1.0)),
        include=None, tracing=None, tools=[FunctionTool(name="f")],
        tool_choice=ToolChoiceFunction(name="f"), max_output_tokens=200)
    values.update(overrides)
    return RealtimeSession(**values)


def test_session_events_carry_the_beta_session() -> None:
    dialect = BetaDialect()
    out = to_beta(dialect, ev.SessionCreatedEvent(session=ga_session()))
    assert out == {"type": "session.created", "event_id": "event_1", "session": {
        "id": "sess_1", "object": "realtime.session", "model": "gpt-realtime",
        "expires_at": 100, "modalities": ["text", "audio"], "instructions": "Hi.",
        "voice": "ash", "speed": 1.0, "input_audio_format": "g711_ulaw",
        "output_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"},
        "turn_detection": {"type": "server_vad", "threshold": 0.5},
        "input_audio_noise_reduction": None, "tools": [{"type": "function", "name": "f"}],
        "tool_choice": "f", "temperature": 0.8, "max_response_output_tokens": 200,
        "tracing": None}}


def test_session_temperature_is_kept_only_when_the_update_succeeds() -> None:
    dialect = BetaDialect()
    updated = ev.SessionUpdatedEvent(session=ga_session(output_modalities=["text"]))
    to_ga(dialect, {"type": "session.update", "event_id": "a", "session": {"temperature": 0.7}})
    out = to_beta(dialect, updated)
    assert out is not None and out["session"]["temperature"] == 0.7
    assert out["session"]["modalities"] == ["text"]
    # A refused update: its error drops the waiting temperature.
    to_ga(dialect, {"type": "session.update", "event_id": "b", "session": {"temperature": 1.1}})
    to_beta(dialect, ev.ErrorEvent(error=ev.RealtimeError(
        type="invalid_request_error", code="invalid_value", message="no", param=None,
        event_id="b")))
    out = to_beta(dialect, updated)
    assert out is not None and out["session"]["temperature"] == 0.7


def test_transcription_session_events() -> None:
    session = TranscriptionSession(
        object="realtime.transcription_session", id="sess_2", expires_at=50,
        audio=TranscriptionAudio(input=AudioInput(
            format=AudioPCM(), transcription=Transcription(model="gpt-4o-transcribe"),
            noise_reduction=None, turn_detection=None)),
        include=None)
    dialect = BetaDialect()
    for ga, beta in ((ev.SessionCreatedEvent(session=session), "transcription_session.created"),
                     (ev.SessionUpdatedEvent(session=session), "transcription_session.updated")):
        out = to_beta(dialect, ga)
        assert out is not None and out["type"] == beta
        assert out["session"]["object"] == "realtime.transcription_session"
        assert out["session"]["input_audio_format"] == "pcm16"
        assert out["session"]["input_audio_transcription"] == {"model": "gpt-4o-transcribe"}
        assert out["session"]["turn_detection"] is None


def _part_event(cls: type[Any], **fields: Any) -> Any:
    return cls(response_id="r", item_id="i", output_index=0, content_index=0, **fields)


@pytest.mark.parametrize(("ga", "beta", "field"), [
    (ev.ResponseTextDeltaEvent, "response.text.delta", {"delta": "a"}),
    (ev.ResponseTextDoneEvent, "response.text.done", {"text": "ab"}),
    (ev.ResponseAudioDeltaEvent, "response.audio.delta", {"delta": "AAAA"}),
    (ev.ResponseAudioDoneEvent, "response.audio.done", {}),
    (ev.ResponseAudioTranscriptDeltaEvent, "response.audio_transcript.delta", {"delta": "a"}),
    (ev.ResponseAudioTranscriptDoneEvent, "response.audio_transcript.done",
     {"transcript": "a"}),
])
def test_deltas_are_renamed(ga: type[Any], beta: str, field: dict[str, Any]) -> None:
    out = to_beta(BetaDialect(), _part_event(ga, **field))
    assert out == {"type": beta, "response_id": "r", "item_id": "i", "output_index": 0,
                   "content_index": 0, **field, "event_id": "event_1"}


def test_item_events() -> None:
    dialect = BetaDialect()
    assistant = MessageItem(id="item_a", object="realtime.item", status="completed",
                            role="assistant", content=[OutputAudioPart(transcript="hi"),
                                                       OutputTextPart(text="t")])
    added = to_beta(dialect, ev.ConversationItemAdded(item=assistant, previous_item_id=None))
    assert added is not None and added["type"] == "conversation.item.created"
    assert added["previous_item_id"] is None
    assert added["item"]["content"] == [{"type": "audio", "transcript": "hi"},
                                        {"type": "text", "text": "t"}]
    assert to_beta(dialect, ev.ConversationItemDone(item=assistant, previous_item_id=None)) is None
    for cls in (ev.ResponseOutputItemAddedEvent, ev.ResponseOutputItemDoneEvent):
        out = to_beta(dialect, cls(response_id="r", output_index=0, item=assistant))
        assert out is not None and out["item"]["content"][0]["type"] == "audio"
    with_audio = msgspec.structs.replace(assistant, content=[
        OutputAudioPart(audio="AAAA", transcript="hi")])
    got = to_beta(dialect, ev.ConversationItemRetrieved(item=with_audio))
    assert got is not None
    assert got["item"]["content"] == [{"type": "audio", "audio": "AAAA", "transcript": "hi"}]
    user = MessageItem(id="item_u", object="realtime.item", status="completed", role="user",
                       content=[InputAudioPart(transcript=None)])
    out = to_beta(dialect, ev.ConversationItemAdded(item=user, previous_item_id="item_a"))
    assert out is not None
    assert out["item"]["content"] == [{"type": "input_audio", "transcript": None}]


def test_function_call_arguments_done_loses_its_name() -> None:
    out = to_beta(BetaDialect(), ev.ResponseFunctionCallArgumentsDoneEvent(
        response_id="r", item_id="i", output_index=0, call_id="c", name="f", arguments="{}"))
    assert out is not None and "name" not in out and out["arguments"] == "{}"


def _response(status: Any, rid: str = "resp_1", **overrides: Any) -> ev.RealtimeResponse:
    values: dict[str, Any] = dict(
        id=rid, status=status, status_details=None, conversation_id="conv_1",
        output=[FunctionCallItem(id="item_f", object="realtime.item", status="completed",
                                 name="f", call_id="c", arguments="{}")],
        output_modalities=["audio"],
        audio=ev.ResponseAudioInfo(output=ev.ResponseAudioOutputInfo(format=AudioPCMU(),
                                                                     voice="ash")),
        max_output_tokens="inf", metadata=None, usage=None)
    values.update(overrides)
    return ev.RealtimeResponse(**values)


def test_response_events_carry_the_beta_response() -> None:
    dialect = BetaDialect()
    to_ga(dialect, {"type": "response.create", "response": {"temperature": 1.2}})
    created = to_beta(dialect, ev.ResponseCreatedEvent(response=_response("in_progress")))
    assert created is not None
    assert created["response"] == {
        "id": "resp_1", "object": "realtime.response", "status": "in_progress",
        "status_details": None, "conversation_id": "conv_1",
        "output": [{"type": "function_call", "id": "item_f", "object": "realtime.item",
                    "status": "completed", "name": "f", "call_id": "c", "arguments": "{}"}],
        "modalities": ["text", "audio"], "voice": "ash", "output_audio_format": "g711_ulaw",
        "max_output_tokens": "inf", "temperature": 1.2, "metadata": None, "usage": None}
    usage = ev.ResponseUsage(total_tokens=3, input_tokens=2, output_tokens=1,
                             input_token_details=ev.InputTokenDetails(text_tokens=2),
                             output_token_details=ev.OutputTokenDetails(text_tokens=1))
    done = to_beta(dialect, ev.ResponseDoneEvent(response=_response(
        "cancelled", status_details=ev.ResponseStatusDetails(type="cancelled",
                                                             reason="client_cancelled"),
        usage=usage)))
    assert done is not None
    assert done["response"]["temperature"] == 1.2
    assert done["response"]["status_details"] == {"type": "cancelled",
                                                  "reason": "client_cancelled"}
    assert done["response"]["usage"]["input_token_details"] == {
        "text_tokens": 2, "audio_tokens": 0, "cached_tokens": 0}
    # The next response, with no temperature of its own, has the session's.
    other = to_beta(dialect, ev.ResponseCreatedEvent(response=_response("in_progress", "r2")))
    assert other is not None and other["response"]["temperature"] == 0.8


def test_errors_name_beta_fields() -> None:
    out = to_beta(BetaDialect(), ev.ErrorEvent(error=ev.RealtimeError(
        type="invalid_request_error", code="cannot_update_voice",
        message="Invalid value for 'session.audio.output.voice'.",
        param="session.audio.output.voice", event_id="e")))
    assert out is not None
    assert out["error"] == {"type": "invalid_request_error", "code": "cannot_update_voice",
                            "message": "Invalid value for 'session.voice'.",
                            "param": "session.voice", "event_id": "e"}
    out = to_beta(BetaDialect(), ev.ErrorEvent(error=ev.RealtimeError(
        type="invalid_request_error", code="invalid_value", message="m",
        param="session.audio.input.turn_detection.threshold", event_id=None)))
    assert out is not None and out["error"]["param"] == "session.turn_detection.threshold"


@pytest.mark.parametrize("event", [
    ev.InputAudioBufferCommittedEvent(item_id="i", previous_item_id=None),
    ev.InputAudioBufferClearedEvent(),
    ev.InputAudioBufferSpeechStartedEvent(audio_start_ms=1, item_id="i"),
    ev.InputAudioBufferSpeechStoppedEvent(audio_end_ms=2, item_id="i"),
    ev.ConversationItemTruncatedEvent(item_id="i", content_index=0, audio_end_ms=5),
    ev.ConversationItemDeletedEvent(item_id="i"),
    ev.TranscriptionDeltaEvent(item_id="i", content_index=0, delta="d"),
    ev.TranscriptionCompletedEvent(item_id="i", content_index=0, transcript="t",
                                   usage=ev.TranscriptionUsageDuration(seconds=1.0)),
    ev.TranscriptionFailedEvent(item_id="i", content_index=0, error=ev.TranscriptionError(
        type="transcription_error", code="x", message="m")),
    ev.ResponseContentPartAddedEvent(response_id="r", item_id="i", output_index=0,
                                     content_index=0, part=ResponsePart(type="text", text="")),
    ev.ResponseContentPartDoneEvent(response_id="r", item_id="i", output_index=0,
                                    content_index=0, part=ResponsePart(type="audio",
                                                                       transcript="t")),
    ev.ResponseFunctionCallArgumentsDeltaEvent(response_id="r", item_id="i", output_index=0,
                                               call_id="c", delta="{"),
    ev.OutputAudioBufferStarted(response_id="r"),
    ev.OutputAudioBufferStopped(response_id="r"),
    ev.OutputAudioBufferCleared(response_id="r"),
])
def test_shared_events_pass_unchanged(event: ev.ServerEvent) -> None:
    frame = encode(event)
    assert BetaDialect().to_client(frame) is frame
    to_beta(BetaDialect(), event)


def test_ga_only_events_are_dropped() -> None:
    assert to_beta(BetaDialect(), ev.InputAudioBufferTimeoutTriggered(
        audio_start_ms=0, audio_end_ms=1, item_id="i")) is None


def test_client_events_cover_the_beta_catalogue() -> None:
    from openrealtime.protocol.beta_client import CLIENT_TYPES

    ga = {str(t.__struct_config__.tag) for t in ce.ClientEvent.__args__}
    assert set(CLIENT_TYPES) == ga | {"transcription_session.update"}
