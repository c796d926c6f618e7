"""WebRTC calls: ``POST /v1/realtime/calls`` (GA) answers an SDP offer (EVENTS.md §1.6), and
so does ``POST /v1/realtime?model=…`` (beta's WebRTC, whose data channel speaks beta).

Each call is one session on the same core as the WebSocket: its events travel as JSON text on
the ``oai-events`` data channel, and its audio as Opus RTP. The client's audio becomes input
appends; the session's audio goes to a paced speaker track instead of out as deltas, so the
server knows what was heard (``output_audio_buffer.*``, truncation on interruption).

A server may join a call with a WebSocket (``/v1/realtime?call_id=``, the "sideband"): it
gets the call's events from then on and its client events go into the same session.

aiortc comes with the optional ``webrtc`` extra and is imported when the first call arrives.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import BodyPartReader, web

from ..audio.convert import Converter
from ..audio.spec import PCM24K
from ..engines.loading import EngineLoadError, require
from ..protocol import client_events as ce
from ..protocol.beta import BetaDialect
from ..protocol.codec import decode_client_event
from ..protocol.errors import INVALID_EVENT, ClientError
from ..protocol.session_types import SessionConfig, TranscriptionSession
from ..runtime.driver import Engines, Send, SessionDriver
from ..session.config import Capabilities
from ..session.core import Session
from ..session.effects import Effect, PlayAudio, StopPlayback
from ..session.limits import Limits
from .admission import Admission
from .auth import admit, pinned_config
from .keys import InvalidKey, KeySigner
from .websocket import DEFAULT_MODEL, unauthorized

Hangup = Callable[[], Awaitable[object]]

if TYPE_CHECKING:
    from aiortc import RTCDataChannel, RTCPeerConnection

    from .webrtc_media import SpeakerTrack

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "oai-events"
MAX_OFFER = 64 * 1024


def bad_request(message: str, param: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": None,
                   "param": param}}, status=400)


@dataclass(frozen=True, slots=True)
class IceOptions:
    udp_ports: str | None = None
    """``LOW-HIGH``: bind media sockets only there (None: any port)."""
    public_ip: str | None = None
    """Announced beside the host addresses, for a server behind a 1:1 NAT."""


class _CallDriver(SessionDriver):
    """The session driver, with the server-playback effects sent to the call's speaker."""

    def __init__(self, session: Session, engines: Engines, send: Send,
                 clock: Callable[[], float], speaker: SpeakerTrack) -> None:
        super().__init__(session, engines, send, clock)
        self._speaker = speaker

    def _run(self, effect: Effect) -> None:
        if isinstance(effect, PlayAudio):
            self._speaker.play(effect.audio, effect.spec)
        elif isinstance(effect, StopPlayback):
            self._speaker.clear()
        else:
            super()._run(effect)


