"""``openrealtime talk`` against our real server: real espeak speech in a WAV of another rate
and channel count, the real HTTP speech backends and the fixture LLM behind the server, and
the command's own entry point (run in a thread: it owns its event loop, as it does in a shell).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import signal
import socket
import sys
import threading
import types
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from audio_backends import TTSBackend
from conftest import API_KEY, AudioServer, RunningServer
from speech import silence, speech_pcm

from openrealtime.talk import command
from openrealtime.talk.session import Options, Talk
from openrealtime.talk.source import WavFile, chunk_bytes, paced
from openrealtime.talk.status import Printer, cells, fit, status_text

UTTERANCE = "hello, could you tell me about the weather today"
GREETING = "Hello there, friend, and a very good morning to you."
EVENT_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+)+( |$)")
WAIT = 30.0  # the client's own --timeout bounds each run well before this


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENREALTIME_API_KEY", raising=False)


async def talk(*argv: str) -> int:
    return await asyncio.wait_for(asyncio.to_thread(command.main, list(argv)), WAIT)


def url(server: RunningServer) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/realtime"  # no ?model=: the command adds it


def write_wav(path: Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    if channels > 1:  # the same voice on every channel, the way a stereo recorder keeps it
        pcm = b"".join(pcm[i:i + 2] * channels for i in range(0, len(pcm), 2))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def read_wav(path: Path) -> tuple[int, int, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- against the real server ----------------------------------------------------------------


async def test_a_wav_file_is_converted_streamed_answered_and_the_reply_saved(
        audio_server: AudioServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audio_server.asr is not None and audio_server.tts is not None
    reply = "Sure, the weather is sunny and warm."
    audio_server.asr.answers.append(f"say: {reply}")
    speech = speech_pcm(UTTERANCE, rate=16000)
    wav, out = tmp_path / "question.wav", tmp_path / "answer.wav"
    write_wav(wav, speech, 16000, channels=2)

    code = await talk("--url", url(audio_server), "--wav", str(wav), "--out", str(out), "--fast")

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    shown = lines(captured.out)
    assert f"you: say: {reply}" in shown
    assert f"assistant: {reply}" in shown
    assert any(line.startswith("response completed") for line in shown), shown
    assert "\r" not in captured.out and "\x1b" not in captured.out  # not a terminal

    # The server heard the whole file at its true length: 16 kHz stereo went out as 24 kHz
    # mono (read as 24 kHz, it would have been a third shorter).
    assert abs(audio_server.asr.last.seconds - len(speech) / 2 / 16000) < 0.01

    # The reply's audio, all of it, as a 24 kHz mono WAV.
    rate, channels, pcm = read_wav(out)
    assert (rate, channels) == (24000, 1)
    spoken = [r["input"] for r in audio_server.tts.requests]
    assert "".join(spoken) == reply
    assert pcm == b"".join(TTSBackend.audio_for(t) for t in spoken)
    assert f"saved {len(pcm) / 48000:.2f} s of reply audio to {out}" in shown


async def test_server_vad_takes_the_turn(audio_server: AudioServer, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: Okay.")
    wav, out = tmp_path / "q.wav", tmp_path / "a.wav"
    write_wav(wav, silence(300, 24000) + speech_pcm(UTTERANCE), 24000)

    # --fast sends the burst; --vad keeps the server's turn detection on, which on our
    # server counts audio, not the clock.
    code = await talk("--url", url(audio_server), "--wav", str(wav), "--out", str(out),
                      "--fast", "--vad")

    captured = capsys.readouterr()
    assert code == 0, captured.err
    shown = lines(captured.out)
    started = [s for s in shown if s.startswith("speech started at ")]
    stopped = [s for s in shown if s.startswith("speech stopped at ")]
    assert len(started) == len(stopped) == 1, shown
    assert not any("heard no speech" in s for s in shown)
    assert "you: say: Okay." in shown and "assistant: Okay." in shown
    assert read_wav(out)[2]


async def test_a_typed_message_with_every_event_shown(
        audio_server: AudioServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = tmp_path / "a.wav"
    code = await talk("--url", url(audio_server), "--text", f"say: {GREETING}",
                      "--out", str(out), "--events", "--instructions", "Be brief.")

    captured = capsys.readouterr()
    assert code == 0, captured.err
    shown = lines(captured.out)
    assert f"you: say: {GREETING}" in shown
    assert f"assistant: {GREETING}" in shown
    types_seen = [s.split(" ", 1)[0] for s in shown]
    for kind in ("session.created", "session.updated", "conversation.item.added",
                 "response.created", "response.output_audio.delta", "response.done"):
        assert kind in types_seen, kind
    event_lines = [s for s in shown if EVENT_TYPE.match(s)]
    assert len(event_lines) > 10
    assert all(cells(s) <= 59 for s in event_lines), [s for s in event_lines if cells(s) > 59]
    assert any(s.endswith("…") for s in event_lines)  # the transcript's lines were cut
    body = audio_server.backend.last
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][-1]["content"] == f"say: {GREETING}"
    rate, channels, pcm = read_wav(out)
    assert (rate, channels) == (24000, 1) and len(pcm) > 0


async def test_the_key_comes_from_the_environment_and_text_replies_save_nothing(
        secured_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Our own server's key is taken from OPENREALTIME_API_KEY; OPENAI_API_KEY is not sent.
    monkeypatch.setenv("OPENREALTIME_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-server")
    out = tmp_path / "a.wav"
    code = await talk("--url", url(secured_server), "--text", "say: Fine.", "--out", str(out))

    captured = capsys.readouterr()
    assert code == 0, captured.err
    # This server has no speech engine: the reply is text, and there is no audio to save.
    assert "assistant: Fine." in lines(captured.out)
    assert "no reply audio came, so nothing was saved" in lines(captured.out)
    assert not out.exists()


async def test_a_wrong_key_is_one_line(secured_server: RunningServer, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = await talk("--url", url(secured_server), "--api-key", "wrong", "--text", "hi",
                      "--out", str(tmp_path / "a.wav"))

    err = capsys.readouterr().err
    assert code == 1
    assert lines(err) == [
        "openrealtime talk: error: authentication failed (HTTP 401): 127.0.0.1 refused the "
        "API key; pass the right one with --api-key"]


async def test_a_failed_response_ends_the_session_with_one_line(
        server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = await talk("--url", url(server), "--text", "fail 400", "--out",
                      str(tmp_path / "a.wav"))

    captured = capsys.readouterr()
    assert code == 1
    assert len(lines(captured.err)) == 1
    assert captured.err.startswith("openrealtime talk: error: the response failed: ")


# --- connection failures ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_a_refused_connection_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    code = await talk("--url", f"ws://127.0.0.1:{port}/v1/realtime", "--text", "hi")

    err = capsys.readouterr().err
    assert code == 1
    assert len(lines(err)) == 1
    assert err.startswith(f"openrealtime talk: error: cannot connect to 127.0.0.1:{port}: ")


@pytest.mark.parametrize("bad", ["ftp://example.com/x", "not a url", "ws://"])
def test_a_bad_url_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--url", bad, "--text", "hi"]) == 2
    err = capsys.readouterr().err
    assert len(lines(err)) == 1 and "is not a ws:// or wss:// URL" in err


def test_openai_needs_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--url", "wss://api.openai.com/v1/realtime", "--text", "hi"]) == 2
    assert lines(capsys.readouterr().err) == [
        "openrealtime talk: error: api.openai.com needs an API key: pass --api-key or set "
        "OPENAI_API_KEY"]


async def handshake(ws: web.WebSocketResponse, got: list[str]) -> None:
    await ws.send_json({"type": "session.created", "event_id": "e1",
                        "session": {"id": "sess_1", "model": "m"}})
    got.append((await ws.receive_json())["type"])
    await ws.send_json({"type": "session.updated", "event_id": "e2", "session": {}})


async def until(ws: web.WebSocketResponse, kind: str, got: list[str]) -> None:
    while (msg := await ws.receive_json())["type"] != kind:
        got.append(msg["type"])
    got.append(kind)


async def closes(ws: web.WebSocketResponse, got: list[str]) -> None:
    """Closes with 1011 after the first event past the handshake."""
    await handshake(ws, got)
    got.append((await ws.receive_json())["type"])
    await ws.close(code=1011, message=b"out of cheese")


async def silent(ws: web.WebSocketResponse, got: list[str]) -> None:
    async for _ in ws:
        pass


async def late_transcript(ws: web.WebSocketResponse, got: list[str]) -> None:
    """Answers a manual turn, and sends the user's transcript only after the response."""
    await handshake(ws, got)
    await until(ws, "input_audio_buffer.commit", got)
    await ws.send_json({"type": "input_audio_buffer.committed", "event_id": "e3",
                        "item_id": "item_1", "previous_item_id": None})
    await until(ws, "response.create", got)
    for event in [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_audio_transcript.delta", "item_id": "item_2", "delta": "Hi."},
        {"type": "response.output_audio_transcript.done", "item_id": "item_2",
         "transcript": "Hi."},
        {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}},
    ]:
        await ws.send_json({"event_id": "e", **event})
    # A transcriber slower than the reply: the latency being simulated, not a wait for
    # something to happen. A client that stopped at response.done would miss what follows.
    await asyncio.sleep(0.2)
    await ws.send_json({"type": "conversation.item.input_audio_transcription.completed",
                        "event_id": "e9", "item_id": "item_1", "content_index": 0,
                        "transcript": "late words"})
    async for _ in ws:
        pass


