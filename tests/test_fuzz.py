"""Property tests: whatever a client sends, the codec and the session answer in protocol.

(a) Arbitrary bytes and text: ``decode_client_event`` returns an event or raises ``ClientError``,
    never anything else.
(b) Structured fuzz: valid GA events mutated at random (wrong types, nulls, huge ints, unicode,
    unknown keys, deep nesting) are fed through a whole ``Session``. Nothing escapes; a refusal is
    exactly one ``error`` event with ``type``/``message`` and the client's ``event_id``; every
    event emitted validates against openai-python's pydantic ``RealtimeServerEvent`` union (what
    openai-agents-python does with every frame); and the session still works afterwards.

Runs are bounded and deterministic (``derandomize=True``, no example database).
"""

from __future__ import annotations

import copy
import json
import typing
from typing import Any

import msgspec
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.realtime import RealtimeServerEvent

from openrealtime.protocol.client_events import CLIENT_EVENT_TYPES
from openrealtime.protocol.codec import decode_client_event, encode
from openrealtime.protocol.errors import ClientError
from openrealtime.protocol.server_events import ServerEvent
from openrealtime.session.core import Session
from openrealtime.session.effects import (
    Generate,
    GenerationDone,
    GenerationFailed,
    TextDelta,
    ToolCallDelta,
)

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)
# The union's members by their ``type``, only to make a failure message readable.
MODELS: dict[str, type[pydantic.BaseModel]] = {
    typing.get_args(model.model_fields["type"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(RealtimeServerEvent)[0])
}

# --- JSON building blocks -----------------------------------------------------------------------

# Strings the schema cares about, so that mutations often land on a *nearly* valid value.
KNOWN_STRINGS = [
    "", "auto", "none", "required", "inf", "realtime", "transcription", "message", "user",
    "assistant", "system", "developer", "function", "function_call", "function_call_output",
    "item_reference", "mcp", "input_text", "input_audio", "input_image", "output_text",
    "output_audio", "text", "audio", "audio/pcm", "audio/pcmu", "audio/pcma", "pcm16",
    "server_vad", "semantic_vad", "near_field", "far_field", "low", "medium", "high", "root",
    "retention_ratio", "disabled", "completed", "incomplete", "realtime.item", "marin", "AAAA",
    "item_does_not_exist", "resp_nope", "gpt-4o-mini-transcribe",
    "item.input_audio_transcription.logprobs", *CLIENT_EVENT_TYPES,
]
KNOWN_KEYS = [
    "type", "event_id", "session", "item", "item_id", "audio", "response", "response_id",
    "previous_item_id", "content_index", "audio_end_ms", "content", "role", "text", "id",
    "name", "arguments", "call_id", "output", "tools", "tool_choice", "instructions",
    "output_modalities", "modalities", "max_output_tokens", "input", "format", "rate", "voice",
    "speed", "turn_detection", "threshold", "transcription", "model", "tracing", "prompt",
    "metadata", "conversation", "parameters", "model_version", "status", "object",
]
HUGE_INTS = [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**40)]

ints = st.integers(min_value=-5, max_value=5000) | st.integers() | st.sampled_from(HUGE_INTS)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 0.5, 1.0, 1.5, 24000.0, 1e308, -1e308, 5e-324])
texts = st.sampled_from(KNOWN_STRINGS) | st.text(max_size=12) | st.text(
    alphabet=st.sampled_from("\x00\u200b\u0301é漢😀\ufeff\uffff\"\\/\n"), max_size=8)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
