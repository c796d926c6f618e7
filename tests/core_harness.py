"""A tiny synchronous harness around the sans-I/O ``Session`` for the core unit tests.

Every input goes through the same path the real owner uses: JSON bytes -> ``decode_client_event``
(a codec refusal is handed to ``receive_client_error``, as the transport does) ->
``receive_client_event``. After every input the harness drains the session, encodes each event
right away (the core's contract: events may reference live items) and validates the JSON against
openai-python's ``RealtimeServerEvent`` union, so every test also checks the wire shape of every
event it produces. No event loop, no clock: ``now`` is an argument.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pydantic
from events import types
from openai.types.realtime import RealtimeServerEvent

from openrealtime.protocol.codec import decode_client_event, encode
from openrealtime.protocol.errors import ClientError
from openrealtime.protocol.server_events import ServerEvent
from openrealtime.session.config import Capabilities
from openrealtime.session.core import Session
from openrealtime.session.effects import (
    CancelGeneration,
    DetectSpeech,
    Effect,
    Generate,
    GenerationDone,
    GenerationFailed,
    Result,
    TextDelta,
    ToolCallDelta,
)
from openrealtime.session.limits import Limits

Event = dict[str, Any]

SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)

# 100 ms of PCM16 at 24 kHz mono.
PCM_100MS = b"\x01\x00" * 2400


def validate(raw: Event) -> None:
    """Fail unless ``raw`` parses as an openai-python GA server event of its own ``type``."""
    model = SERVER_EVENT.validate_python(raw)
    assert model.type == raw["type"]


def to_wire(event: ServerEvent) -> Event:
    raw: Event = msgspec.json.decode(encode(event))
    validate(raw)
    return raw


def user_text(text: str = "hi", **extra: Any) -> Event:
    return {"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}], **extra}


def fn_tool(name: str, **extra: Any) -> Event:
    return {"type": "function", "name": name, "description": f"tool {name}",
            "parameters": {"type": "object", "properties": {}}, **extra}




def of_type(events: list[Event], type_: str) -> list[Event]:
    return [e for e in events if e["type"] == type_]


def error_of(events: list[Event]) -> dict[str, Any]:
    """The ``error`` object of the single event in ``events``, which must be an error."""
    assert types(events) == ["error"], types(events)
    err: dict[str, Any] = events[0]["error"]
    assert err["type"] == "invalid_request_error"
    return err


class Harness:
    """One session, plus the events and effects it produced, already drained and checked."""

    def __init__(self, *, model: str = "gpt-realtime", caps: Capabilities | None = None,
                 limits: Limits | None = None, now: float = 0.0) -> None:
        self.session = Session(model=model, now=now, caps=caps, limits=limits)
        self.now = now
        self._effects: list[Effect] = []
        self.history: list[Event] = []
        self.created = self.drain()

    # --- inputs ----------------------------------------------------------------------------

    def send(self, event: Event | str | bytes) -> list[Event]:
        """Feed one client frame; return the server events it caused, in order."""
        data = event if isinstance(event, (str, bytes)) else msgspec.json.encode(event)
        try:
            decoded = decode_client_event(data)
        except ClientError as err:
            self.session.receive_client_error(err)
        else:
            self.session.receive_client_event(decoded, self.now)
        return self.drain()

    def expire(self) -> list[Event]:
        self.session.expire()
        return self.drain()

    def result(self, result: Result) -> list[Event]:
        self.session.receive_result(result, self.now)
        return self.drain()

    # --- common client moves ----------------------------------------------------------------

    def update(self, session: Event, **extra: Any) -> list[Event]:
        return self.send({"type": "session.update", "session": session, **extra})

    def create_item(self, item: Event, **extra: Any) -> list[Event]:
        return self.send({"type": "conversation.item.create", "item": item, **extra})

    def add_user(self, text: str = "hi", **extra: Any) -> str:
        """Create a user text message; return its id."""
        events = self.create_item(user_text(text), **extra)
        assert types(events) == ["conversation.item.added", "conversation.item.done"], events
        iid: str = events[0]["item"]["id"]
        return iid

    def create_response(self, response: Event | None = None, **extra: Any) -> list[Event]:
        event: Event = {"type": "response.create", **extra}
        if response is not None:
            event["response"] = response
        return self.send(event)

    def start(self, response: Event | None = None) -> tuple[str, Generate]:
        """``response.create`` that must succeed; returns the response id and its effect."""
        events = self.create_response(response)
        assert types(events) == ["response.created"], events
        rid: str = events[0]["response"]["id"]
        gen = self.generate()
        assert gen.response_id == rid
        return rid, gen

    def text(self, rid: str, *chunks: str) -> list[Event]:
        out: list[Event] = []
        for chunk in chunks:
            out += self.result(TextDelta(rid, chunk))
        return out

    def call(self, rid: str, index: int, arguments: str, name: str | None = None,
             call_id: str | None = None) -> list[Event]:
        return self.result(ToolCallDelta(rid, index, arguments, name, call_id))

    def done(self, rid: str, reason: Any = "stop", input_tokens: int = 7,
             output_tokens: int = 5) -> list[Event]:
        return self.result(GenerationDone(rid, reason, input_tokens, output_tokens))

    def fail(self, rid: str, code: str = "llm_unreachable",
             message: str = "backend down") -> list[Event]:
        return self.result(GenerationFailed(rid, code, message))

    def cancel(self, response_id: str | None = None, **extra: Any) -> list[Event]:
        event: Event = {"type": "response.cancel", **extra}
        if response_id is not None:
            event["response_id"] = response_id
        return self.send(event)

    def config(self) -> Event:
        """The effective session configuration as it would go on the wire."""
        raw: Event = msgspec.json.decode(encode(self.session.config))
        return raw

    # --- outputs ------------------------------------------------------------------------------

    def effects(self, *, vad: bool = False) -> list[Effect]:
        """Effects since the last look; VAD requests only if ``vad`` (most tests append audio
        with the default ``server_vad`` on, and VAD has tests of its own)."""
        out, self._effects = self._effects, []
        return out if vad else [e for e in out if not isinstance(e, DetectSpeech)]

    def generate(self) -> Generate:
        """The single effect produced since the last look, which must be ``Generate``."""
        effects = self.effects()
        assert len(effects) == 1 and isinstance(effects[0], Generate), effects
        return effects[0]

    def cancelled(self) -> list[str]:
        """Response ids of the ``CancelGeneration`` effects since the last look (none else)."""
        effects = self.effects()
        assert all(isinstance(e, CancelGeneration) for e in effects), effects
        return [e.response_id for e in effects]

    def drain(self) -> list[Event]:
        self._effects += self.session.effects_to_run()
        events = [to_wire(e) for e in self.session.events_to_send()]
        ids = [e["event_id"] for e in events]
        assert all(isinstance(i, str) and i for i in ids)
        self.history += events
        # Every server event carries a fresh event_id, unique over the whole session.
        seen = [e["event_id"] for e in self.history]
        assert len(seen) == len(set(seen))
        return events