@pytest.fixture
async def scripted_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A WebSocket server playing the script its path names (closes, silent,
    late_transcript). Yields its URL and the types of the events it got."""
    got: list[str] = []
    scripts = {"/closes": closes, "/silent": silent, "/late_transcript": late_transcript}

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await scripts[request.path](ws, got)
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}", got
    finally:
        await runner.cleanup()


async def test_the_server_closing_the_socket_is_one_line(
        scripted_server: tuple[str, list[str]], capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    base, got = scripted_server
    code = await talk("--url", base + "/closes", "--text", "hi",
                      "--out", str(tmp_path / "a.wav"))

    assert code == 1
    assert got == ["session.update", "conversation.item.create"]
    assert lines(capsys.readouterr().err) == [
        "openrealtime talk: error: the server closed the connection (code 1011): out of cheese"]


async def test_a_silent_server_times_out(scripted_server: tuple[str, list[str]],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = scripted_server
    code = await talk("--url", base + "/silent", "--text", "hi", "--timeout", "0.3")

    assert code == 1
    assert lines(capsys.readouterr().err) == [
        "openrealtime talk: error: no session.created from the server within 0.3 s"]


async def test_a_transcript_after_the_response_is_still_shown(
        scripted_server: tuple[str, list[str]], capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    base, got = scripted_server
    wav = tmp_path / "q.wav"
    write_wav(wav, speech_pcm("hi", rate=24000), 24000)
    code = await talk("--url", base + "/late_transcript", "--wav", str(wav), "--fast",
                      "--out", str(tmp_path / "a.wav"))

    captured = capsys.readouterr()
    assert code == 0, captured.err
    shown = lines(captured.out)
    assert shown.index("you: late words") > shown.index("response completed")
    assert got[0] == "session.update" and got[-2:] == [
        "input_audio_buffer.commit", "response.create"]
    assert set(got[1:-2]) == {"input_audio_buffer.append"}


# --- the microphone ----------------------------------------------------------------------------


def test_mic_without_sounddevice_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    assert command.main(["--mic"]) == 1
    assert lines(capsys.readouterr().err) == [
        "openrealtime talk: error: --mic needs the sounddevice package: "
        "pip install 'openrealtime[mic]'"]


class FakeInputStream:
    """sounddevice's RawInputStream over a recording: a thread plays it to the callback in
    blocks, as PortAudio's thread would, as fast as the loop takes them."""

    recording = b""

    def __init__(self, *, samplerate: int, channels: int, dtype: str, blocksize: int,
                 callback: Any) -> None:
        assert (channels, dtype) == (1, "int16")
        self.block = blocksize * 2
        self.callback = callback
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._play)

    def _play(self) -> None:
        data = self.recording
        for start in range(0, len(data), self.block):
            if self.stopped.is_set():
                return
            self.callback(memoryview(data[start:start + self.block]), self.block // 2, None,
                          None)

    def __enter__(self) -> FakeInputStream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


