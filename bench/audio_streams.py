"""Real-time audio streams with server VAD: how many sessions one server process holds.

The server runs in its own process (echo LLM, shared Silero VAD, no speech-to-text or speech
engines; ``server_vad`` on, as every session starts), so the CPU read from /proc is the server's
alone; the load client runs in this process. Each session streams espeak speech with pauses (one
utterance, then silence, looped; each session starts at a random point of the loop and a random
phase within 20 ms, so turns do not align) as 50 ``input_audio_buffer.append`` events a second
of 20 ms PCM16 24 kHz, sent on a fixed schedule (t0 + k * 20 ms: a late send never moves the
later ones).

**Event lag.** For each ``speech_started`` / ``speech_stopped``: its arrival time minus the time
the client sent the last chunk the server needed to emit it. The server decides on whole 32 ms
VAD frames of the audio timeline, so that is the chunk that completes the deciding frame:
``speech_stopped`` at ``audio_end_ms`` (a frame end); ``speech_started`` at
``audio_start_ms + prefix_padding_ms + 32`` (the onset frame's end; ``audio_start_ms`` itself is
the onset minus the padding). The VAD resampler (24 -> 16 kHz) holds back a fraction of a
millisecond of input, measured here at start-up; where a frame ends exactly on a chunk boundary
(one frame in five) that takes the next chunk, and the lag is counted from that chunk. Lag is
thus the server's (and the loopback's, and this client's) delay, not the VAD's algorithmic
wait (frame size, ``silence_duration_ms``) nor the chunking.

**Capacity.** The ramp steps through ``--sessions``; a step *holds* when p99 event lag is at most
``--bar-ms`` (50), every session stayed connected and no server error came back. A step that
fails is run again (``--tries``, 2: the machine is shared, and a neighbour's burst is not an
overload); the answer is the largest step that holds, and the ramp stops at the first that
fails every try. The ``trend`` column (slope of lag over the step) tells the two apart: past
capacity the server processes less than real time and lag grows steadily (~+100 ms/s).

**Barge-in.** A second server points at a slow streaming fake LLM (``--llm-base-url``), so each
turn's response is still streaming when the next utterance starts. Measured on the client: the
arrival of the cancelled ``response.done`` (reason ``turn_detected``) minus the arrival of its
``speech_started`` (one core step makes both: the server's processing and write time), and the
same ``response.done`` counted from the audio (lag as above: sent onset frame -> cancel seen).

    python bench/audio_streams.py [--sessions 10,25,50,100,150,200,250,300,400] [--step-s 12]
                                  [--barge 1,50] [--barge-s 25] [--profile 100]

About 3 minutes with the defaults. The machine is shared and noisy: read percentiles and
per-stream ratios, not single times. On the 2-core development machine (client included):
250 streams held (p99 event lag 39 ms; 8 ms at 150), 300 not (lag grows ~100 ms/s); server
CPU ~4.5 ms per audio-second per stream at 250, about 43 % of it Silero inference (~54 us a
frame at batch >= 10); barge-in: cancelled ``response.done`` arrives 0.03 ms (p50) / ~1 ms
(p99) after its ``speech_started``, 1.5 / 4 ms after the audio, at 50 streams.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from procs import free_port, stat_cpu_s, wait_port
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

RATE = 24000
CHUNK_MS = 20
CHUNK_BYTES = RATE * CHUNK_MS // 1000 * 2
FRAME_MS = 32  # Silero: 512 samples at 16 kHz
TEXT = "Hello, could you tell me the weather for tomorrow?"  # ~2.4 s of espeak
BARGE_TEXT = "Please book a table for two."  # ~1.5 s: more barge-ins per minute
TAIL_S = 1.0  # after the last append: wait this long for trailing events


# --- processes ------------------------------------------------------------------------------


def cpu_split(pid: int) -> tuple[float, float]:
    """(whole process, event-loop thread) CPU seconds; the rest is the VAD (and any other)
    threads."""
    try:
        return stat_cpu_s(f"/proc/{pid}/stat"), stat_cpu_s(f"/proc/{pid}/task/{pid}/stat")
    except (OSError, IndexError):
        return math.nan, math.nan


class Proc:
    """A child process with its stderr kept in a temporary file; stopped on exit."""

    def __init__(self, cmd: list[str], port: int) -> None:
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        try:
            wait_port(port, self.proc)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop it (``sig``, then SIGKILL after 10 s); returns what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        self.log.close()
        return text

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.log.closed:
            self.stop()


def server_cmd(port: int, llm_url: str | None = None, profile: str | None = None) -> list[str]:
    cmd = [sys.executable]
    if profile:
        cmd += ["-m", "cProfile", "-o", profile]
    # VAD capacity, as documented: no speech-to-text or speech engines (they are the defaults).
    cmd += ["-m", "openrealtime", "serve", "--port", str(port), "--log-level", "warning",
            "--asr-engine", "none", "--tts-engine", "none"]
    if llm_url:
        cmd += ["--llm-base-url", llm_url]
    return cmd


# --- audio ----------------------------------------------------------------------------------


def make_clip(text: str, silence_s: float) -> bytes:
    """``text`` spoken by espeak then ``silence_s`` of silence, PCM16 24 kHz, whole chunks."""
    from openrealtime.audio.convert import Converter
    from openrealtime.audio.spec import AudioSpec
    from openrealtime.engines.espeak import synthesize

    pcm, rate = synthesize(text)
    conv = Converter(AudioSpec("pcm16", rate), AudioSpec("pcm16", RATE))
    clip = conv.convert(pcm) + conv.flush() + bytes(int(silence_s * RATE) * 2)
    return clip[: len(clip) // CHUNK_BYTES * CHUNK_BYTES]


def append_frames(clip: bytes) -> list[str]:
    """The clip as ready-made append events, one per 20 ms chunk."""
    return [
        json.dumps({"type": "input_audio_buffer.append",
                    "audio": base64.b64encode(clip[i:i + CHUNK_BYTES]).decode()})
        for i in range(0, len(clip), CHUNK_BYTES)
    ]


def vad_holdback_ms() -> float:
    """How much input audio the server's VAD resampler holds back, in ms (a fraction of one)."""
    import numpy as np

    from openrealtime.audio.convert import Converter
    from openrealtime.audio.spec import AudioSpec
    from openrealtime.runtime.vad_worker import VAD_RESAMPLE_QUALITY

    conv = Converter(AudioSpec("pcm16", RATE), AudioSpec("pcm16", 16000),
                     quality=VAD_RESAMPLE_QUALITY)
    noise = np.random.default_rng(0).integers(-3000, 3000, RATE, dtype=np.int16).tobytes()
    out = sum(len(conv.convert(noise[i:i + CHUNK_BYTES]))
              for i in range(0, len(noise), CHUNK_BYTES)) // 2
    return max(0.0, 1000 - out / 16)  # 1 s in, ``out`` samples at 16 kHz out