class Call:
    """One call: its peer connection, session driver, speaker track and event channel, and
    the sideband sockets attached to it (``websocket.LiveCall``)."""

    def __init__(self, call_id: str, pc: RTCPeerConnection, session: Session, engines: Engines,
                 clock: Callable[[], float], limits: Limits,
                 on_end: Callable[[Call], None], dialect: BetaDialect | None = None) -> None:
        from .webrtc_media import SpeakerTrack

        self.id = call_id
        self.pc = pc
        self.session = session
        self.speaker = SpeakerTrack()
        self.driver = _CallDriver(session, engines, self._send, clock, self.speaker)
        self._clock = clock
        self._on_end = on_end
        self._dialect = dialect  # the data channel's; a sideband brings its own
        self._channel: RTCDataChannel | None = None
        # Events made before the client opened the channel; None: the offer has no channel
        # (an audio-only call, driven by a sideband).
        self._unsent: list[str] | None = []
        self._inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        # One client frame at a time, from the channel or a sideband, in the order they came
        # (the lock is FIFO); a sideband waiting here is its backpressure.
        self._turn = asyncio.Lock()
        self._sidebands: dict[Send, Hangup] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._to_mic: Converter | None = None
        self._expiry = asyncio.get_running_loop().call_later(
            limits.max_session_s, lambda: self._spawn(self._expire))
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        self._spawn(self._serve)

    # --- events -----------------------------------------------------------------------------

    async def _send(self, frame: bytes) -> None:
        for send in list(self._sidebands):
            try:
                await send(frame)
            except ConnectionError:  # that socket is closing; the call goes on without it
                self._sidebands.pop(send, None)
        if self._dialect is not None:
            beta = self._dialect.to_client(frame)
            if beta is None:
                return
            frame = beta
        channel = self._channel
        if channel is None:
            if self._unsent is not None:
                self._unsent.append(frame.decode())
        elif channel.readyState == "open":
            channel.send(frame.decode())
        else:
            raise ConnectionResetError("the oai-events data channel is closed")

    def without_channel(self) -> None:
        """The offer has no data channel: the call's events go to its sidebands only."""
        self._unsent = None

    def attach(self, send: Send, hangup: Hangup) -> Callable[[], None]:
        if self._closed:
            raise ConnectionResetError("the call has ended")
        self._sidebands[send] = hangup

        def detach() -> None:
            self._sidebands.pop(send, None)
        return detach

    async def receive(self, data: str | bytes, dialect: BetaDialect | None) -> None:
        async with self._turn:
            if self._closed:
                raise ConnectionResetError("the call has ended")
            await self._take(data, dialect)

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self._channel is not None:
            return
        self._channel = channel
        for text in self._unsent or ():
            channel.send(text)
        self._unsent = []
        channel.on("message", self._inbox.put_nowait)

    async def _serve(self) -> None:
        await self.driver.flush()  # ``session.created``: held until the channel opens
        while True:
            data = await self._inbox.get()
            async with self._turn:
                await self._take(data, self._dialect)

    async def _take(self, data: str | bytes, dialect: BetaDialect | None) -> None:
        if isinstance(data, bytes):
            self.session.receive_client_error(ClientError(
                "Binary messages are not supported; send JSON text.", code=INVALID_EVENT))
            await self.driver.flush()
            return
        if dialect is not None:
            try:
                data = dialect.from_client(data)
            except ClientError as err:
                self.session.receive_client_error(err)
                await self.driver.flush()
                return
        await self.driver.receive_frame(data)

    # --- audio ------------------------------------------------------------------------------

    def _on_track(self, track: Any) -> None:
        from .webrtc_media import listen

        if track.kind == "audio":
            self._spawn(lambda: listen(track, self._hear))

    async def _hear(self, pcm: bytes) -> None:
        """Client audio (24 kHz PCM16) becomes appends, in the session's input format."""
        spec = self.session.input.buffer.spec
        if spec != PCM24K:
            if self._to_mic is None or self._to_mic.dst != spec:
                self._to_mic = Converter(PCM24K, spec, quality="QQ")
            pcm = self._to_mic.convert(pcm)
        event = ce.InputAudioBufferAppendEvent(audio=base64.b64encode(pcm).decode("ascii"))
        self.session.receive_client_event(event, self._clock())
        await self.driver.flush()

    # --- lifetime ---------------------------------------------------------------------------

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._spawn(self.close)

    async def _expire(self) -> None:
        self.driver.expire()
        await self.driver.flush()
        await self.close()

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        # The coroutine is made inside the task: a task cancelled before it starts leaves no
        # never-awaited coroutine behind.
        task = asyncio.ensure_future(self._quietly(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except ConnectionError:
            pass  # the client is gone; the connection state ends the call
        except Exception:  # our bug: log it and end this call, keep the server up
            log.exception("call %s crashed", self.id)
            self._spawn(self.close)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._expiry.cancel()
        self._on_end(self)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.driver.aclose()
        self.speaker.stop()
        hangups = list(self._sidebands.values())
        self._sidebands.clear()
        await asyncio.gather(*(hangup() for hangup in hangups), return_exceptions=True)
        await self.pc.close()


class WebRTCCalls:
    """The ``/v1/realtime/calls`` endpoints and the calls they opened."""

    def __init__(
        self,
        engines: Engines,
        api_key: str | None,
        *,
        keys: KeySigner | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        admission: Admission | None = None,
        ice: IceOptions | None = None,
    ) -> None:
        self._engines = engines
        self._api_key = api_key
        self._keys = keys
        self._limits = limits or Limits()
        self._clock = clock
        self._admission = admission or Admission()
        self._ice = ice or IceOptions()
        self._caps = Capabilities(audio_output=engines.tts is not None, server_playback=True)
        self.calls: dict[str, Call] = {}

    async def create(self, request: web.Request) -> web.Response:
        """``POST /v1/realtime/calls``: a GA call. An ``OpenAI-Beta`` header is not looked
        at: this endpoint only ever spoke GA (beta's WebRTC was ``POST /v1/realtime``)."""
        return await self._create(request, beta=False)

    async def create_beta(self, request: web.Request) -> web.Response:
        """``POST /v1/realtime?model=…``: beta's WebRTC, raw SDP; the data channel speaks beta
        whether or not the request carried the beta header (browsers' SDP posts did not)."""
        return await self._create(request, beta=True)

    def find(self, call_id: str) -> Call | None:
        """The live call with this id (for a sideband to join)."""
        return self.calls.get(call_id)

    async def _create(self, request: web.Request, *, beta: bool) -> web.Response:
        try:
            require("aiortc", engine="WebRTC", extra="webrtc")
        except EngineLoadError as err:
            return web.json_response({"error": {
                "message": str(err), "type": "server_error", "code": "webrtc_unavailable",
                "param": None}}, status=501)
        try:
            claims = admit(request.headers, self._api_key, self._keys, self._clock())
            pinned = pinned_config(claims)
        except InvalidKey as err:
            return unauthorized(str(err))
        if self._admission.full():
            return self._admission.refusal()
        try:
            offer, config = await _read_offer(request)
            if pinned is None:
                pinned, config = config, None
            # GA takes the model from the session configuration; beta (and GA's first
            # examples) put it in the query.
            model = request.query.get("model") or DEFAULT_MODEL
            session = Session(model=model, now=self._clock(), caps=self._caps,
                              limits=self._limits, pinned=pinned, session_type=(
                                  "transcription" if isinstance(pinned, TranscriptionSession)
                                  else "realtime"))
            if config is not None:  # beside a key's pinned configuration: an update to it
                session.receive_client_event(ce.SessionUpdateEvent(session=config),
                                             self._clock())
        except (ClientError, InvalidKey) as err:
            return bad_request(str(err), getattr(err, "param", None))
        return await self._answer(offer, session, BetaDialect() if beta else None)

    async def _answer(self, offer: str, session: Session,
                      dialect: BetaDialect | None) -> web.Response:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from .webrtc_ice import announce_public_ip, parse_ports, restrict_ports

        # No STUN/TURN servers: aiortc's default (Google's STUN) is unreachable offline and
        # would hold every answer for its timeout.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        # Before the offer is applied: that is when aiortc announces the client's track.
        call = Call(session.ids.new("rtc"), pc, session, self._engines, self._clock,
                    self._limits, self._forget, dialect)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            if not pc.getTransceivers() and pc.sctp is None:
                raise ValueError("it offers neither audio nor a data channel")
            if pc.sctp is None:
                call.without_channel()
            if self._ice.udp_ports is not None:
                restrict_ports(pc, parse_ports(self._ice.udp_ports))
            if any(t.kind == "audio" for t in pc.getTransceivers()):
                pc.addTrack(call.speaker)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as err:  # aiortc reports a bad offer as assorted errors
            await call.close()
            return bad_request(f"Invalid SDP offer: {err}", "sdp")
        self.calls[call.id] = call
        self._admission.enter()
        sdp = pc.localDescription.sdp
        if self._ice.public_ip is not None:
            sdp = announce_public_ip(sdp, self._ice.public_ip)
        return web.Response(status=201, text=sdp, content_type="application/sdp",
                            headers={"Location": f"/v1/realtime/calls/{call.id}"})

    def _forget(self, call: Call) -> None:
        if self.calls.pop(call.id, None) is not None:
            self._admission.leave()

    async def hangup(self, request: web.Request) -> web.Response:
        try:
            admit(request.headers, self._api_key, self._keys, self._clock())
        except InvalidKey as err:
            return unauthorized(str(err))
        call = self.calls.get(request.match_info["call_id"])
        if call is None:
            return web.json_response({"error": {
                "message": "Call not found.", "type": "invalid_request_error",
                "code": "not_found", "param": "call_id"}}, status=404)
        await call.close()
        return web.Response(status=200)

    async def aclose(self) -> None:
        await asyncio.gather(*(c.close() for c in list(self.calls.values())))


async def _read_offer(request: web.Request) -> tuple[str, SessionConfig | None]:
    """The SDP offer and the session configuration, from a raw SDP body or multipart
    ``sdp`` + ``session`` parts (EVENTS.md §1.6)."""
    if request.content_type != "multipart/form-data":
        return _check_sdp(await request.text()), None
    parts: dict[str, str] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.name in ("sdp", "session"):
            parts[part.name] = (await part.read(decode=True)).decode()
    if "sdp" not in parts:
        raise ClientError("Missing required parameter: 'sdp'.", param="sdp")
    config = None
    if "session" in parts:
        try:
            raw = msgspec.json.decode(parts["session"])
        except msgspec.DecodeError:
            raise ClientError("Invalid 'session': not valid JSON.", param="session") from None
        event = decode_client_event(msgspec.json.encode({"type": "session.update",
                                                          "session": raw}))
        assert isinstance(event, ce.SessionUpdateEvent)
        config = event.session
    return _check_sdp(parts["sdp"]), config


def _check_sdp(sdp: str) -> str:
    if not sdp.lstrip().startswith("v=") or len(sdp) > MAX_OFFER:
        raise ClientError("The body must be an SDP offer (Content-Type: application/sdp).",
                          param="sdp")
    return sdp