async def test_the_microphone_streams_until_the_responses_asked_for(
        audio_server: AudioServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: I hear you.")
    fake = types.ModuleType("sounddevice")
    fake.query_devices = lambda kind: {"name": "Test Mic", "default_samplerate": 16000.0}  # type: ignore[attr-defined]
    FakeInputStream.recording = (silence(300, 16000) + speech_pcm(UTTERANCE, rate=16000)
                                 + silence(1500, 16000))
    fake.RawInputStream = FakeInputStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    out = tmp_path / "a.wav"

    code = await talk("--url", url(audio_server), "--mic", "--responses", "1", "--out", str(out))

    captured = capsys.readouterr()
    assert code == 0, captured.err
    shown = lines(captured.out)
    assert "listening on Test Mic (16000 Hz); Ctrl+C to stop" in shown
    assert "you: say: I hear you." in shown and "assistant: I hear you." in shown
    assert read_wav(out)[2]


class SignalledInputStream(FakeInputStream):
    opened: asyncio.Event

    def __enter__(self) -> FakeInputStream:
        self.opened.set()
        return super().__enter__()


@pytest.mark.skipif(sys.platform == "win32", reason="no loop signal handlers on Windows")
async def test_ctrl_c_stops_the_microphone_cleanly(
        audio_server: AudioServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # arun on this (main) thread's loop: Ctrl+C is a real SIGINT to this process.
    assert threading.current_thread() is threading.main_thread()
    fake = types.ModuleType("sounddevice")
    fake.query_devices = lambda kind: {"name": "Test Mic", "default_samplerate": 48000.0}  # type: ignore[attr-defined]
    SignalledInputStream.recording = silence(200, 48000)
    SignalledInputStream.opened = asyncio.Event()
    fake.RawInputStream = SignalledInputStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--url", url(audio_server), "--mic", "--out",
                              str(tmp_path / "a.wav")])

    task = asyncio.create_task(command.arun(args))
    await asyncio.wait_for(SignalledInputStream.opened.wait(), WAIT)
    signal.raise_signal(signal.SIGINT)
    code = await asyncio.wait_for(task, WAIT)

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert lines(captured.out)[-2:] == ["stopped", "no reply audio came, so nothing was saved"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


async def test_a_file_the_vad_hears_nothing_in_is_sent_as_one_turn(
        audio_server: AudioServer, tmp_path: Path) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: Quiet.")
    wav = tmp_path / "q.wav"
    write_wav(wav, silence(300, 24000), 24000)
    screen = io.StringIO()
    options = Options(url=url(audio_server), input=WavFile(wav), out=tmp_path / "a.wav",
                      vad=True, realtime=False, tail_ms=100, grace_s=0.1)

    await asyncio.wait_for(Talk(options, Printer(screen)).run(), WAIT)

    shown = lines(screen.getvalue())
    assert "the server's VAD heard no speech; sending the audio as one turn" in shown
    assert "you: say: Quiet." in shown and "assistant: Quiet." in shown
    assert len(audio_server.asr.requests) == 1


async def test_realtime_pace_sends_no_faster_than_the_audio_plays() -> None:
    chunks = [bytes([n]) * chunk_bytes(40) for n in range(3)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert [c async for c in paced(iter(chunks), realtime=True)] == chunks
    assert loop.time() - start >= 0.12
    assert [c async for c in paced(iter(chunks), realtime=False)] == chunks


# --- the command line and the terminal ----------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [
    ("ws://127.0.0.1:8000/v1/realtime", "ws://127.0.0.1:8000/v1/realtime?model=gpt-realtime"),
    ("wss://api.openai.com/v1/realtime?model=gpt-realtime-mini",
     "wss://api.openai.com/v1/realtime?model=gpt-realtime-mini"),
    ("http://localhost:8000", "ws://localhost:8000/v1/realtime?model=gpt-realtime"),
    ("https://example.com/v1/realtime?intent=transcription",
     "wss://example.com/v1/realtime?intent=transcription"),
])
def test_realtime_url(given: str, expected: str) -> None:
    assert command.realtime_url(given, "gpt-realtime") == expected


