"""One conversation with a Realtime server: connect, configure, send the input, and follow the
server's events until the input has been answered.

Turns. With server VAD (the default at real-time pace, and always for the microphone) the
server decides where a turn ends; a file is followed by a second of silence so that its last
turn ends too. If the VAD heard no speech at all by the time the file would have finished
playing (plus a grace period), the audio is committed by hand as one turn. With ``--fast``
the audio comes in a burst, and a VAD that times itself by the clock (OpenAI's may) cannot be
trusted with that; so ``--fast`` turns VAD off and sends the file as one manual turn: append,
``input_audio_buffer.commit``, ``response.create``. That behaves the same on every server.

When it is over. Turns on their way are counted: one from ``speech_started`` (or from the
client's own ``response.create``) to ``response.created``, one for each response from
``response.created`` to ``response.done``. A file or a typed message is answered when all of
it was sent, the user is not speaking, nothing is on its way, and a response has finished.
The microphone goes on until Ctrl+C or ``responses`` responses. The user's transcripts run
beside the responses and may come after them, so an answered session still waits a little
for the transcripts of its committed turns.

Errors. The server's ``error`` events are shown and the session goes on, as the protocol
means, except when the error names one of the events the turn needs (``session.update``,
``commit``, ``response.create``, ``conversation.item.create``: each carries an ``event_id``
that the error echoes) or is one that ends any session (a bad key, an expired session). A
response that ends ``failed`` ends the session too. Each becomes one ``TalkError`` line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from ..audio.spec import PCM24K
from .mic import Microphone
from .reply import ReplyWriter
from .source import SourceError, WavFile, paced, silence
from .status import Printer, status_text

Event = dict[str, Any]

MAX_FRAME = 32 * 1024 * 1024  # conversation.item.retrieved may carry a long audio item
CLOSE_WAIT_S = 5.0
# Transcription runs beside the response and may end after it: wait this long for it.
TRANSCRIPT_WAIT_S = 5.0
FATAL_CODES = frozenset({"invalid_api_key", "insufficient_quota", "session_expired"})


class TalkError(Exception):
    """The session cannot go on; the message is one line for the user."""


@dataclass(frozen=True)
class Options:
    url: str
    input: WavFile | Microphone | str  # a typed message is a str
    out: Path
    api_key: str | None = None
    voice: str | None = None
    instructions: str | None = None
    transcribe_model: str | None = "whisper-1"
    vad: bool = True
    realtime: bool = True
    events: bool = False
    timeout: float = 60.0
    responses: int = 0  # stop after this many; 0: when the input is answered (or Ctrl+C)
    tail_ms: int = 1000  # silence after a file, for server VAD to end its last turn
    grace_s: float = 2.0  # how long after the audio's end the VAD may take to hear speech
    chunk_ms: int = 50


class Talk:
    """Runs one session with ``options``, reporting through ``printer``."""

    def __init__(self, options: Options, printer: Printer) -> None:
        self.o = options
        self.printer = printer
        self.reply = ReplyWriter(options.out)
        self.sent_bytes = 0
        self.responses = 0  # finished
        self.session_id = ""
        self.configured = False
        self._ids = itertools.count(1)
        self._critical: dict[str, str] = {}  # event_id -> the event's type
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._done: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._speech_heard = asyncio.Event()
        self._input_done = False
        self._speaking = False
        self._pending = 0  # turns taken that have no response yet
        self._active = 0  # responses created and not done
        self._transcribing: set[str] = set()  # committed items whose transcript is to come
        self._connected = False
        self._shown_state = ""

    # --- the session ---------------------------------------------------------------------

    async def run(self) -> None:
        """Talk until the input is answered; raises ``TalkError``. Cancel it to stop early."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.printer.status_line = self._status_text
        try:
            async with aiohttp.ClientSession(trust_env=True) as http:
                self._ws = await self._connect(http)
                try:
                    await self._start()
                    await self._converse()
                finally:
                    await self._ws.close()
        finally:
            self._disarm()
            self.reply.close()
            if isinstance(self.o.input, WavFile):
                self.o.input.close()
            self.printer.close()

    async def _connect(self, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        url = URL(self.o.url)
        headers = {"Authorization": f"Bearer {self.o.api_key}"} if self.o.api_key else {}
        self._status(force=True)
        try:
            async with asyncio.timeout(self.o.timeout):
                return await http.ws_connect(
                    url, headers=headers, max_msg_size=MAX_FRAME,
                    timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_WAIT_S))
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403):
                raise TalkError(f"authentication failed (HTTP {err.status}): {url.host} refused "
                                "the API key; pass the right one with --api-key") from None
            raise TalkError(f"{url.with_query(None)} did not take a WebSocket connection "
                            f"(HTTP {err.status}); is it a Realtime endpoint, such as "
                            "ws://HOST:PORT/v1/realtime?") from None
        except aiohttp.ClientConnectorError as err:
            reason = err.os_error.strerror or str(err.os_error)
            raise TalkError(f"cannot connect to {err.host}:{err.port}: {reason}") from None
        except TimeoutError:
            raise TalkError(f"no answer from {url.host}:{url.port} within "
                            f"{self.o.timeout:g} s") from None
        except aiohttp.ClientError as err:
            raise TalkError(f"cannot connect to {url.with_query(None)}: {err}") from None

    async def _start(self) -> None:
        """Read up to ``session.created``, then configure and read up to ``session.updated``."""
        try:
            async with asyncio.timeout(self.o.timeout):
                while not self.session_id:
                    self._handle(await self._next_event())
                await self._send(self._session_update(), critical=True)
                while not self.configured:
                    self._handle(await self._next_event())
        except TimeoutError:
            what = "session.updated" if self.session_id else "session.created"
            raise TalkError(f"no {what} from the server within {self.o.timeout:g} s") from None

    async def _converse(self) -> None:
        assert self._done is not None
        tasks = [asyncio.create_task(self._send_input()), asyncio.create_task(self._receive())]
        for task in tasks:
            task.add_done_callback(self._task_ended)
        self._connected = True
        self._changed()
        try:
            await self._done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if (err := task.exception()) is not None:
            self._fail(err)

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _fail(self, err: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(err)

    # --- sending -------------------------------------------------------------------------

    async def _send(self, event: Event, *, critical: bool = False) -> None:
        assert self._ws is not None
        event_id = f"talk_{next(self._ids)}"
        if critical:
            self._critical[event_id] = event["type"]
        try:
            await self._ws.send_str(json.dumps({"event_id": event_id, **event}))
        except (ConnectionError, aiohttp.ClientError) as err:
            raise TalkError(f"the connection to the server was lost: {err}") from None

    def _session_update(self) -> Event:
        o = self.o
        pcm = {"type": "audio/pcm", "rate": 24000}
        audio_in: Event = {"format": pcm}
        if not isinstance(o.input, str):
            audio_in["transcription"] = (
                {"model": o.transcribe_model} if o.transcribe_model else None)
        # Server VAD only where it is used; a typed message or a manual turn needs none.
        audio_in["turn_detection"] = (
            {"type": "server_vad", "silence_duration_ms": 500, "create_response": True,
             "interrupt_response": True}
            if o.vad and not isinstance(o.input, str) else None)
        audio_out: Event = {"format": pcm}
        if o.voice:
            audio_out["voice"] = o.voice
        session: Event = {"type": "realtime", "output_modalities": ["audio"],
                          "audio": {"input": audio_in, "output": audio_out}}
        if o.instructions is not None:
            session["instructions"] = o.instructions
        return {"type": "session.update", "session": session}

    async def _send_input(self) -> None:
        source = self.o.input
        if isinstance(source, str):
            await self._send({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": source}]}}, critical=True)
            self.printer.line(f"you: {source}")
            await self._respond()
        elif isinstance(source, Microphone):
            self.printer.line(f"listening on {source.name} ({source.rate} Hz); "
                              "Ctrl+C to stop")
            async for chunk in source.pcm():
                await self._append(chunk)
        else:
            await self._send_file(source)
        self._input_done = True
        self._changed()

    async def _send_file(self, source: WavFile) -> None:
        chunks = source.pcm()
        if self.o.vad:
            chunks = itertools.chain(chunks, silence(self.o.tail_ms, self.o.chunk_ms))
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async for chunk in paced(chunks, realtime=self.o.realtime):
                await self._append(chunk)
        except SourceError as err:
            raise TalkError(str(err)) from None
        self.printer.line(f"sent {self.sent_s:.2f} s of audio from {source.path}")
        if not self.o.vad:
            await self._commit()
            return
        # The VAD has until the audio would have finished playing, and a grace, to hear speech.
        try:
            async with asyncio.timeout_at(start + self.sent_s + self.o.grace_s):
                await self._speech_heard.wait()
        except TimeoutError:
            self.printer.line("the server's VAD heard no speech; sending the audio as one turn")
            await self._commit()

    async def _append(self, chunk: bytes) -> None:
        await self._send({"type": "input_audio_buffer.append",
                          "audio": base64.b64encode(chunk).decode()})
        self.sent_bytes += len(chunk)
        self._status()

    async def _commit(self) -> None:
        await self._send({"type": "input_audio_buffer.commit"}, critical=True)
        await self._respond()

    async def _respond(self) -> None:
        self._pending += 1  # before the send: its response.created may come at once
        await self._send({"type": "response.create"}, critical=True)

    @property
    def sent_s(self) -> float:
        return self.sent_bytes / PCM24K.bytes_per_second

    # --- receiving -----------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            self._handle(await self._next_event())
            self._changed()

    async def _next_event(self) -> Event:
        assert self._ws is not None
        while True:
            msg = await self._ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    event = None
                if isinstance(event, dict) and isinstance(event.get("type"), str):
                    return event
                self.printer.line(f"ignored a frame that is not an event: {msg.data[:60]!r}",
                                  cut=True)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                raise TalkError(f"the connection to the server failed: {msg.data}")
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.CLOSED):
                code = self._ws.close_code
                reason = f": {msg.extra}" if isinstance(msg.extra, str) and msg.extra else ""
                raise TalkError(f"the server closed the connection (code {code}){reason}")

    def _handle(self, event: Event) -> None:
        kind = event["type"]
        if self.o.events:
            self.printer.line(describe(event), cut=True)
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)

    def _changed(self) -> None:
        """After every event and every step of the input: finished yet, and the watchdog."""
        if self.o.responses:
            answered = self.responses >= self.o.responses
        else:
            answered = bool(self._input_done and not self._speaking and not self._pending
                            and not self._active and self.responses
                            and not isinstance(self.o.input, Microphone))
        if answered and not self._transcribing:
            self._finish()
        self._arm(answered)
        self._status()

    def _arm(self, answered: bool) -> None:
        """(Re)start the wait for what the server owes, if anything; each event restarts it.

        Once the input is answered only transcripts can be owed, and those are worth a
        short wait, not a failure: a server may have no transcription to give."""
        self._disarm()
        if self._done is None or self._done.done():
            return
        loop = asyncio.get_running_loop()
        if answered:
            self._timer = loop.call_later(min(TRANSCRIPT_WAIT_S, self.o.timeout), self._finish)
        elif (self._input_done or self._pending or self._active) and not self._speaking:
            self._timer = loop.call_later(self.o.timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._fail(TalkError(f"the server sent nothing for {self.o.timeout:g} s while a reply "
                             f"was due (--timeout)"))

    def _status(self, *, force: bool = False) -> None:
        """Redraw the status line: at once when its state changed, else now and then."""
        state = self._state()
        force = force or state != self._shown_state
        self._shown_state = state
        self.printer.refresh(force=force)

    def _status_text(self) -> str:
        return status_text(self._state(), self.sent_s, self.reply.seconds, self.responses)

    def _state(self) -> str:
        if not self._connected:
            return "connecting"
        if self._active:
            return "replying"
        if self._speaking:
            return "speech"
        if self._pending or self._input_done:
            return "done" if self._done is not None and self._done.done() else "waiting"
        return "listening" if isinstance(self.o.input, Microphone) else "sending"

    # --- event handlers ------------------------------------------------------------------

    def _on_session_created(self, event: Event) -> None:
        session = event.get("session") or {}
        self.session_id = str(session.get("id") or "?")
        self.printer.line(f"connected to {URL(self.o.url).host}: session {self.session_id}, "
                          f"model {session.get('model', '?')}")

    def _on_session_updated(self, event: Event) -> None:
        self.configured = True

    def _on_error(self, event: Event) -> None:
        error = event.get("error") or {}
        message = str(error.get("message") or error.get("code") or "unknown error")
        caused_by = self._critical.get(str(error.get("event_id")))
        if caused_by is not None:
            raise TalkError(f"the server refused {caused_by}: {message}")
        if error.get("code") in FATAL_CODES:
            raise TalkError(f"server error: {message}")
        self.printer.line(f"server error: {message}")

    def _on_speech_started(self, event: Event) -> None:
        self._speaking = True
        self._pending += 1
        self._speech_heard.set()
        self.printer.line(f"speech started at {_ms(event.get('audio_start_ms'))}")

    def _on_speech_stopped(self, event: Event) -> None:
        self._speaking = False
        self.printer.line(f"speech stopped at {_ms(event.get('audio_end_ms'))}")

    def _on_committed(self, event: Event) -> None:
        if self.o.transcribe_model and not isinstance(self.o.input, str):
            self._transcribing.add(str(event.get("item_id")))

    def _on_user_transcript(self, event: Event) -> None:
        self._transcribing.discard(str(event.get("item_id")))
        self.printer.line(f"you: {str(event.get('transcript', '')).strip()}")

    def _on_user_transcript_failed(self, event: Event) -> None:
        self._transcribing.discard(str(event.get("item_id")))
        error = event.get("error") or {}
        self.printer.line(f"transcription failed: {error.get('message') or error}")

    def _on_response_created(self, event: Event) -> None:
        self._pending = max(0, self._pending - 1)
        self._active += 1

    def _on_transcript_delta(self, event: Event) -> None:
        if not self.o.events:  # with --events each delta has a line of its own
            self.printer.stream(f"assistant:{event.get('item_id')}", "assistant: ",
                                str(event.get("delta", "")))

    def _on_transcript_done(self, event: Event) -> None:
        if self.o.events:
            text = event.get("transcript", event.get("text", ""))
            self.printer.line(f"assistant: {text}")
        else:
            self.printer.end_stream(f"assistant:{event.get('item_id')}")

    def _on_audio_delta(self, event: Event) -> None:
        try:
            pcm = base64.b64decode(str(event.get("delta", "")), validate=True)
        except binascii.Error:
            self.printer.line("ignored an audio delta that is not base64")
            return
        try:
            self.reply.write(pcm)
        except OSError as err:
            raise TalkError(f"cannot write the reply audio to {self.o.out}: "
                            f"{err.strerror or err}") from None
        self._status()

    def _on_response_done(self, event: Event) -> None:
        response = event.get("response") or {}
        self._active = max(0, self._active - 1)
        self.responses += 1
        status = str(response.get("status", "?"))
        details = response.get("status_details") or {}
        if status == "failed":
            error = details.get("error") or {}
            reason = error.get("message") or error.get("code") or error.get("type") or "?"
            raise TalkError(f"the response failed: {reason}")
        reason = f" ({details['reason']})" if details.get("reason") else ""
        self.printer.line(f"response {status}{reason}{_usage(response.get('usage'))}")


_HANDLERS: dict[str, Callable[[Talk, Event], None]] = {
    "session.created": Talk._on_session_created,
    "session.updated": Talk._on_session_updated,
    "error": Talk._on_error,
    "input_audio_buffer.speech_started": Talk._on_speech_started,
    "input_audio_buffer.speech_stopped": Talk._on_speech_stopped,
    "input_audio_buffer.committed": Talk._on_committed,
    "conversation.item.input_audio_transcription.completed": Talk._on_user_transcript,
    "conversation.item.input_audio_transcription.failed": Talk._on_user_transcript_failed,
    "response.created": Talk._on_response_created,
    "response.output_audio_transcript.delta": Talk._on_transcript_delta,
    "response.output_text.delta": Talk._on_transcript_delta,
    "response.output_audio_transcript.done": Talk._on_transcript_done,
    "response.output_text.done": Talk._on_transcript_done,
    "response.output_audio.delta": Talk._on_audio_delta,
    "response.done": Talk._on_response_done,
}


def describe(event: Event) -> str:
    """One line for ``--events``: the type, and what tells this event from its neighbours."""
    kind = str(event["type"])
    if kind == "response.output_audio.delta":
        return f"{kind} ({len(str(event.get('delta', ''))) * 3 // 4} bytes)"
    if "delta" in event:
        return f"{kind} {json.dumps(event['delta'], ensure_ascii=False)}"
    if kind == "error":
        return f"{kind} {(event.get('error') or {}).get('message', '')}"
    for key in ("transcript", "text", "item_id", "response", "item", "session"):
        value = event.get(key)
        if isinstance(value, dict):
            value = " ".join(str(value[k]) for k in ("type", "role", "id", "status")
                             if value.get(k) and not (k == "type" and key != "item"))
        if value:
            return f"{kind} {value}"
    return kind


def _ms(value: Any) -> str:
    return f"{value / 1000:.2f} s" if isinstance(value, int | float) else "?"


def _usage(usage: Any) -> str:
    if not isinstance(usage, dict) or "total_tokens" not in usage:
        return ""
    return (f": {usage['total_tokens']} tokens ({usage.get('input_tokens', '?')} in, "
            f"{usage.get('output_tokens', '?')} out)")
