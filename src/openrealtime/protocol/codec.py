"""JSON in, JSON out: the one place where client bytes become typed events.

``decode_client_event`` either returns a typed event or raises ``ClientError`` with an OpenAI
code, the dotted ``param`` of the offending field, and the client's ``event_id`` when it can be
read. It never raises anything else, whatever the bytes (the tests fuzz this).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .client_events import CLIENT_EVENT_TYPES, ClientEvent
from .errors import (
    INVALID_EVENT,
    INVALID_JSON,
    INVALID_TYPE,
    INVALID_VALUE,
    MISSING_PARAMETER,
    UNKNOWN_PARAMETER,
    ClientError,
)
from .server_events import ServerEvent

_decoder = msgspec.json.Decoder(ClientEvent)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
# Messages and params quote client text (enum values, unknown keys); a frame may carry 21 MiB,
# but openai-python's client drops frames over 1 MiB, so the echo is cut short.
_MAX_ECHO = 256


def _clip(text: str, limit: int = _MAX_ECHO) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def encode(event: ServerEvent | msgspec.Struct) -> bytes:
    return _encoder.encode(event)


def _param(path: str, field: str | None = None) -> str | None:
    dotted = path.lstrip(".")
    if field:
        dotted = f"{dotted}.{field}" if dotted else field
    return dotted or None


def _event_id_of(data: bytes | str) -> str | None:
    try:
        raw: Any = _any_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeError):
        return None
    if isinstance(raw, dict):
        eid = raw.get("event_id")
        if isinstance(eid, str):
            return eid
    return None


def _translate(err: msgspec.ValidationError, data: bytes | str) -> ClientError:
    text = str(err)
    m = _AT.match(text)
    msg, path = (m.group("msg"), m.group("path") or "") if m else (text, "")
    event_id = _event_id_of(data)
    if mm := _MISSING.match(msg):
        field = mm.group("field")
        if not path and field == "type":
            return ClientError("The event has no 'type'.", code=INVALID_EVENT, param="type",
                               event_id=event_id)
        param = _param(path, field)
        return ClientError(f"Missing required parameter: '{param}'.", code=MISSING_PARAMETER,
                           param=param, event_id=event_id)
    if mu := _UNKNOWN.match(msg):
        param = _param(path, _clip(mu.group("field")))
        return ClientError(f"Unknown parameter: '{param}'.", code=UNKNOWN_PARAMETER,
                           param=param, event_id=event_id)
    param = _param(path)
    msg = _clip(msg)
    if param is None and msg.startswith("Expected `object`"):
        return ClientError("The message must be a JSON object with a 'type'.",
                           code=INVALID_EVENT, event_id=event_id)
    if param == "type" and msg.startswith("Invalid value"):
        supported = ", ".join(repr(t) for t in CLIENT_EVENT_TYPES)
        return ClientError(f"{msg}. Supported values are: {supported}.", code=INVALID_VALUE,
                           param="type", event_id=event_id)
    # "Expected `str`, got `int`" and (for tags) a bare "Expected `str`" are type errors;
    # "Expected `int` >= 1", "Invalid enum value …" and the like are value errors.
    code = INVALID_TYPE if msg.startswith("Expected `") and "`" in msg[10:] and (
        " got " in msg or msg.endswith("`")) else INVALID_VALUE
    where = f" for '{param}'" if param else ""
    return ClientError(f"{msg}{where}.", code=code, param=param, event_id=event_id)


_NULL_AT = re.compile(r"got `null` - at `\$(?P<path>[^`]+)`$")
_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]")
# Enough for every optional field of one event to be null; bounds the work a frame can cause.
_MAX_NULLS = 64


def decode_client_event(data: bytes | str) -> ClientEvent:
    """Parse one client frame, or raise ``ClientError``."""
    try:
        event: ClientEvent = _decoder.decode(data)
        return event
    except msgspec.ValidationError as err:
        retried = _without_optional_nulls(err, data)
        if isinstance(retried, msgspec.ValidationError):
            raise _translate(retried, data) from None
        return retried
    except (msgspec.DecodeError, RecursionError, UnicodeError):
        # Either not JSON at all, or JSON that isn't an object. (A ``str`` holding a lone
        # surrogate raises UnicodeEncodeError: it cannot be valid UTF-8 JSON either.)
        try:
            _any_decoder.decode(data)
        except (msgspec.DecodeError, RecursionError, UnicodeError):
            raise ClientError("The message is not valid JSON.", code=INVALID_JSON) from None
        raise ClientError("The message must be a JSON object with a 'type'.",
                          code=INVALID_EVENT) from None


def _without_optional_nulls(err: msgspec.ValidationError,
                            data: bytes | str) -> ClientEvent | msgspec.ValidationError:
    """The event with ``null`` read as "not given" where a field has no null meaning.

    Clients send null for optional fields they leave unset (async-openai's ``response: null``,
    LiveKit's ``instructions: null``); OpenAI accepts that. Fields where null means something
    (``turn_detection``, ``transcription``, ...) accept it in their types and never get here.
    Only the slow path pays: the frame is decoded again as plain JSON, the null the validator
    named is dropped, and the typed decode is retried. What cannot be read is the error to
    report: the first one that is not such a null.
    """
    if not _NULL_AT.search(str(err)):
        return err
    try:
        raw: Any = _any_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeError):
        return err
    for _ in range(_MAX_NULLS):
        m = _NULL_AT.search(str(err))
        if m is None or not _drop(raw, m.group("path")):
            return err
        try:
            event: ClientEvent = msgspec.convert(raw, ClientEvent)
            return event
        except msgspec.ValidationError as again:
            missing = _MISSING.match(str(again))
            if missing and m.group("path").endswith("." + missing.group("field")):
                return err  # a required field: its null is the error, "not given" is not
            err = again
    return err


def _drop(doc: Any, path: str) -> bool:
    """Remove the object member at ``path`` (``.response.instructions``, ``.tools[0].x``)."""
    steps = [(m.group("key"), m.group("index")) for m in _STEP.finditer(path)]
    if not steps or "".join(m.group(0) for m in _STEP.finditer(path)) != path:
        return False
    *parents, (last, _) = steps
    node = doc
    for key, index in parents:
        if key is not None and isinstance(node, dict) and key in node:
            node = node[key]
        elif index is not None and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return False
    if last is None or not isinstance(node, dict) or node.get(last, 0) is not None:
        return False
    del node[last]
    return True