def test_files_go_at_the_pace_of_speech_with_server_vad_unless_fast() -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)

    def opts(*argv: str) -> Any:
        return command.options(parser.parse_args(argv), "", {})

    assert (opts("--wav", "x").realtime, opts("--wav", "x").vad) == (True, True)
    assert (opts("--wav", "x", "--fast").realtime, opts("--wav", "x", "--fast").vad) == (
        False, False)
    assert opts("--wav", "x", "--fast", "--vad").vad is True
    assert opts("--mic").vad is True
    assert opts("--text", "hi", "--transcribe-model", "none").transcribe_model is None


def test_an_openai_key_goes_to_openai_only() -> None:
    env = {"OPENAI_API_KEY": "sk-openai", "OPENREALTIME_API_KEY": "ours"}
    assert command.api_key("wss://api.openai.com/v1/realtime", None, env) == "sk-openai"
    assert command.api_key("ws://127.0.0.1:8000/v1/realtime", None, env) == "ours"
    assert command.api_key("ws://127.0.0.1:8000/v1/realtime", None,
                           {"OPENAI_API_KEY": "sk-openai"}) is None
    assert command.api_key("ws://h/v1/realtime", "given", env) == "given"


@pytest.mark.parametrize("width", [20, 80])
def test_fit_never_exceeds_the_width(width: int) -> None:
    long = status_text("replying", 123.4, 56.7, 3) + " and then some more words" * 3
    assert cells(fit(long, width)) == width and fit(long, width).endswith("…")
    assert fit("short", width) == "short"
    wide = "天气" * 40  # two columns a character
    assert cells(fit(wide, width)) <= width
    assert fit("a\nb\tc", width) == "a b c"


