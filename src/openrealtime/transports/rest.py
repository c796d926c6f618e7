"""REST endpoints that mint ephemeral ``ek_`` keys (EVENTS.md §2).

* GA ``POST /v1/realtime/client_secrets`` -> ``{value, expires_at, session}``
* beta ``POST /v1/realtime/sessions`` -> beta session object + ``client_secret``
* beta ``POST /v1/realtime/transcription_sessions`` -> beta transcription session +
  ``client_secret``

The configuration in a request is checked by the same code as a ``session.update`` on the
socket (the codec, then the session core), so a bad one fails here with the same code and
message, as HTTP 400. The effective session in the answer is the one a connection with the
key starts with. Minting takes the server's API key: an ephemeral key cannot mint another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from ..protocol import beta_client, beta_server
from ..protocol.client_events import SessionUpdateEvent
from ..protocol.codec import decode_client_event
from ..protocol.errors import INVALID_JSON, UNKNOWN_PARAMETER, ClientError
from ..protocol.session_types import SessionConfig, TranscriptionSession
from ..session.config import Capabilities
from ..session.core import Session
from ..session.limits import Limits
from .auth import authorized
from .keys import (
    DEFAULT_TTL_S,
    MAX_KEY_CHARS,
    MAX_TTL_S,
    MIN_TTL_S,
    KeyClaims,
    KeySigner,
    SessionType,
)
from .websocket import DEFAULT_MODEL  # when neither the request nor a key names one

Json = dict[str, Any]


def error_response(err: ClientError, status: int) -> web.Response:
    return web.json_response({"error": {"message": err.message, "type": err.type,
                                        "code": err.code, "param": err.param}}, status=status)


def _unknown(param: str) -> ClientError:
    return ClientError(f"Unknown parameter: '{param}'.", code=UNKNOWN_PARAMETER, param=param)


def _check_keys(body: Json, allowed: set[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise _unknown(prefix + key)


def _object(value: Any, param: str) -> Json:
    if not isinstance(value, dict):
        raise ClientError(f"Invalid type for '{param}': expected an object.",
                          code="invalid_type", param=param)
    return value


def ttl_of(raw: Any, param: str) -> int:
    """Seconds until expiry from ``{anchor: "created_at", seconds}``: 10-7200, default 600."""
    if raw is None:
        return DEFAULT_TTL_S
    spec = _object(raw, param)
    _check_keys(spec, {"anchor", "seconds"}, f"{param}.")
    if spec.get("anchor", "created_at") != "created_at":
        raise ClientError("Only 'created_at' is supported as the anchor.",
                          param=f"{param}.anchor")
    seconds = spec.get("seconds", DEFAULT_TTL_S)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (
            MIN_TTL_S <= seconds <= MAX_TTL_S):
        raise ClientError(f"'{param}.seconds' must be an integer between {MIN_TTL_S} and "
                          f"{MAX_TTL_S}.", param=f"{param}.seconds")
    return seconds


def decode_session(raw: Any) -> SessionConfig:
    """A GA session configuration, checked as the ``session`` of a ``session.update``."""
    event = decode_client_event(msgspec.json.encode({"type": "session.update", "session": raw}))
    assert isinstance(event, SessionUpdateEvent)
    return event.session


# --- beta (EVENTS.md §3.4): the beta dialect's session translations, both ways ---------------


def _beta_error(err: ClientError) -> ClientError:
    """GA paths put back to the beta field names; the body *is* the session here."""
    fixed = beta_server.error({"error": {"param": err.param, "message": err.message}})["error"]
    param, message = fixed["param"], fixed["message"]
    if isinstance(param, str) and param.startswith("session."):
        message = message.replace(f"'{param}'", f"'{param[len('session.'):]}'")
        param = param[len("session."):]
    err.param, err.message = param, message
    return err


def _beta_client_secret(body: Json) -> int:
    # openai-python types sessions with ``expires_after`` and transcription_sessions with
    # ``expires_at``; both name the same {anchor, seconds}.
    raw = body.get("client_secret")
    if raw is None:
        return DEFAULT_TTL_S
    secret = _object(raw, "client_secret")
    _check_keys(secret, {"expires_after", "expires_at"}, "client_secret.")
    name = "expires_after" if "expires_after" in secret else "expires_at"
    return ttl_of(secret.get(name), f"client_secret.{name}")


# --- the handlers ----------------------------------------------------------------------------


class KeyMinter:
    """Mints keys for the sessions this server would open (same capabilities and limits)."""

    def __init__(
        self,
        keys: KeySigner,
        api_key: str | None,
        *,
        caps: Capabilities,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys, self.api_key, self.caps = keys, api_key, caps
        self.limits = limits or Limits()
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/realtime/client_secrets", self.client_secrets),
                web.post("/v1/realtime/sessions", self.beta_sessions),
                web.post("/v1/realtime/transcription_sessions", self.beta_transcription_sessions)]

    def mint(self, pinned: SessionConfig | None, ttl: int) -> tuple[str, int, Session]:
        """The key, its expiry, and the session it opens (``ClientError`` if it can't)."""
        now = self.clock()
        session_type: SessionType = (
            "transcription" if isinstance(pinned, TranscriptionSession) else "realtime")
        session = Session(model=DEFAULT_MODEL, now=now, caps=self.caps, limits=self.limits,
                          session_type=session_type, pinned=pinned)
        expires_at = int(now) + ttl
        key = self.keys.mint(KeyClaims(
            exp=expires_at, type=session_type,
            session=None if pinned is None else msgspec.to_builtins(pinned)))
        if len(key) > MAX_KEY_CHARS:
            raise ClientError(
                f"The session configuration is too large to carry in an ephemeral key "
                f"({len(key)} characters, at most {MAX_KEY_CHARS}); send the rest with "
                "session.update after connecting.", param="session")
        return key, expires_at, session

    async def _body(self, request: web.Request) -> Json:
        text = await request.text()
        if not text.strip():
            return {}
        try:
            body = msgspec.json.decode(text)
        except msgspec.DecodeError:
            raise ClientError("The request body is not valid JSON.", code=INVALID_JSON) from None
        return _object(body, "body")

    async def _answer(self, request: web.Request,
                      build: Callable[[Json], Json]) -> web.Response:
        if not authorized(request.headers, self.api_key):
            return error_response(ClientError(
                "Incorrect API key provided.", code="invalid_api_key"), 401)
        try:
            return web.json_response(build(await self._body(request)))
        except ClientError as err:
            return error_response(err, 400)

    async def client_secrets(self, request: web.Request) -> web.Response:
        def build(body: Json) -> Json:
            _check_keys(body, {"session", "expires_after"})
            ttl = ttl_of(body.get("expires_after"), "expires_after")
            raw = body.get("session")
            key, expires_at, session = self.mint(
                None if raw is None else decode_session(raw), ttl)
            return {"value": key, "expires_at": expires_at,
                    "session": msgspec.to_builtins(session.config)}
        return await self._answer(request, build)

    async def beta_sessions(self, request: web.Request) -> web.Response:
        def build(body: Json) -> Json:
            ttl = _beta_client_secret(body)
            try:
                ga, temperature = beta_client.realtime_session(body)
                key, expires_at, session = self.mint(decode_session(ga), ttl)
            except ClientError as err:
                raise _beta_error(err) from None
            shown = beta_server.realtime_session(
                msgspec.to_builtins(session.config),
                beta_server.DEFAULT_TEMPERATURE if temperature is None else temperature)
            return {**shown, "client_secret": {"value": key, "expires_at": expires_at}}
        return await self._answer(request, build)

    async def beta_transcription_sessions(self, request: web.Request) -> web.Response:
        def build(body: Json) -> Json:
            ttl = _beta_client_secret(body)
            try:
                ga = beta_client.transcription_session(body)
                key, expires_at, session = self.mint(decode_session(ga), ttl)
            except ClientError as err:
                raise _beta_error(err) from None
            shown = beta_server.transcription_session(msgspec.to_builtins(session.config))
            return {**shown, "client_secret": {"value": key, "expires_at": expires_at}}
        return await self._answer(request, build)
