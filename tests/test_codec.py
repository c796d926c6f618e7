"""decode_client_event: the 11 GA client events, the error mapping, and what the SDKs send.

Table-driven: each row is raw JSON in and either the class that must come out or the OpenAI error
(code, param) that must be raised. EVENTS.md §3.1 (error shape and codes) and §4.1 (client events)
are the reference; ``events-catalog.json`` is cross-checked where it is available.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from openrealtime.protocol import client_events as ce
from openrealtime.protocol import session_types as st
from openrealtime.protocol.codec import decode_client_event
from openrealtime.protocol.errors import (
    INVALID_EVENT,
    INVALID_JSON,
    INVALID_REQUEST,
    INVALID_TYPE,
    INVALID_VALUE,
    MISSING_PARAMETER,
    UNKNOWN_PARAMETER,
    ClientError,
)
from openrealtime.protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioPart,
    InputImagePart,
    InputTextPart,
    ItemReference,
    MessageItem,
    OutputTextPart,
)

CATALOG = Path("/work/shared/protocol/events-catalog.json")

GA_TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
)


def raises(data: str | bytes) -> ClientError:
    with pytest.raises(ClientError) as info:
        decode_client_event(data)
    err = info.value
    # Every refusal has the OpenAI shape: a type and a non-empty message.
    assert err.type == INVALID_REQUEST
    assert isinstance(err.message, str) and err.message
    return err


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


# --- valid events: minimal and full forms -------------------------------------------------------

FULL_SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "Be brief.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en",
                              "prompt": "names: Ada", "keywords": ["Ada"], "languages": ["en"],
                              "delay": "low"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                               "silence_duration_ms": 200, "idle_timeout_ms": 6000,
                               "create_response": True, "interrupt_response": True},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.25},
    },
    "include": ["item.input_audio_transcription.logprobs"],
    "tracing": {"workflow_name": "w", "group_id": "g", "metadata": {"k": "v"}},
    "tools": [{"type": "function", "name": "get_weather", "description": "Weather.",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}}],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "max_output_tokens": 4096,
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.8,
                   "token_limits": {"post_instructions": 1000}},
    "prompt": {"id": "pmpt_1", "version": "2", "variables": {"x": "y"}},
    "reasoning": {"effort": "low"},
    "parallel_tool_calls": False,
}

FULL_RESPONSE: dict[str, Any] = {
    "output_modalities": ["text"],
    "instructions": "Answer in French.",
    "audio": {"output": {"format": {"type": "audio/pcma"}, "voice": {"id": "voice_123"}}},
    "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
    "tool_choice": "required",
    "max_output_tokens": "inf",
    "conversation": "none",
    "input": [
        {"type": "item_reference", "id": "item_1"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
    ],
    "metadata": {"topic": "weather"},
    "prompt": None,
    "reasoning": {"effort": "minimal"},
    "parallel_tool_calls": True,
}

VALID: list[tuple[str, dict[str, Any], type]] = [
    # (id, event, class)
    ("session.update/min", {"type": "session.update", "session": {"type": "realtime"}},
     ce.SessionUpdateEvent),
    ("session.update/full", {"type": "session.update", "event_id": "evt_1",
                             "session": FULL_SESSION}, ce.SessionUpdateEvent),
    ("session.update/transcription",
     {"type": "session.update", "session": {
         "type": "transcription", "audio": {"input": {
             "format": {"type": "audio/pcm", "rate": 24000},
             "transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": None}},
         "include": None}}, ce.SessionUpdateEvent),
    ("append/min", {"type": "input_audio_buffer.append", "audio": ""},
     ce.InputAudioBufferAppendEvent),
    ("append/full", {"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "e"},
     ce.InputAudioBufferAppendEvent),
    ("commit/min", {"type": "input_audio_buffer.commit"}, ce.InputAudioBufferCommitEvent),
    ("commit/full", {"type": "input_audio_buffer.commit", "event_id": "e"},
     ce.InputAudioBufferCommitEvent),
    ("clear/min", {"type": "input_audio_buffer.clear"}, ce.InputAudioBufferClearEvent),
    ("clear/full", {"type": "input_audio_buffer.clear", "event_id": None},
     ce.InputAudioBufferClearEvent),
    ("output_clear/min", {"type": "output_audio_buffer.clear"}, ce.OutputAudioBufferClearEvent),
    ("output_clear/full", {"type": "output_audio_buffer.clear", "event_id": "e"},
     ce.OutputAudioBufferClearEvent),
    ("item.create/min", {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}},
     ce.ConversationItemCreateEvent),
    ("item.create/full", {"type": "conversation.item.create", "event_id": "e",
                          "previous_item_id": "root", "item": {
                              "id": "item_abc", "object": "realtime.item", "type": "message",
                              "status": "completed", "role": "user", "content": [
                                  {"type": "input_text", "text": "hi"},
                                  {"type": "input_audio", "audio": "AAAA", "transcript": None},
                                  {"type": "input_image", "image_url": "data:image/png;base64,AA",
                                   "detail": "low"}]}},
     ce.ConversationItemCreateEvent),
    ("item.create/assistant", {"type": "conversation.item.create", "previous_item_id": None,
                               "item": {"type": "message", "role": "assistant",
                                        "content": [{"type": "output_text", "text": "ok"}]}},
     ce.ConversationItemCreateEvent),
    ("item.create/function_call", {"type": "conversation.item.create", "item": {
        "type": "function_call", "name": "f", "arguments": "{}", "call_id": "call_1"}},
     ce.ConversationItemCreateEvent),
    ("item.create/function_call_output", {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": "{\"ok\": true}"}},
     ce.ConversationItemCreateEvent),
    ("retrieve/min", {"type": "conversation.item.retrieve", "item_id": "item_1"},
     ce.ConversationItemRetrieveEvent),
    ("retrieve/full", {"type": "conversation.item.retrieve", "item_id": "item_1",
                       "event_id": "e"}, ce.ConversationItemRetrieveEvent),
    ("truncate/min", {"type": "conversation.item.truncate", "item_id": "item_1",
                      "content_index": 0, "audio_end_ms": 0}, ce.ConversationItemTruncateEvent),
    ("truncate/full", {"type": "conversation.item.truncate", "item_id": "item_1",
                       "content_index": 0, "audio_end_ms": 1500, "event_id": "e"},
     ce.ConversationItemTruncateEvent),
    ("delete/min", {"type": "conversation.item.delete", "item_id": "item_1"},
     ce.ConversationItemDeleteEvent),
    ("delete/full", {"type": "conversation.item.delete", "item_id": "item_1", "event_id": "e"},
     ce.ConversationItemDeleteEvent),
    ("response.create/min", {"type": "response.create"}, ce.ResponseCreateEvent),
    ("response.create/empty", {"type": "response.create", "response": {}},
     ce.ResponseCreateEvent),
    ("response.create/full", {"type": "response.create", "event_id": "e",
                              "response": FULL_RESPONSE}, ce.ResponseCreateEvent),
    ("response.cancel/min", {"type": "response.cancel"}, ce.ResponseCancelEvent),
    ("response.cancel/full", {"type": "response.cancel", "response_id": "resp_1",
                              "event_id": "e"}, ce.ResponseCancelEvent),
]


def test_the_table_covers_every_ga_client_event() -> None:
    assert set(ce.CLIENT_EVENT_TYPES) == set(GA_TYPES)
    for form in ("/min", "/full"):
        assert {event["type"] for name, event, _ in VALID if name.endswith(form)} == set(GA_TYPES)
    ids = [row[0] for row in VALID]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("name", "event", "cls"), VALID, ids=[row[0] for row in VALID])
def test_valid_events_decode_to_their_class(name: str, event: dict[str, Any], cls: type) -> None:
    for data in (dumps(event), dumps(event).encode()):
        decoded = decode_client_event(data)
        assert type(decoded) is cls
        eid = event.get("event_id", msgspec.UNSET)
        assert decoded.event_id == eid
        # Decoding then re-encoding gives the same JSON back (nothing dropped or invented).
        assert msgspec.json.decode(msgspec.json.encode(decoded)) == event


def test_full_forms_decode_into_typed_fields() -> None:
    ev = decode_client_event(dumps({"type": "session.update", "session": FULL_SESSION}))
    assert isinstance(ev, ce.SessionUpdateEvent)
    s = ev.session
    assert isinstance(s, st.RealtimeSession)
    assert isinstance(s.audio, st.AudioConfig) and isinstance(s.audio.input, st.AudioInput)
    assert s.audio.input.format == st.AudioPCM(rate=24000)
    assert isinstance(s.audio.input.turn_detection, st.ServerVad)
    assert s.audio.input.turn_detection.idle_timeout_ms == 6000
    assert isinstance(s.audio.output, st.AudioOutput)
    assert s.audio.output.format == st.AudioPCMU()
    assert s.tool_choice == st.ToolChoiceFunction(name="get_weather")
    assert isinstance(s.tools, list) and isinstance(s.tools[0], st.FunctionTool)
    assert isinstance(s.truncation, st.RetentionRatio)
    assert isinstance(s.tracing, st.TracingConfig)

    ev2 = decode_client_event(dumps({"type": "response.create", "response": FULL_RESPONSE}))
    assert isinstance(ev2, ce.ResponseCreateEvent)
    r = ev2.response
    assert isinstance(r, ce.RealtimeResponseCreateParams)
    assert isinstance(r.input, list)
    assert isinstance(r.input[0], ItemReference) and isinstance(r.input[1], MessageItem)
    assert isinstance(r.audio, ce.ResponseAudio) and isinstance(r.audio.output,
                                                                ce.ResponseAudioOutput)
    assert r.audio.output.voice == st.VoiceId(id="voice_123")
    assert r.audio.output.format == st.AudioPCMA()

    ev3 = decode_client_event(dumps(VALID[12][1]))
    assert isinstance(ev3, ce.ConversationItemCreateEvent)
    item = ev3.item
    assert isinstance(item, MessageItem)
    assert [type(p) for p in item.content] == [InputTextPart, InputAudioPart, InputImagePart]


@pytest.mark.parametrize(("item", "cls"), [
    ({"type": "function_call", "name": "f", "arguments": "{}"}, FunctionCallItem),
    ({"type": "function_call_output", "call_id": "c", "output": ""}, FunctionCallOutputItem),
    ({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]},
     MessageItem),
])
def test_item_variants(item: dict[str, Any], cls: type) -> None:
    ev = decode_client_event(dumps({"type": "conversation.item.create", "item": item}))
    assert isinstance(ev, ce.ConversationItemCreateEvent)
    assert type(ev.item) is cls
    if cls is MessageItem:
        assert isinstance(ev.item, MessageItem)
        assert isinstance(ev.item.content[0], OutputTextPart)


def test_unset_is_not_null() -> None:
    """Absent fields stay UNSET; ``null`` (which clears a nullable field) stays None."""
    ev = decode_client_event(dumps({"type": "session.update", "session": {
        "type": "realtime", "tracing": None, "audio": {"input": {"turn_detection": None}}}}))
    assert isinstance(ev, ce.SessionUpdateEvent)
    s = ev.session
    assert isinstance(s, st.RealtimeSession)
    assert s.tracing is None
    assert s.instructions is msgspec.UNSET
    assert isinstance(s.audio, st.AudioConfig) and isinstance(s.audio.input, st.AudioInput)
    assert s.audio.input.turn_detection is None
    assert s.audio.input.transcription is msgspec.UNSET


# --- error mapping ------------------------------------------------------------------------------

ERRORS: list[tuple[str, str | bytes, str, str | None]] = [
    # (id, raw, code, param)
    ("not-json", "hello", INVALID_JSON, None),
    ("truncated-json", '{"type": "response.create"', INVALID_JSON, None),
    ("empty", "", INVALID_JSON, None),
    ("bad-utf8", b'{"type": "\xff"}', INVALID_JSON, None),
    ("nan", '{"type": "response.create", "response": NaN}', INVALID_JSON, None),
    ("array", "[1, 2, 3]", INVALID_EVENT, None),
    ("array-of-event", '[{"type": "response.create"}]', INVALID_EVENT, None),
    ("number", "42", INVALID_EVENT, None),
    ("string", '"response.create"', INVALID_EVENT, None),
    ("null", "null", INVALID_EVENT, None),
    ("missing-type", "{}", INVALID_EVENT, "type"),
    ("missing-type-with-fields", '{"event_id": "e", "item_id": "x"}', INVALID_EVENT, "type"),
    ("unknown-type", '{"type": "session.create"}', INVALID_VALUE, "type"),
    ("beta-only-type", '{"type": "transcription_session.update", "session": {}}',
     INVALID_VALUE, "type"),
    ("type-not-string", '{"type": 5}', INVALID_TYPE, "type"),
    ("type-null", '{"type": null}', INVALID_TYPE, "type"),
    # missing required fields: the dotted path of the absent field
    ("missing-item_id", '{"type": "conversation.item.delete"}', MISSING_PARAMETER, "item_id"),
    ("missing-retrieve-item_id", '{"type": "conversation.item.retrieve"}', MISSING_PARAMETER,
     "item_id"),
    ("missing-truncate-content_index",
     '{"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": 0}',
     MISSING_PARAMETER, "content_index"),
    ("missing-audio", '{"type": "input_audio_buffer.append"}', MISSING_PARAMETER, "audio"),
    ("missing-session", '{"type": "session.update"}', MISSING_PARAMETER, "session"),
    ("missing-session.type", '{"type": "session.update", "session": {"instructions": "x"}}',
     MISSING_PARAMETER, "session.type"),
    ("missing-item", '{"type": "conversation.item.create"}', MISSING_PARAMETER, "item"),
    ("missing-item.type", '{"type": "conversation.item.create", "item": {"role": "user"}}',
     MISSING_PARAMETER, "item.type"),
    ("missing-item.role", '{"type": "conversation.item.create", "item": {"type": "message", '
     '"content": []}}', MISSING_PARAMETER, "item.role"),
    ("missing-part-text", '{"type": "conversation.item.create", "item": {"type": "message", '
     '"role": "user", "content": [{"type": "input_text"}]}}', MISSING_PARAMETER,
     "item.content[0].text"),
    ("missing-output_text-text", '{"type": "conversation.item.create", "item": {"type": '
     '"message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}, '
     '{"type": "output_text"}]}}', MISSING_PARAMETER, "item.content[1].text"),
    ("missing-call_id", '{"type": "conversation.item.create", "item": {"type": '
     '"function_call_output", "output": "x"}}', MISSING_PARAMETER, "item.call_id"),
    ("missing-tool-name", '{"type": "session.update", "session": {"type": "realtime", '
     '"tools": [{"type": "function"}]}}', MISSING_PARAMETER, "session.tools[0].name"),
    ("missing-tool_choice-name", '{"type": "session.update", "session": {"type": "realtime", '
     '"tool_choice": {"type": "function"}}}', MISSING_PARAMETER, "session.tool_choice.name"),
    ("missing-turn_detection-type", '{"type": "session.update", "session": {"type": '
     '"realtime", "audio": {"input": {"turn_detection": {"threshold": 0.5}}}}}',
     MISSING_PARAMETER, "session.audio.input.turn_detection.type"),
    ("missing-response-input-ref-id", '{"type": "response.create", "response": {"input": '
     '[{"type": "item_reference"}]}}', MISSING_PARAMETER, "response.input[0].id"),
    # wrong JSON types
    ("item_id-int", '{"type": "conversation.item.delete", "item_id": 3}', INVALID_TYPE,
     "item_id"),
    ("audio-null", '{"type": "input_audio_buffer.append", "audio": null}', INVALID_TYPE,
     "audio"),
    ("content_index-string", '{"type": "conversation.item.truncate", "item_id": "i", '
     '"content_index": "0", "audio_end_ms": 0}', INVALID_TYPE, "content_index"),
    ("audio_end_ms-float", '{"type": "conversation.item.truncate", "item_id": "i", '
     '"content_index": 0, "audio_end_ms": 1.5}', INVALID_TYPE, "audio_end_ms"),
    ("session-null", '{"type": "session.update", "session": null}', INVALID_TYPE, "session"),
    ("session-list", '{"type": "session.update", "session": []}', INVALID_TYPE, "session"),
    ("session.type-int", '{"type": "session.update", "session": {"type": 1}}', INVALID_TYPE,
     "session.type"),
    ("instructions-int", '{"type": "session.update", "session": {"type": "realtime", '
     '"instructions": 5}}', INVALID_TYPE, "session.instructions"),
    ("tools-object", '{"type": "session.update", "session": {"type": "realtime", '
     '"tools": {}}}', INVALID_TYPE, "session.tools"),
    ("content-string", '{"type": "conversation.item.create", "item": {"type": "message", '
     '"role": "user", "content": "hi"}}', INVALID_TYPE, "item.content"),
    ("max_output_tokens-float", '{"type": "session.update", "session": {"type": "realtime", '
     '"max_output_tokens": 1.5}}', INVALID_TYPE, "session.max_output_tokens"),
    ("event_id-int", '{"type": "input_audio_buffer.clear", "event_id": 7}', INVALID_TYPE,
     "event_id"),
    ("response-string", '{"type": "response.create", "response": "go"}', INVALID_TYPE,
     "response"),
    ("parallel_tool_calls-string", '{"type": "response.create", "response": '
     '{"parallel_tool_calls": "yes"}}', INVALID_TYPE, "response.parallel_tool_calls"),
    # enum / range violations
    ("pcm-rate-16000", '{"type": "session.update", "session": {"type": "realtime", "audio": '
     '{"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}}', INVALID_VALUE,
     "session.audio.input.format.rate"),
    ("format-type-beta", '{"type": "session.update", "session": {"type": "realtime", "audio": '
     '{"output": {"format": {"type": "pcm16"}}}}}', INVALID_VALUE,
     "session.audio.output.format.type"),
    ("max_output_tokens-0", '{"type": "session.update", "session": {"type": "realtime", '
     '"max_output_tokens": 0}}', INVALID_VALUE, "session.max_output_tokens"),
    ("max_output_tokens-4097", '{"type": "session.update", "session": {"type": "realtime", '
     '"max_output_tokens": 4097}}', INVALID_VALUE, "session.max_output_tokens"),
    ("max_output_tokens-string", '{"type": "response.create", "response": '
     '{"max_output_tokens": "infinite"}}', INVALID_VALUE, "response.max_output_tokens"),
    ("max_output_tokens-huge", '{"type": "response.create", "response": '
     '{"max_output_tokens": 100000000000000000000000000}}', INVALID_VALUE,
     "response.max_output_tokens"),
    ("threshold-1.5", '{"type": "session.update", "session": {"type": "realtime", "audio": '
     '{"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}}}',
     INVALID_VALUE, "session.audio.input.turn_detection.threshold"),
    ("threshold-negative", '{"type": "session.update", "session": {"type": "realtime", '
     '"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": -0.1}}}}}',
     INVALID_VALUE, "session.audio.input.turn_detection.threshold"),
    ("idle_timeout-too-small", '{"type": "session.update", "session": {"type": "realtime", '
     '"audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 100}}}}}',
     INVALID_VALUE, "session.audio.input.turn_detection.idle_timeout_ms"),
    ("eagerness", '{"type": "session.update", "session": {"type": "realtime", "audio": '
     '{"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "eager"}}}}}',
     INVALID_VALUE, "session.audio.input.turn_detection.eagerness"),
    ("turn_detection-type", '{"type": "session.update", "session": {"type": "realtime", '
     '"audio": {"input": {"turn_detection": {"type": "client_vad"}}}}}', INVALID_VALUE,
     "session.audio.input.turn_detection.type"),
    ("speed", '{"type": "session.update", "session": {"type": "realtime", "audio": '
     '{"output": {"speed": 3}}}}', INVALID_VALUE, "session.audio.output.speed"),
    ("session.type", '{"type": "session.update", "session": {"type": "conversation"}}',
     INVALID_VALUE, "session.type"),
    ("modality", '{"type": "session.update", "session": {"type": "realtime", '
     '"output_modalities": ["video"]}}', INVALID_VALUE, "session.output_modalities[0]"),
    ("tool_choice-string", '{"type": "session.update", "session": {"type": "realtime", '
     '"tool_choice": "get_weather"}}', INVALID_VALUE, "session.tool_choice"),
    ("tool-name-pattern", '{"type": "session.update", "session": {"type": "realtime", '
     '"tools": [{"type": "function", "name": "get weather"}]}}', INVALID_VALUE,
     "session.tools[0].name"),
    ("tool-name-empty", '{"type": "session.update", "session": {"type": "realtime", '
     '"tools": [{"type": "function", "name": ""}]}}', INVALID_VALUE, "session.tools[0].name"),
    ("tool-type", '{"type": "session.update", "session": {"type": "realtime", '
     '"tools": [{"type": "file_search"}]}}', INVALID_VALUE, "session.tools[0].type"),
    ("role", '{"type": "conversation.item.create", "item": {"type": "message", '
     '"role": "developer", "content": []}}', INVALID_VALUE, "item.role"),
    ("item-type", '{"type": "conversation.item.create", "item": {"type": "mcp_call"}}',
     INVALID_VALUE, "item.type"),
    ("part-type-beta", '{"type": "conversation.item.create", "item": {"type": "message", '
     '"role": "assistant", "content": [{"type": "text", "text": "hi"}]}}', INVALID_VALUE,
     "item.content[0].type"),
    ("item-status", '{"type": "conversation.item.create", "item": {"type": "message", '
     '"status": "done", "role": "user", "content": []}}', INVALID_VALUE, "item.status"),
    ("content_index-negative", '{"type": "conversation.item.truncate", "item_id": "i", '
     '"content_index": -1, "audio_end_ms": 0}', INVALID_VALUE, "content_index"),
    ("audio_end_ms-negative", '{"type": "conversation.item.truncate", "item_id": "i", '
     '"content_index": 0, "audio_end_ms": -5}', INVALID_VALUE, "audio_end_ms"),
    ("conversation", '{"type": "response.create", "response": {"conversation": "conv_1"}}',
     INVALID_VALUE, "response.conversation"),
    ("include", '{"type": "session.update", "session": {"type": "realtime", '
     '"include": ["logprobs"]}}', INVALID_VALUE, "session.include[0]"),
    ("truncation", '{"type": "session.update", "session": {"type": "realtime", '
     '"truncation": "sometimes"}}', INVALID_VALUE, "session.truncation"),
    ("reasoning-effort", '{"type": "session.update", "session": {"type": "realtime", '
     '"reasoning": {"effort": "max"}}}', INVALID_VALUE, "session.reasoning.effort"),
    ("float-out-of-range", '{"type": "session.update", "session": {"type": "realtime", '
     '"audio": {"output": {"speed": 1e999}}}}', INVALID_VALUE, "session.audio.output.speed"),
    # unknown fields
    ("unknown-top-level", '{"type": "input_audio_buffer.clear", "foo": 1}', UNKNOWN_PARAMETER,
     "foo"),
    ("unknown-top-level-response.create", '{"type": "response.create", "modalities": ["text"]}',
     UNKNOWN_PARAMETER, "modalities"),
    ("beta-modalities-in-session", '{"type": "session.update", "session": {"type": "realtime",'
     ' "modalities": ["text", "audio"]}}', UNKNOWN_PARAMETER, "session.modalities"),
    ("beta-voice-in-session", '{"type": "session.update", "session": {"type": "realtime", '
     '"voice": "alloy"}}', UNKNOWN_PARAMETER, "session.voice"),
    ("beta-temperature-in-session", '{"type": "session.update", "session": {"type": '
     '"realtime", "temperature": 0.8}}', UNKNOWN_PARAMETER, "session.temperature"),
    ("beta-input_audio_format", '{"type": "session.update", "session": {"type": "realtime", '
     '"input_audio_format": "pcm16"}}', UNKNOWN_PARAMETER, "session.input_audio_format"),
    ("beta-modalities-in-response", '{"type": "response.create", "response": '
     '{"modalities": ["text"]}}', UNKNOWN_PARAMETER, "response.modalities"),
    ("beta-max_response_output_tokens", '{"type": "response.create", "response": '
     '{"max_response_output_tokens": 5}}', UNKNOWN_PARAMETER,
     "response.max_response_output_tokens"),
    ("transcription-session-unknown", '{"type": "session.update", "session": {"type": '
     '"transcription", "tools": []}}', UNKNOWN_PARAMETER, "session.tools"),
]


@pytest.mark.parametrize(("name", "raw", "code", "param"), ERRORS,
                         ids=[row[0] for row in ERRORS])
def test_error_mapping(name: str, raw: str | bytes, code: str, param: str | None) -> None:
    err = raises(raw)
    assert (err.code, err.param) == (code, param), err.message
    if param not in (None, "type"):  # OpenAI's unknown-type message quotes the value only
        assert f"'{param}'" in err.message


def test_error_mapping_accepts_bytes_too() -> None:
    for _, raw, code, param in ERRORS:
        data = raw if isinstance(raw, bytes) else raw.encode()
        err = raises(data)
        assert (err.code, err.param) == (code, param)


def test_unknown_type_lists_the_supported_values() -> None:
    err = raises('{"type": "conversation.item.created", "event_id": "evt_9"}')
    assert err.code == INVALID_VALUE and err.param == "type"
    assert "conversation.item.created" in err.message
    for kind in GA_TYPES:
        assert repr(kind) in err.message
    assert err.event_id == "evt_9"


@pytest.mark.parametrize("raw", [
    '{"type": "conversation.item.delete", "event_id": "evt_42"}',            # missing field
    '{"event_id": "evt_42", "type": "conversation.item.delete", "item_id": 1}',  # wrong type
    '{"type": "input_audio_buffer.clear", "bogus": true, "event_id": "evt_42"}',  # unknown
    '{"type": "nope", "event_id": "evt_42"}',                                   # unknown type
    '{"event_id": "evt_42"}',                                                   # no type
    '{"type": "session.update", "event_id": "evt_42", "session": {"type": "realtime", '
    '"max_output_tokens": 0}}',                                                 # range
])
def test_event_id_is_echoed(raw: str) -> None:
    assert raises(raw).event_id == "evt_42"
    assert raises(raw.encode()).event_id == "evt_42"


@pytest.mark.parametrize("raw", [
    '{"type": "conversation.item.delete"}',
    '{"type": "conversation.item.delete", "event_id": null}',
    '{"type": "conversation.item.delete", "event_id": 42}',
    '{"type": "conversation.item.delete", "event_id": ["evt_42"]}',
    "[]", "not json",
])
def test_event_id_is_none_unless_a_string_was_sent(raw: str) -> None:
    assert raises(raw).event_id is None


def test_error_messages_do_not_echo_huge_client_text() -> None:
    """A frame may carry 21 MiB but openai-python drops frames over 1 MiB: errors stay short."""
    big = "x" * 2_000_000
    for raw in (
        dumps({"type": big}),
        dumps({"type": "session.update", "session": {"type": big}}),
        dumps({"type": "session.update", "session": {"type": "realtime", "tool_choice": big}}),
        dumps({"type": "input_audio_buffer.clear", big: 1}),
    ):
        err = raises(raw)
        assert len(err.message) < 2000
        assert err.param is None or len(err.param) < 2000


@pytest.mark.parametrize("raw", [
    "\ud800",                                             # lone surrogate in a str
    '{"type": "input_audio_buffer.clear", "event_id": "\udcff"}',
    b"\x80\x81", b"\xef\xbb\xbf{}", b"\x00", b"{\"type\": \"x\x00\"}",
])
def test_text_that_cannot_be_utf8_json_is_invalid_json(raw: str | bytes) -> None:
    assert raises(raw).code == INVALID_JSON


def test_deep_nesting_is_refused_not_crashing() -> None:
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    for raw in (
        "[" * 100_000 + "]" * 100_000,
        deep,
        '{"type": "session.update", "session": {"type": "realtime", "prompt": ' + deep + "}}",
    ):
        assert raises(raw).code in (INVALID_JSON, INVALID_EVENT)


def test_moderate_nesting_in_free_form_fields_is_accepted() -> None:
    nested: Any = "leaf"
    for _ in range(100):
        nested = {"k": [nested]}
    ev = decode_client_event(dumps({"type": "session.update", "session": {
        "type": "realtime", "tools": [{"type": "function", "name": "f",
                                       "parameters": {"type": "object", "x": nested}}]}}))
    assert isinstance(ev, ce.SessionUpdateEvent)


# --- what the SDKs routinely send ---------------------------------------------------------------

# openai-agents-python 0.24 right after connect (OpenAISessionUpdateEvent.model_dump_json with
# exclude_unset=True), with one function tool and semantic_vad.
AGENTS_PY_SESSION_UPDATE = (
    '{"session":{"type":"realtime","audio":{"input":{"format":{"rate":24000,"type":"audio/pcm"},'
    '"transcription":{"model":"gpt-4o-mini-transcribe"},"turn_detection":{"type":"semantic_vad",'
    '"create_response":true,"eagerness":"high","interrupt_response":true}},"output":{"format":'
    '{"rate":24000,"type":"audio/pcm"},"voice":"ash"}},"instructions":"Be brief.","model":'
    '"gpt-realtime-2.1","output_modalities":["audio"],"tool_choice":"auto","tools":[{"description":'
    '"Weather.","name":"get_weather","parameters":{"properties":{"city":{"title":"City","type":'
    '"string"},"days":{"default":1,"title":"Days","type":"integer"}},"required":["city","days"],'
    '"title":"get_weather_args","type":"object","additionalProperties":false},"type":"function"}]},'
    '"type":"session.update"}'
)

# @openai/agents-realtime (agents-js): a full update with noise_reduction null, a newer-than-spec
# nested key (turn_detection.model_version), "strict" on tools, tracing "auto".
AGENTS_JS_SESSION_UPDATE = json.dumps({
    "type": "session.update",
    "event_id": "client_evt_1",
    "session": {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "You are helpful.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "noise_reduction": None,
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {"type": "semantic_vad", "eagerness": "medium",
                                   "create_response": True, "interrupt_response": True,
                                   "model_version": "default"},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy",
                       "speed": 1},
        },
        "tool_choice": "auto",
        "tools": [{"type": "function", "name": "lookup", "description": "Look up.",
                   "strict": True,
                   "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                  "required": ["q"], "additionalProperties": False}}],
        "tracing": "auto",
    },
})

SDK_FRAMES: list[tuple[str, str, type]] = [
    ("agents-py/session.update", AGENTS_PY_SESSION_UPDATE, ce.SessionUpdateEvent),
    ("agents-py/tracing", '{"session":{"type":"realtime","tracing":"auto"},'
     '"type":"session.update"}', ce.SessionUpdateEvent),
    ("agents-py/tracing-config", '{"session":{"type":"realtime","tracing":{"workflow_name":'
     '"Realtime Session","group_id":"g","metadata":{"a":1}}},"type":"session.update"}',
     ce.SessionUpdateEvent),
    ("agents-py/response.create", '{"type":"response.create","event_id":'
     '"agents_py_response_create_1"}', ce.ResponseCreateEvent),
    ("agents-py/function_call_output", '{"item":{"call_id":"call_1","output":"sunny","type":'
     '"function_call_output"},"type":"conversation.item.create"}',
     ce.ConversationItemCreateEvent),
    ("agents-py/user-text", '{"item":{"content":[{"text":"hello","type":"input_text"}],'
     '"role":"user","type":"message"},"type":"conversation.item.create"}',
     ce.ConversationItemCreateEvent),
    ("agents-py/truncate", '{"audio_end_ms":1234,"content_index":0,"item_id":"item_1","type":'
     '"conversation.item.truncate"}', ce.ConversationItemTruncateEvent),
    ("agents-py/cancel", '{"type":"response.cancel"}', ce.ResponseCancelEvent),
    ("agents-js/session.update", AGENTS_JS_SESSION_UPDATE, ce.SessionUpdateEvent),
    ("agents-js/image", json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=",
             "detail": "auto"}]}}), ce.ConversationItemCreateEvent),
    ("openai-python/session.update", json.dumps({"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["text"], "tool_choice": {
            "type": "function", "name": "get_weather"},
        "tools": [{"type": "function", "name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}],
        "audio": {"input": {"turn_detection": None}}}}), ce.SessionUpdateEvent),
    ("openai-python/append", '{"type": "input_audio_buffer.append", "audio": "AAAAAA=="}',
     ce.InputAudioBufferAppendEvent),
    ("openai-python/response.create", json.dumps({"type": "response.create", "response": {
        "conversation": "none", "output_modalities": ["text"], "metadata": {"topic": "x"},
        "instructions": "Classify.", "input": []}}), ce.ResponseCreateEvent),
]


@pytest.mark.parametrize(("name", "raw", "cls"), SDK_FRAMES, ids=[row[0] for row in SDK_FRAMES])
def test_sdk_frames_decode(name: str, raw: str, cls: type) -> None:
    ev = decode_client_event(raw.encode())
    assert type(ev) is cls


def test_agents_frames_have_the_fields_clients_rely_on() -> None:
    ev = decode_client_event(AGENTS_JS_SESSION_UPDATE)
    assert isinstance(ev, ce.SessionUpdateEvent) and ev.event_id == "client_evt_1"
    s = ev.session
    assert isinstance(s, st.RealtimeSession)
    assert s.tracing == "auto"
    assert isinstance(s.audio, st.AudioConfig) and isinstance(s.audio.input, st.AudioInput)
    assert s.audio.input.noise_reduction is None
    assert s.audio.input.transcription == st.Transcription(model="gpt-4o-mini-transcribe")
    assert s.audio.input.turn_detection == st.SemanticVad(
        eagerness="medium", create_response=True, interrupt_response=True)
    assert isinstance(s.tools, list) and s.tools[0] == st.FunctionTool(
        name="lookup", description="Look up.",
        parameters={"type": "object", "properties": {"q": {"type": "string"}},
                    "required": ["q"], "additionalProperties": False})

    ev2 = decode_client_event(AGENTS_PY_SESSION_UPDATE)
    assert isinstance(ev2, ce.SessionUpdateEvent)
    assert isinstance(ev2.session, st.RealtimeSession)
    assert ev2.session.model == "gpt-realtime-2.1"
    assert ev2.session.tool_choice == "auto"


def test_frames_built_by_the_installed_agents_python_decode() -> None:
    """Regenerate agents-python's first session.update with the installed SDK, not a copy."""
    rt = pytest.importorskip("agents.realtime.openai_realtime")
    agents = pytest.importorskip("agents")

    @agents.function_tool  # type: ignore[untyped-decorator]
    def get_weather(city: str, days: int = 1) -> str:
        """Weather."""
        return "sunny"

    model = rt.OpenAIRealtimeWebSocketModel()
    for settings in (
        {},
        {"tools": [get_weather], "instructions": "Be brief.", "tool_choice": "auto",
         "voice": "marin",
         "turn_detection": {"type": "semantic_vad", "eagerness": "high",
                            "interrupt_response": True, "create_response": True}},
        {"turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400,
                            "prefix_padding_ms": 200}, "output_modalities": ["text"],
         "input_audio_transcription": {"model": "whisper-1", "language": "de"}},
    ):
        session = model._get_session_config(settings)
        frame = rt.OpenAISessionUpdateEvent(session=session, type="session.update")
        ev = decode_client_event(frame.model_dump_json(exclude_unset=True))
        assert isinstance(ev, ce.SessionUpdateEvent)