class Screen(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [20, 80])
def test_the_status_line_redraws_in_place_and_fits_the_terminal(columns: int) -> None:
    screen = Screen()
    clock = iter(range(100))
    printer = Printer(screen, columns=lambda: columns, clock=lambda: float(next(clock)))
    status = status_text("sending", 1.0, 0.0, 0)
    printer.status_line = lambda: status
    printer.refresh()
    status = status_text("replying", 2.5, 1.25, 0)
    printer.refresh()
    printer.line("you: hello")
    printer.stream("a", "assistant: ", "Hi")
    printer.stream("a", "assistant: ", " there")
    status = status_text("replying", 2.5, 2.0, 0)
    printer.refresh(force=True)  # not drawn over the open line
    printer.end_stream("a")
    printer.close()
    out = screen.getvalue()

    # Every stretch the status line draws, from a \r to the erase, fits in columns - 1.
    draws = [part.split("\x1b[K")[0] for part in out.split("\r")[1:]]
    assert draws and all(cells(d) <= columns - 1 for d in draws)
    assert any(d.startswith("[replying] sent 2") for d in draws)
    text = "".join(part.split("\x1b[K")[-1] for part in out.split("\r"))
    assert "you: hello\n" in text and "assistant: Hi there\n" in text
    assert out.endswith("\r\x1b[K")  # closing leaves no status line behind


def test_off_a_terminal_there_is_no_status_line() -> None:
    stream = io.StringIO()
    printer = Printer(stream, columns=lambda: 20)
    printer.status_line = lambda: "[sending] sent 1.0s"
    printer.refresh(force=True)
    printer.line("you: hello")
    printer.stream("a", "assistant: ", "Hi")
    printer.refresh(force=True)
    printer.end_stream("a")
    printer.close()
    assert stream.getvalue() == "you: hello\nassistant: Hi\n"