# --- the load client ------------------------------------------------------------------------


@dataclass
class Stream:
    """One session's record: when each chunk left, and what came back."""

    offset: int  # chunk of the clip this session starts at
    sent: list[float] = field(default_factory=list)  # perf_counter after each append
    slip: list[float] = field(default_factory=list)  # send time - scheduled time (s)
    prefix_ms: int = 300
    started: list[tuple[float, int]] = field(default_factory=list)  # (arrival, audio_start_ms)
    stopped: list[tuple[float, int]] = field(default_factory=list)  # (arrival, audio_end_ms)
    cancels: list[tuple[float, float]] = field(default_factory=list)  # (done, its started)
    completed: int = 0  # responses that were not cancelled
    errors: list[str] = field(default_factory=list)
    dropped: str | None = None


async def run_stream(ws: ClientConnection, st: Stream, frames: list[str], t0: float,
                     chunks: int) -> None:
    """Send ``chunks`` appends on the schedule t0 + k * 20 ms while recording events."""
    reader = asyncio.create_task(read_events(ws, st))
    try:
        n = len(frames)
        for k in range(chunks):
            due = t0 + k * CHUNK_MS / 1000
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(frames[(st.offset + k) % n])
            now = time.perf_counter()
            st.sent.append(now)
            st.slip.append(now - due)
        await asyncio.sleep(TAIL_S)
    except ConnectionClosed as exc:
        st.dropped = f"closed while sending: {exc}"
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def read_events(ws: ClientConnection, st: Stream) -> None:
    last_started = math.nan
    try:
        async for msg in ws:
            now = time.perf_counter()
            head = msg[:60] if isinstance(msg, str) else ""
            if "speech_started" in head:
                last_started = now
                st.started.append((now, json.loads(msg)["audio_start_ms"]))
            elif "speech_stopped" in head:
                st.stopped.append((now, json.loads(msg)["audio_end_ms"]))
            elif '"response.done"' in head:
                resp = json.loads(msg)["response"]
                details = resp.get("status_details") or {}
                if resp["status"] == "cancelled" and details.get("reason") == "turn_detected":
                    st.cancels.append((now, last_started))
                else:
                    st.completed += 1
            elif '"error"' in head:
                st.errors.append(json.loads(msg)["error"].get("message", "?"))
    except ConnectionClosed as exc:
        if st.dropped is None:
            st.dropped = f"closed: {exc}"