leaves = st.none() | st.booleans() | ints | floats | texts
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value buried under many levels of arrays/objects (within msgspec's recursion limit)."""
    value: Any = draw(leaves)
    for kind in draw(st.lists(st.sampled_from(["list", "dict"]), min_size=20, max_size=250)):
        value = [value] if kind == "list" else {"k": value}
    return value


any_value = st.sampled_from([False] * 4 + [True]).flatmap(
    lambda buried: deep() if buried else json_values)

# --- valid templates ----------------------------------------------------------------------------

TEMPLATES: list[dict[str, Any]] = [
    {"type": "session.update", "session": {"type": "realtime"}},
    {"type": "session.update", "session": {
        "type": "realtime", "model": "gpt-realtime", "instructions": "Be brief.",
        "output_modalities": ["text"],
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                            "transcription": {"model": "gpt-4o-mini-transcribe"},
                            "noise_reduction": None,
                            "turn_detection": {"type": "semantic_vad", "eagerness": "auto",
                                               "model_version": "default"}},
                  "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0}},
        "tools": [{"type": "function", "name": "get_weather", "description": "d",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "max_output_tokens": 100, "tracing": "auto", "truncation": "auto",
        "include": None, "reasoning": {"effort": "low"}, "parallel_tool_calls": True,
        "prompt": None}},
    {"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"turn_detection": {
            "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
            "silence_duration_ms": 500, "idle_timeout_ms": None, "create_response": False}}}}},
    {"type": "session.update", "session": {"type": "transcription"}},
    {"type": "session.update", "session": {
        "type": "realtime", "prompt": {"id": "pmpt_1", "version": "2",
                                       "variables": {"name": "Ada"}}}},
    {"type": "input_audio_buffer.append", "audio": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "output_audio_buffer.clear"},
    {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}},
    {"type": "conversation.item.create", "previous_item_id": "root", "item": {
        "id": "item_fuzz", "type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": "ok"}]}},
    {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [
            {"type": "input_audio", "audio": "AAAA", "transcript": None},
            {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}]}},
    {"type": "conversation.item.create", "item": {
        "type": "function_call", "name": "get_weather", "arguments": "{}", "call_id": "call_f"}},
    {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_f", "output": "sunny"}},
    {"type": "conversation.item.retrieve", "item_id": "item_fuzz"},
    {"type": "conversation.item.truncate", "item_id": "item_fuzz", "content_index": 0,
     "audio_end_ms": 0},
    {"type": "conversation.item.delete", "item_id": "item_fuzz"},
    {"type": "response.create"},
    {"type": "response.create", "response": {
        "conversation": "none", "output_modalities": ["text"], "instructions": "x",
        "metadata": {"k": "v"}, "max_output_tokens": "inf", "tool_choice": "none",
        "tools": [{"type": "function", "name": "f"}],
        "input": [{"type": "item_reference", "id": "item_fuzz"},
                  {"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "hi"}]}]}},
    {"type": "response.cancel"},
    {"type": "response.cancel", "response_id": "resp_nope"},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _same_kind(draw: st.DrawFn, value: Any) -> Any:
    """A different value of the same JSON type: gets past type checks, probes values."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(ints)
    if isinstance(value, float):
        return draw(floats)
    if isinstance(value, str):
        return draw(texts)
    if isinstance(value, list):
        return draw(st.lists(json_values, max_size=3))
    if isinstance(value, dict):
        return draw(st.dictionaries(keys, json_values, max_size=3))
    return draw(leaves)


@st.composite
def mutated_event(draw: st.DrawFn) -> Any:
    """A valid template, then a few mutations at random places."""
    event: Any = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
    # (Hypothesis favours the first entries and small integers: rare choices go last.)
    eid = draw(st.sampled_from(["absent"] * 6 + ["str"] * 10 + ["null"] * 2 + ["other"]))
    if eid == "str":
        event["event_id"] = draw(st.sampled_from(["evt_1", "", "agents_py_response_create_7"])
                                 | st.text(max_size=10))
    elif eid == "null":
        event["event_id"] = None
    elif eid == "other":
        event["event_id"] = draw(any_value)
    if draw(st.sampled_from([False] * 49 + [True])):  # now and then, not an object at all
        return draw(any_value)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))):
        paths = _paths(event)[1:]
        if draw(st.sampled_from([True] * 7 + [False])):  # mostly leave type and event_id be
            paths = [p for p in paths if p not in (("type",), ("event_id",))]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["retype", "same_kind", "same_kind", "delete", "add", "null",
                                   "wrap"]))
        parent, last = _get(event, path[:-1]), path[-1]
        target = parent[last]
        if op == "retype":
            parent[last] = draw(any_value)
        elif op == "same_kind":
            parent[last] = _same_kind(draw, target)
        elif op == "null":
            parent[last] = None
        elif op == "wrap":
            parent[last] = draw(st.sampled_from([[target], {"value": target}]))
        elif op == "delete":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif isinstance(target, dict):  # add
            target[draw(keys)] = draw(any_value)
        elif isinstance(target, list):
            target.append(draw(any_value))
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(any_value)
    return event


def serialise(event: Any, how: str) -> str | bytes:
    if how == "msgspec":
        return msgspec.json.encode(event)
    if how == "ascii":  # \uXXXX escapes for everything non-ASCII
        return json.dumps(event, ensure_ascii=True)
    return json.dumps(event, ensure_ascii=False, indent=1)


# --- checks -------------------------------------------------------------------------------------


def validate_wire(events: list[ServerEvent]) -> list[dict[str, Any]]:
    """Encode each event and validate it as openai-agents-python would."""
    out = []
    for event in events:
        wire = msgspec.json.decode(encode(event))
        try:
            SERVER_EVENT.validate_python(wire)
            ok = True
        except pydantic.ValidationError:  # pragma: no cover - only when a bug is found
            ok = False
        if not ok:  # pragma: no cover
            try:
                MODELS[wire["type"]].model_validate(wire)
                detail = "(only the union refuses it)"
            except (KeyError, pydantic.ValidationError) as err:
                detail = str(err)
            pytest.fail(f"{wire.get('type')} does not validate: {detail}\n{str(wire)[:2000]}")
        out.append(wire)
    return out


def expected_event_id(event: Any) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("event_id"), str):
        return str(event["event_id"])
    return None


def feed(session: Session, data: str | bytes) -> bool:
    """What the driver does with one frame; True when the codec accepted it."""
    try:
        event = decode_client_event(data)
    except ClientError as err:
        session.receive_client_error(err)
        return False
    session.receive_client_event(event, 0.0)
    return True


def check_reply(out: list[dict[str, Any]], accepted: bool, sent: Any) -> None:
    errors = [e for e in out if e["type"] == "error"]
    if not accepted:
        assert len(out) == 1 and len(errors) == 1, out
    if errors:
        # A refusal is one error event and nothing else: the state stays as it was.
        assert len(out) == 1, out
        error = errors[0]["error"]
        assert isinstance(error["type"], str) and error["type"]
        assert isinstance(error["message"], str) and error["message"]
        assert error["event_id"] == expected_event_id(sent), (error, sent)


def run_engine(session: Session, how: str) -> list[dict[str, Any]]:
    """Play the engine for whatever the session asked to generate."""
    out: list[dict[str, Any]] = []
    for effect in session.effects_to_run():
        if not isinstance(effect, Generate) or how == "pending":
            continue
        rid = effect.response_id
        results: list[Any]
        if how == "text":
            results = [TextDelta(rid, "Hello "), TextDelta(rid, "wörld 😀"),
                       GenerationDone(rid, "stop", 10, 3)]
        elif how == "length":
            results = [TextDelta(rid, "cut"), GenerationDone(rid, "length", 5, 1)]
        elif how == "tool":
            results = [ToolCallDelta(rid, 0, '{"ci', name="get_weather", call_id="call_x"),
                       ToolCallDelta(rid, 0, 'ty": "Paris"}'),
                       GenerationDone(rid, "tool_calls", 7, 9)]
        else:
            results = [GenerationFailed(rid, "llm_unreachable", "backend down")]
        for result in results:
            session.receive_result(result, 0.0)
            out += validate_wire(session.events_to_send())
    return out


def still_works(session: Session) -> None:
    # Whatever happened before, a plain item create is answered normally.
    assert feed(session, b'{"type": "conversation.item.create", "event_id": "final", "item": '
                         b'{"type": "message", "role": "user", "content": '
                         b'[{"type": "input_text", "text": "still there?"}]}}')
    out = validate_wire(session.events_to_send())
    assert [e["type"] for e in out] == ["conversation.item.added", "conversation.item.done"], out


# --- (a) arbitrary input to the codec -----------------------------------------------------------

# Text with every kind of code point, lone surrogates included (a ``str`` may hold them).
any_text = st.text(alphabet=st.characters(codec=None), max_size=200)


def decode_or_client_error(data: str | bytes) -> None:
    try:
        decode_client_event(data)
    except ClientError as err:
        assert isinstance(err.code, str) and err.code
        assert isinstance(err.message, str) and err.message
        assert err.param is None or isinstance(err.param, str)
        assert err.event_id is None or isinstance(err.event_id, str)


@FUZZ
@given(st.binary(max_size=300) | any_text)
def test_arbitrary_input_returns_an_event_or_raises_client_error(data: str | bytes) -> None:
    decode_or_client_error(data)


@st.composite
def damaged_json(draw: st.DrawFn) -> bytes:
    """Nearly-JSON: an encoded (mutated) event cut short, or with bytes changed or inserted."""
    raw = bytearray(msgspec.json.encode(draw(mutated_event())))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cut", "flip", "insert"]))
        pos = draw(st.integers(0, len(raw)))
        if op == "cut":
            del raw[pos:]
        elif op == "flip" and pos < len(raw):
            raw[pos] = draw(st.integers(0, 255))
        else:
            raw[pos:pos] = draw(st.sampled_from([b"{", b"[", b'"', b",", b"\\", b"\xff", b"\x00",
                                                 b"\\ud800", b"1e99999", b"-", b"NaN"]))
    return bytes(raw)


@FUZZ
@given(damaged_json())
def test_damaged_json_returns_an_event_or_raises_client_error(data: bytes) -> None:
    decode_or_client_error(data)
    decode_or_client_error(data.decode("utf-8", "surrogateescape"))


# --- (b) structured fuzz through the session ----------------------------------------------------


@FUZZ
@given(
    frames=st.lists(
        st.tuples(mutated_event(), st.sampled_from(["msgspec", "ascii", "pretty"])),
        min_size=1, max_size=5),
    engine=st.sampled_from(["pending", "text", "length", "tool", "fail"]),
)
def test_session_survives_mutated_events(frames: list[tuple[Any, str]], engine: str) -> None:
    session = Session(model="gpt-realtime", now=0.0)
    created = validate_wire(session.events_to_send())
    assert [e["type"] for e in created] == ["session.created"]
    for event, how in frames:
        data = serialise(event, how)
        accepted = feed(session, data)
        out = validate_wire(session.events_to_send())
        check_reply(out, accepted, event)
        run_engine(session, engine)
    still_works(session)


@FUZZ
@given(event=mutated_event())
def test_each_template_mutation_gets_one_answer_or_none(event: Any) -> None:
    """A single frame against a fresh session: accepted, or exactly one error event."""
    session = Session(model="gpt-realtime", now=0.0)
    session.events_to_send()
    accepted = feed(session, msgspec.json.encode(event))
    check_reply(validate_wire(session.events_to_send()), accepted, event)
    still_works(session)


def test_unmutated_templates_are_accepted_by_the_codec() -> None:
    """The fuzz starts from valid events, so mutations explore around valid input."""
    for template in TEMPLATES:
        decode_client_event(msgspec.json.encode(template))


def test_template_conversation_replays_without_errors() -> None:
    """The templates, in order, are a plausible conversation; they draw no codec errors."""
    session = Session(model="gpt-realtime", now=0.0)
    validate_wire(session.events_to_send())
    for template in TEMPLATES:
        assert feed(session, msgspec.json.encode(template))
        check_reply(validate_wire(session.events_to_send()), True, template)
        run_engine(session, "text")
    still_works(session)


# --- session bugs found by fuzzing, fixed; these keep them fixed ---


@pytest.mark.parametrize("prompt", [{"x": 1}, {"id": "pmpt_1", "variables": {"a": 5}},
                                    {"id": 7}])
def test_bad_prompt_is_refused_or_echoed_in_openai_shape(prompt: dict[str, Any]) -> None:
    session = Session(model="gpt-realtime", now=0.0)
    session.events_to_send()
    feed(session, json.dumps({"type": "session.update",
                              "session": {"type": "realtime", "prompt": prompt}}))
    validate_wire(session.events_to_send())


MIB = 1024 * 1024


@pytest.mark.parametrize("template", [
    {"type": "conversation.item.retrieve", "item_id": "ID"},
    {"type": "conversation.item.delete", "item_id": "ID"},
    {"type": "conversation.item.truncate", "item_id": "ID", "content_index": 0,
     "audio_end_ms": 0},
    {"type": "conversation.item.create", "previous_item_id": "ID", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}},
    {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "ID", "output": "x"}},
    {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "ID"}]}},
])
def test_error_frames_stay_under_one_mib(template: dict[str, Any]) -> None:
    big = "x" * (2 * MIB)
    session = Session(model="gpt-realtime", now=0.0)
    session.events_to_send()
    feed(session, json.dumps(template).replace('"ID"', json.dumps(big)))
    (error,) = session.events_to_send()
    frame = encode(error)
    assert msgspec.json.decode(frame)["type"] == "error"
    assert len(frame) <= MIB