def test_client_events_built_by_openai_python_decode() -> None:
    """openai-python's own client-event models, serialised the way its connection sends them."""
    types = pytest.importorskip("openai.types.realtime")
    events = [
        types.SessionUpdateEvent(type="session.update", session={
            "type": "realtime", "instructions": "x", "tracing": "auto",
            "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"},
                                "turn_detection": {"type": "semantic_vad",
                                                   "eagerness": "low"}}}}),
        types.ConversationItemCreateEvent(type="conversation.item.create", item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}),
        types.ResponseCreateEvent(type="response.create", response={
            "tool_choice": {"type": "function", "name": "f"},
            "tools": [{"type": "function", "name": "f", "parameters": {}}]}),
        types.InputAudioBufferAppendEvent(type="input_audio_buffer.append", audio="AAAA"),
        types.ResponseCancelEvent(type="response.cancel", response_id="resp_1"),
    ]
    for event in events:
        decoded = decode_client_event(event.model_dump_json(exclude_unset=True))
        assert decoded.__struct_config__.tag == event.type


# --- cross-check with the events catalog --------------------------------------------------------


def _catalog_client_events() -> list[dict[str, Any]]:
    if not CATALOG.exists():
        pytest.skip("events-catalog.json not available")
    data = json.loads(CATALOG.read_text())
    events: list[dict[str, Any]] = data["ga"]["client"]
    return events


