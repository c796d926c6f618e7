"""The WebSocket endpoint ``/v1/realtime`` (aiohttp): auth, subprotocol, frames <-> driver."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import WSMsgType, web

from ..protocol.beta import BetaDialect, is_beta
from ..protocol.errors import INVALID_EVENT, ClientError
from ..runtime.driver import Engines, SessionDriver
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


def realtime_handler(
    engines: Engines,
    api_key: str | None,
    *,
    caps: Capabilities | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.time,
    admission: Admission | None = None,
    keys: KeySigner | None = None,
) -> Callable[[web.Request], asyncio.Future[web.StreamResponse]]:
    """``admission`` counts the sessions open at once (past its limit a handshake gets 503).
    ``keys`` checks ephemeral ``ek_`` keys; their pinned configuration starts the session."""
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
        if admission.full():
            return admission.refusal()
        admission.enter()
        try:
            return await serve(request, claims)
        finally:
            admission.leave()

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