async def open_session(url: str, st: Stream) -> ClientConnection | None:
    try:
        ws = await connect(url, max_size=None, compression=None, open_timeout=30)
        created = json.loads(await asyncio.wait_for(ws.recv(), 30))
        td = created["session"]["audio"]["input"]["turn_detection"] or {}
        st.prefix_ms = int(td.get("prefix_padding_ms", 300))
        return ws
    except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError, KeyError) as exc:
        st.dropped = f"connect failed: {exc!r}"
        return None


@dataclass
class StepResult:
    sessions: int
    connected: int
    window_s: float
    cpu_s: float  # server, whole process, over the window
    loop_cpu_s: float  # server, event-loop thread
    client_cpu_s: float
    lags: list[float]  # ms
    lag_at: list[float]  # when the chunk each lag counts from was sent (s, from the window)
    started: int
    stopped: int
    loops: float  # clip loops streamed in the window, all sessions
    skipped: int  # speech_started whose onset is not on a frame (clamped at 0): no lag
    slip_p99_ms: float
    errors: int
    dropped: int
    barge_ms: list[float]  # done - started arrival
    cancel_from_audio_ms: list[float]
    completed: int
    attempt: int = 1

    @property
    def trend(self) -> float:
        """Least-squares slope of lag over the step, ms per second: about 0 when the server
        keeps up, positive and steady when it falls behind (lag then grows without bound)."""
        n = len(self.lags)
        if n < 3:
            return math.nan
        mt, ml = sum(self.lag_at) / n, sum(self.lags) / n
        var = sum((t - mt) ** 2 for t in self.lag_at)
        cov = sum((t - mt) * (x - ml) for t, x in zip(self.lag_at, self.lags, strict=True))
        return cov / var if var else math.nan

    @property
    def holds(self) -> bool:
        return (pct(self.lags, 99) <= BAR_MS and self.connected == self.sessions
                and self.dropped == 0 and self.errors == 0 and self.stopped > 0)


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(len(s) * q / 100) - 1))]


def sent_at(st: Stream, pos_ms: float, holdback_ms: float) -> float | None:
    """When the client sent the chunk that let the server hear audio up to ``pos_ms``."""
    k = math.ceil((pos_ms + holdback_ms) / CHUNK_MS - 1e-9) - 1
    return st.sent[k] if 0 <= k < len(st.sent) else None