def test_catalog_and_codec_agree_on_the_event_types() -> None:
    assert {e["type"] for e in _catalog_client_events()} == set(ce.CLIENT_EVENT_TYPES)


def test_catalog_required_top_level_fields_are_required() -> None:
    minimal = {event["type"]: event for name, event, _ in VALID if name.endswith("/min")}
    full = {event["type"]: event for name, event, _ in VALID if name.endswith("/full")}
    for entry in _catalog_client_events():
        kind = entry["type"]
        top = [f for f in entry["fields"] if "." not in f["path"] and "[" not in f["path"]]
        # Every top-level field the catalog lists is accepted (no unknown_parameter)...
        assert {f["path"] for f in top} <= set(full[kind]) | {"previous_item_id", "session",
                                                                 "response", "item"}
        for f in top:
            if not f["required"] or f["path"] == "type":
                continue
            # ...and leaving out a required one is missing_required_parameter with its name.
            event = dict(minimal[kind])
            event.pop(f["path"])
            err = raises(dumps(event))
            assert (err.code, err.param) == (MISSING_PARAMETER, f["path"])


def test_null_for_an_optional_field_means_not_given() -> None:
    # async-openai sends "response": null; LiveKit sends "instructions": null (OpenAI accepts).
    event = decode_client_event(b'{"type":"response.create","response":null,"event_id":"e1"}')
    assert isinstance(event, ce.ResponseCreateEvent) and event.response is msgspec.UNSET
    event = decode_client_event(
        b'{"type":"response.create","response":{"instructions":null,"tools":null,'
        b'"conversation":null,"metadata":null}}')
    assert isinstance(event, ce.ResponseCreateEvent)
    params = event.response
    assert not isinstance(params, msgspec.UnsetType)
    assert params.instructions is msgspec.UNSET and params.tools is msgspec.UNSET
    assert params.metadata is None  # null is a value here, and kept as one


def test_a_null_with_a_meaning_is_kept_and_a_wrong_type_still_refused() -> None:
    event = decode_client_event(
        b'{"type":"session.update","session":{"type":"realtime",'
        b'"audio":{"input":{"turn_detection":null,"transcription":null}}}}')
    assert isinstance(event, ce.SessionUpdateEvent)
    audio = event.session.audio
    assert not isinstance(audio, msgspec.UnsetType) and not isinstance(audio.input,
                                                                       msgspec.UnsetType)
    assert audio.input.turn_detection is None and audio.input.transcription is None
    with pytest.raises(ClientError) as info:
        decode_client_event(b'{"type":"response.create","response":{"instructions":null,'
                            b'"max_output_tokens":"lots"},"event_id":"e2"}')
    assert info.value.param == "response.max_output_tokens" and info.value.event_id == "e2"
    with pytest.raises(ClientError) as info:  # a required field is still required
        decode_client_event(b'{"type":"conversation.item.delete","item_id":null}')
    assert info.value.param == "item_id"
