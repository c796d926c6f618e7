"""The WebSocket endpoint ``/v1/realtime`` (aiohttp): auth, subprotocol, frames <-> driver."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import WSMsgType, web

from ..protocol.beta import BetaDialect, is_beta
from ..protocol.errors import INVALID_EVENT, ClientError
from ..runtime.driver import Engines, Send, SessionDriver
from ..session.config import Capabilities
from ..session.core import Session
from ..session.limits import Limits
from .admission import Admission
from .auth import admit, pinned_config
from .keys import InvalidKey, KeyClaims, KeySigner

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-realtime"
# Incoming frames may carry 15 MiB of audio as base64 plus the JSON around it.
MAX_INCOMING = 21 * 1024 * 1024


def unauthorized(message: str = "Incorrect API key provided.") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error",
                   "code": "invalid_api_key", "param": None}},
        status=401)


def call_not_found() -> web.Response:
    # OpenAI's answer to an unknown ``call_id``, as reported (param included).
    return web.json_response(
        {"error": {"message": "No session found for the provided call_id",
                   "type": "invalid_request_error", "code": "call_id_not_found", "param": ""}},
        status=404)


class LiveCall(Protocol):
    """A running call (WebRTC) that a WebSocket can join as its sideband (``?call_id=``).
    Defined here, met by ``webrtc.Call``, so that this module needs no WebRTC import."""

    def attach(self, send: Send, hangup: Callable[[], Awaitable[object]]) -> Callable[[], None]:
        """From now on ``send`` gets every event of the call (GA frames); ``hangup`` closes
        the socket when the call ends. Returns the detach. ``ConnectionResetError``: ended."""
        ...

    async def receive(self, data: str | bytes, dialect: BetaDialect | None) -> None:
        """A frame from the socket, into the call's session in turn with the call's own.
        ``ConnectionResetError`` once the call has ended."""
        ...


def realtime_handler(
    engines: Engines,
    api_key: str | None,
    *,
    caps: Capabilities | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.time,
    admission: Admission | None = None,
    keys: KeySigner | None = None,
    calls: Callable[[str], LiveCall | None] | None = None,
) -> Callable[[web.Request], asyncio.Future[web.StreamResponse]]:
    """``admission`` counts the sessions open at once (past its limit a handshake gets 503).
    ``keys`` checks ephemeral ``ek_`` keys; their pinned configuration starts the session.
    ``calls`` finds the live call a ``?call_id=`` sideband joins."""
    limits = limits or Limits()
    caps = caps or Capabilities(audio_output=engines.tts is not None)
    admission = admission or Admission()

    async def handle(request: web.Request) -> web.StreamResponse:
        wanted = "transcription" if request.query.get("intent") == "transcription" else "realtime"
        try:
            claims = admit(request.headers, api_key, keys, clock())
            if claims is not None and claims.type != wanted:
                raise InvalidKey(f"This ephemeral key was created for a {claims.type} session "
                                 f"and cannot open a {wanted} session.")
        except InvalidKey as err:
            return unauthorized(str(err))
        call_id = request.query.get("call_id")
        if call_id is not None:  # joins a session already counted: no admission
            return await sideband(request, call_id, claims)
        if admission.full():
            return admission.refusal()
        admission.enter()
        try:
            return await serve(request, claims)
        finally:
            admission.leave()

    async def sideband(request: web.Request, call_id: str,
                       claims: KeyClaims | None) -> web.StreamResponse:
        """Server-side control of a call: its events out, client events in (GA unless the
        handshake asks for beta). The socket closing leaves the call; the call ending closes
        the socket with 1000. Nothing is replayed: ``session.created`` went to the caller."""
        if claims is not None:
            return unauthorized("A call's sideband needs the server's API key; ephemeral keys "
                                "cannot join calls.")
        call = calls(call_id) if calls is not None else None
        if call is None:
            return call_not_found()
        ws = web.WebSocketResponse(protocols=("realtime",), max_msg_size=MAX_INCOMING,
                                   autoping=True, compress=False)
        await ws.prepare(request)

        async def send(frame: bytes) -> None:
            await ws.send_frame(frame, WSMsgType.TEXT)

        dialect = BetaDialect() if is_beta(request.headers) else None
        try:
            detach = call.attach(send if dialect is None else dialect.wrap(send),
                                 lambda: ws.close(code=1000, message=b"call ended"))
        except ConnectionResetError:  # it ended during the handshake
            await ws.close(code=1000, message=b"call ended")
            return ws
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await call.receive(msg.data, dialect)
        except ConnectionResetError:
            pass
        except Exception:  # our bug: log it, close this socket, leave the call running
            log.exception("sideband of call %s crashed", call_id)
            await ws.close(code=1011, message=b"internal error")
        finally:
            detach()
        return ws

    async def serve(request: web.Request, claims: KeyClaims | None) -> web.StreamResponse:
        model = request.query.get("model") or DEFAULT_MODEL
        # OpenAI refuses a model beside the intent; we ignore it, so that beta SDKs (which
        # always send one) can open transcription sessions too.
        transcription = request.query.get("intent") == "transcription"
        try:  # before the upgrade, so that a key this server cannot honour gets an answer
            session = Session(model=model, now=clock(), caps=caps, limits=limits,
                              session_type="transcription" if transcription else "realtime",
                              pinned=pinned_config(claims))
        except (ClientError, InvalidKey) as err:
            return unauthorized(str(err))
        # Browsers abort the handshake unless the server picks ``realtime`` from their offer.
        ws = web.WebSocketResponse(protocols=("realtime",), max_msg_size=MAX_INCOMING,
                                   autoping=True, compress=False)
        await ws.prepare(request)

        async def send(frame: bytes) -> None:
            await ws.send_frame(frame, WSMsgType.TEXT)

        # A beta client gets a translator at the edge; a GA one keeps the bare ``send``.
        dialect = BetaDialect() if is_beta(request.headers) else None
        driver = SessionDriver(session, engines,
                               send if dialect is None else dialect.wrap(send), clock)

        async def expire() -> None:
            driver.expire()
            await driver.flush()
            await ws.close(code=1001, message=b"session expired")

        expiry = asyncio.get_running_loop().call_later(
            limits.max_session_s, lambda: asyncio.ensure_future(expire()))
        try:
            await driver.flush()
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = msg.data
                    if dialect is not None:
                        try:
                            data = dialect.from_client(data)
                        except ClientError as err:
                            session.receive_client_error(err)
                            await driver.flush()
                            continue
                    await driver.receive_frame(data)
                elif msg.type == WSMsgType.BINARY:
                    session.receive_client_error(ClientError(
                        "Binary frames are not supported; send JSON text frames.",
                        code=INVALID_EVENT))
                    await driver.flush()
        except ConnectionResetError:
            pass
        except Exception:  # our bug: log it, close this session cleanly, keep the server up
            log.exception("session %s crashed", session.config.id)
            await ws.close(code=1011, message=b"internal error")
        finally:
            expiry.cancel()
            await driver.aclose()
        return ws

    return handle  # type: ignore[return-value]