async def step(url: str, n: int, frames: list[str], seconds: float, warmup: float,
               server_pid: int, holdback_ms: float) -> StepResult:
    rng = random.Random(n)
    streams = [Stream(offset=rng.randrange(len(frames))) for _ in range(n)]
    conns = await asyncio.gather(*(open_session(url, st) for st in streams))
    live = [(ws, st) for ws, st in zip(conns, streams, strict=True) if ws is not None]
    chunks = int(seconds * 1000 / CHUNK_MS)
    start = time.perf_counter() + 0.5
    w0, w1 = start + warmup, start + seconds
    marks: dict[str, tuple[float, float, float, float]] = {}

    async def mark(name: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        cpu, loop_cpu = cpu_split(server_pid)
        t = os.times()
        marks[name] = (time.perf_counter(), cpu, loop_cpu, t.user + t.system)

    try:
        await asyncio.gather(
            mark("a", w0), mark("b", w1),
            *(run_stream(ws, st, frames, start + rng.random() * CHUNK_MS / 1000, chunks)
              for ws, st in live))
    finally:
        await asyncio.gather(*(ws.close() for ws, _ in live), return_exceptions=True)

    lags: list[float] = []
    lag_at: list[float] = []
    skipped = n_started = n_stopped = 0
    barge: list[float] = []
    from_audio: list[float] = []
    for _, st in live:
        for arrival, start_ms in st.started:
            onset = start_ms + st.prefix_ms
            if onset % FRAME_MS or start_ms == 0:
                skipped += 1  # padded start clamped (session start): onset unknown
                continue
            sent = sent_at(st, onset + FRAME_MS, holdback_ms)
            if sent is not None and sent >= w0:
                n_started += 1
                lags.append((arrival - sent) * 1000)
                lag_at.append(sent - w0)
        for arrival, end_ms in st.stopped:
            sent = sent_at(st, end_ms, holdback_ms)
            if sent is not None and sent >= w0:
                n_stopped += 1
                lags.append((arrival - sent) * 1000)
                lag_at.append(sent - w0)
        started_at = {a: s for a, s in st.started}
        for done, started in st.cancels:
            if started < w0 or started not in started_at:
                continue
            barge.append((done - started) * 1000)
            onset = started_at[started] + st.prefix_ms
            sent = sent_at(st, onset + FRAME_MS, holdback_ms)
            if sent is not None and not onset % FRAME_MS:
                from_audio.append((done - sent) * 1000)
    (ta, ca, la, pa), (tb, cb, lb, pb) = marks["a"], marks["b"]
    window = tb - ta
    slips = [s for _, st in live for s in st.slip]
    return StepResult(
        sessions=n, connected=len(live), window_s=window, cpu_s=cb - ca, loop_cpu_s=lb - la,
        client_cpu_s=pb - pa, lags=lags, lag_at=lag_at, started=n_started, stopped=n_stopped,
        loops=len(live) * window * 1000 / (len(frames) * CHUNK_MS), skipped=skipped,
        slip_p99_ms=pct(slips, 99) * 1000, errors=sum(len(st.errors) for st in streams),
        dropped=sum(st.dropped is not None for st in streams), barge_ms=barge,
        cancel_from_audio_ms=from_audio, completed=sum(st.completed for st in streams))


# --- the slow LLM (runs as its own process: ``audio_streams.py --slow-llm PORT``) -----------


def slow_llm(port: int, delay_s: float, chunks: int) -> None:
    """An OpenAI-compatible chat stream that sends one word every ``delay_s``."""
    from aiohttp import web

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        return b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for i in range(chunks):
                await resp.write(chunk({"content": f"word{i} "}))
                await asyncio.sleep(delay_s)
            await resp.write(chunk({}, "stop"))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the server cancelled the response (barge-in): it closed the connection
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- driving it -----------------------------------------------------------------------------


def ramp(args: argparse.Namespace, frames: list[str], holdback: float) -> list[StepResult]:
    results: list[StepResult] = []
    for n in args.sessions:
        for attempt in range(1, args.tries + 1):
            port = free_port()
            with Proc(server_cmd(port), port) as server:
                res = asyncio.run(step(f"ws://127.0.0.1:{port}/v1/realtime", n, frames,
                                       args.step_s, args.warmup_s, server.pid, holdback))
                log = server.stop()
            res.attempt = attempt
            results.append(res)
            print(row(res), flush=True)
            if "Traceback" in log or "ERROR" in log:
                print(f"  server stderr (tail):\n{log[-1500:]}", flush=True)
            if res.holds:
                break
        else:
            break  # every try failed: past the bar
    return results


def barge(args: argparse.Namespace, holdback: float) -> list[StepResult]:
    frames = append_frames(make_clip(BARGE_TEXT, args.barge_silence_s))
    llm_port = free_port()
    results = []
    with Proc([sys.executable, __file__, "--slow-llm", str(llm_port)], llm_port) as llm:
        for n in args.barge:
            port = free_port()
            cmd = server_cmd(port, f"http://127.0.0.1:{llm_port}/v1")
            with Proc(cmd, port) as server:
                res = asyncio.run(step(f"ws://127.0.0.1:{port}/v1/realtime", n, frames,
                                       args.barge_s, args.warmup_s, server.pid, holdback))
                server.stop()
            results.append(res)
            print(f"barge-in {n:4d} streams: {len(res.barge_ms)} cancels, "
                  f"{res.completed} responses not cancelled", flush=True)
        llm.stop()
    return results


def profile(args: argparse.Namespace, frames: list[str], holdback: float) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "server.prof")
        with Proc(server_cmd(port, profile=out), port) as server:
            res = asyncio.run(step(f"ws://127.0.0.1:{port}/v1/realtime", args.profile, frames,
                                   args.step_s, args.warmup_s, server.pid, holdback))
            server.stop(signal.SIGINT)  # run_app returns; cProfile writes its file
        print(f"\nprofile of the server's event-loop thread under cProfile, "
              f"{args.profile} streams (inflated by the profiler; VAD thread not included):")
        print(row(res))
        if os.path.exists(out):
            stats = pstats.Stats(out)
            stats.sort_stats("tottime").print_stats(18)
            stats.sort_stats("cumulative").print_stats(25)


