"""The beta dialect (``OpenAI-Beta: realtime=v1``): a translation at the edge of one connection.

The session core speaks GA only. For a beta connection the transport passes each client frame
through ``BetaDialect.from_client`` before the driver decodes it, and each frame the driver
sends through ``to_client``. GA connections never meet this module, so they pay nothing.

Hot frames are handled on bytes: a delta is renamed by swapping its ``{"type":"…"`` prefix
(msgspec writes the tag first), an audio append is passed on after reading only its type.
The rest are decoded, rewritten by ``beta_client``/``beta_server`` and encoded again.

The core has no ``temperature`` (GA removed it); the dialect keeps the beta value so that
session and response objects echo what the client set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from . import beta_client, beta_server
from .errors import INVALID_VALUE, ClientError

BETA_HEADER = "realtime=v1"
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"

Send = Callable[[bytes], Awaitable[None]]
Event = dict[str, Any]

_TYPE_PREFIX = b'{"type":"'
_RENAMED = {ga.encode(): (_TYPE_PREFIX + ga.encode() + b'"', _TYPE_PREFIX + beta.encode() + b'"')
            for ga, beta in beta_server.RENAMED.items()}
_UNCHANGED = frozenset(t.encode() for t in beta_server.UNCHANGED)
_FULL = frozenset(t.encode() for t in (*beta_server.STATELESS, "session.created",
                                        "session.updated", "response.created", "response.done"))
_REWRITTEN_CLIENT = frozenset({"session.update", "transcription_session.update",
                               "conversation.item.create", "response.create"})


class _Head(msgspec.Struct):
    type: str | None = None
    event_id: str | None = None


_head = msgspec.json.Decoder(_Head)
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


def is_beta(headers: Mapping[str, str]) -> bool:
    """The handshake asks for beta: by header (servers) or subprotocol (browsers)."""
    header = headers.get("OpenAI-Beta") or ""
    offered = headers.get("Sec-WebSocket-Protocol") or ""
    return (BETA_HEADER in (v.strip() for v in header.split(","))
            or BETA_SUBPROTOCOL in (p.strip() for p in offered.split(",")))


class BetaDialect:
    """Per-connection translator between a beta client and the GA core."""

    def __init__(self) -> None:
        self.active = True
        """False once the client turned out to speak GA (see ``from_client``)."""
        self.temperature = beta_server.DEFAULT_TEMPERATURE
        self._decided = False
        # A temperature waits for the core's answer: ``session.updated`` applies it, an error
        # for the same client event drops it.
        self._session_temp: tuple[str | None, float] | None = None
        self._response_temp: tuple[str | None, float] | None = None
        self._response_temps: dict[str, float] = {}

    # --- client → core ----------------------------------------------------------------------

    def from_client(self, data: str | bytes) -> str | bytes:
        """The GA frame for a beta one. Raises ``ClientError`` for beta input it refuses;
        frames it cannot read go on unchanged, for the GA decoder's own error."""
        if not self.active:
            return data
        try:
            head = _head.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeError):
            return data
        kind = head.type
        if kind is None:
            return data
        if kind not in beta_client.CLIENT_TYPES:
            names = ", ".join(repr(t) for t in beta_client.CLIENT_TYPES)
            raise ClientError(f"Invalid value: {kind[:64]!r}. Supported values are: {names}.",
                              code=INVALID_VALUE, param="type", event_id=head.event_id)
        if kind not in _REWRITTEN_CLIENT:
            return data
        event = _decode(data)
        try:
            out = self._rewrite(kind, event, head.event_id)
        except ClientError as err:
            err.event_id = head.event_id
            raise
        return data if out is None else _encode(out)

    def _rewrite(self, kind: str, event: Event, event_id: str | None) -> Event | None:
        if kind == "session.update":
            session = event.get("session")
            if not self._decided:
                self._decided = True
                # openai-node 5.17–5.23 sent the beta header from its GA classes (EVENTS.md
                # §1.3): a first update in GA shape means a GA client.
                if isinstance(session, dict) and ("type" in session or "audio" in session):
                    self.active = False
                    return None
            if not isinstance(session, dict):
                return None
            ga, temp = beta_client.realtime_session(session)
            self._session_temp = None if temp is None else (event_id, temp)
            return {**event, "session": ga}
        if kind == "transcription_session.update":
            session = event.get("session")
            if not isinstance(session, dict):
                return {**event, "type": "session.update"}
            return {**event, "type": "session.update",
                    "session": beta_client.transcription_session(session)}
        if kind == "conversation.item.create":
            return {**event, "item": beta_client.item(event.get("item"))}
        # response.create
        params = event.get("response")
        if not isinstance(params, dict):
            return None
        ga, temp = beta_client.response_params(params)
        self._response_temp = None if temp is None else (event_id, temp)
        return {**event, "response": ga}

    # --- core → client ----------------------------------------------------------------------

    def to_client(self, frame: bytes) -> bytes | None:
        """The beta frame for a GA one, or None where beta has no such event."""
        if not self.active:
            return frame
        if frame.startswith(_TYPE_PREFIX):
            end = frame.find(b'"', len(_TYPE_PREFIX))
            kind = frame[len(_TYPE_PREFIX):end]
            if kind in _UNCHANGED:
                return frame
            renamed = _RENAMED.get(kind)
            if renamed is not None:
                ga, beta = renamed
                return beta + frame[len(ga):]
            if kind not in _FULL:
                return None  # GA-only: timeout_triggered, DTMF, segment, MCP
        out = self._translate(_decode(frame))
        return None if out is None else _encode(out)

    def _translate(self, event: Event) -> Event | None:
        kind = event.get("type")
        rewrite = beta_server.STATELESS.get(kind or "")
        if rewrite is not None:
            if kind == "error":
                self._drop_pending((event.get("error") or {}).get("event_id"))
            return rewrite(event)
        if kind in ("session.created", "session.updated"):
            session = event["session"]
            if session.get("type") == "transcription":
                return {**event, "type": "transcription_session." + kind.split(".")[1],
                        "session": beta_server.transcription_session(session)}
            if kind == "session.updated" and self._session_temp is not None:
                self.temperature = self._session_temp[1]
                self._session_temp = None
            return {**event, "session": beta_server.realtime_session(session, self.temperature)}
        if kind in ("response.created", "response.done"):
            r = event["response"]
            rid = r.get("id")
            if kind == "response.created" and self._response_temp is not None:
                self._response_temps[rid] = self._response_temp[1]
                self._response_temp = None
            temp = (self._response_temps.pop(rid, self.temperature) if kind == "response.done"
                    else self._response_temps.get(rid, self.temperature))
            return {**event, "response": beta_server.response(r, temp)}
        if kind in beta_server.UNCHANGED:
            return event
        return None

    def _drop_pending(self, event_id: object) -> None:
        if self._session_temp is not None and self._session_temp[0] == event_id:
            self._session_temp = None
        if self._response_temp is not None and self._response_temp[0] == event_id:
            self._response_temp = None

    def wrap(self, send: Send) -> Send:
        """``send`` for the driver: frames go out in their beta form."""
        async def send_beta(frame: bytes) -> None:
            out = self.to_client(frame)
            if out is not None:
                await send(out)
        return send_beta