def row(r: StepResult) -> str:
    per = r.sessions * r.window_s
    vad = 100 * (r.cpu_s - r.loop_cpu_s) / max(r.cpu_s, 1e-9)
    return (f"{r.sessions:5d} {r.connected:5d} {100 * r.cpu_s / per:7.2f} "
            f"{1000 * r.cpu_s / per:7.2f} {vad:5.0f} "
            f"{100 * r.client_cpu_s / r.window_s:6.0f} {pct(r.lags, 50):7.1f} "
            f"{pct(r.lags, 99):7.1f} {max(r.lags, default=math.nan):7.1f} {r.trend:6.1f} "
            f"{r.started:5d} {r.stopped:5d} {r.stopped / max(r.loops, 1e-9):5.2f} "
            f"{r.slip_p99_ms:6.1f} {r.errors + r.dropped:4d}  {'yes' if r.holds else 'NO'}"
            + (f" (try {r.attempt})" if r.attempt > 1 else ""))


HEADER = ("    N  conn cpu%/st cpums/s vad%  cli%  p50 ms  p99 ms  max ms  trend start  stop turn/"
          " slip99 err  holds\n"
          "                (1 core) per aud sec  of srv                          ms/s"
          "              loop   ms")

BAR_MS = 50.0  # set from --bar-ms


def main() -> None:
    global BAR_MS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=lambda s: [int(x) for x in s.split(",") if x],
                    default=[10, 25, 50, 100, 150, 200, 250, 300, 400])
    ap.add_argument("--step-s", type=float, default=12.0, help="seconds streamed per step")
    ap.add_argument("--warmup-s", type=float, default=2.0, help="not measured, per step")
    ap.add_argument("--silence-s", type=float, default=2.0, help="pause after the utterance")
    ap.add_argument("--bar-ms", type=float, default=50.0, help="p99 event lag a step may have")
    ap.add_argument("--tries", type=int, default=2,
                    help="runs of a step before it counts as failed (the machine is shared)")
    ap.add_argument("--barge", type=lambda s: [int(x) for x in s.split(",") if x],
                    default=[1, 50], help="stream counts for the barge-in part ('' skips)")
    ap.add_argument("--barge-s", type=float, default=25.0)
    ap.add_argument("--barge-silence-s", type=float, default=1.2)
    ap.add_argument("--profile", type=int, default=0,
                    help="also run N streams against a server under cProfile")
    ap.add_argument("--slow-llm", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--slow-llm-delay", type=float, default=0.05, help=argparse.SUPPRESS)
    args = ap.parse_args()
    BAR_MS = args.bar_ms
    if args.slow_llm:
        slow_llm(args.slow_llm, args.slow_llm_delay, chunks=600)  # 30 s: outlives any pause
        return
    began = time.perf_counter()
    clip = make_clip(TEXT, args.silence_s)
    frames = append_frames(clip)
    holdback = vad_holdback_ms()
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"clip: {len(clip) / 2 / RATE:.2f} s loop ({TEXT!r} + {args.silence_s} s silence), "
          f"{CHUNK_MS} ms appends; {args.step_s:g} s per step, first {args.warmup_s:g} s "
          f"not measured; VAD resampler holds back {holdback:.3f} ms")
    print(HEADER, flush=True)
    results = ramp(args, frames, holdback)
    barges = barge(args, holdback) if args.barge else []
    if args.profile:
        profile(args, frames, holdback)

    print(f"\n=== audio streams, server_vad, echo LLM ({time.perf_counter() - began:.0f} s in "
          f"all) ===")
    print(HEADER)
    for r in results:
        print(row(r))
    held = [r.sessions for r in results if r.holds]
    tried = {r.sessions for r in results}
    print(f"held: {max(held) if held else 0} sessions (p99 event lag <= {args.bar_ms:g} ms, "
          f"none dropped, no errors, in one of "
          f"{args.tries} tries)" + ("" if not results or not results[-1].holds
                                   else "; the ramp ended before the bar was passed")
          + (f"; failed at {max(tried)}" if results and not results[-1].holds else ""))
    print("cpu%/st: server CPU per stream, % of one core; cpums/s: server CPU ms per second "
          "of audio; vad%: share of the server's CPU outside the event-loop thread (VAD "
          "inference); cli%: load client CPU; trend: slope of lag over the step (steadily "
          "positive: the server falls behind); turn/loop: speech_stopped per clip loop per "
          "session (1.0 = every utterance detected); slip99: client's p99 lateness against "
          "its send schedule")
    if barges:
        print(f"\nbarge-in (slow streaming LLM; {BARGE_TEXT!r} + {args.barge_silence_s} s "
              f"silence, {args.barge_s:g} s):")
        print("    N  cancels  not-cancelled  started->done p50/p99/max ms  "
              "audio->done p50/p99 ms  event-lag p99 ms")
        for r in barges:
            b, a = r.barge_ms, r.cancel_from_audio_ms
            print(f"{r.sessions:5d} {len(b):8d} {r.completed:14d}  "
                  f"{pct(b, 50):8.2f} {pct(b, 99):7.2f} {max(b, default=math.nan):7.2f}   "
                  f"{pct(a, 50):10.1f} {pct(a, 99):7.1f}   {pct(r.lags, 99):10.1f}")


if __name__ == "__main__":
    main()
