"""Real-time WebRTC calls with server VAD: how many one server process holds.

The server runs in its own process (``python -m openrealtime serve``; echo LLM, no speech-to-text
or speech engines unless ``--engines default``; ``server_vad`` on, as every session starts), so
the CPU read from /proc is the server's alone. The calls come from ``--clients`` load processes
(aiortc peers, as a browser would be): each call offers an Opus audio track and the
``oai-events`` data channel over ``POST /v1/realtime/calls``, sends espeak speech with pauses
(one utterance, then silence, looped; each call starts at a random point of the loop) as 20 ms
Opus frames paced in real time, and receives (decodes) the server's audio track, which carries
Opus silence between replies.

**Event lag.** For each ``speech_started`` / ``speech_stopped`` on the data channel: its arrival
time minus the time the client sent the 20 ms frame that completed the VAD frame the server
decided on (``audio_end_ms``; ``audio_start_ms + prefix_padding_ms + 32`` for a start), found by
counting packets: frame k of the client's track is the server's audio from 20 k ms, less what
the 48 -> 24 kHz resampler and the VAD resampler hold back (measured at start-up). This is the
lag *from the audio*. aiortc's receiver releases an audio frame only when the 4 frames after it
have arrived (its jitter buffer's prefetch), so 80 ms of it is the wait for those; the lag *from
the packet* counts from the fourth one, the last the server needed, and is the server's (and
the loopback's, and the client's) delay, comparable to ``bench/audio_streams.py``'s.

**Capacity.** The ramp steps through ``--calls``; a step *holds* when p99 lag from the audio is
at most ``--bar-ms`` (120: the 80 ms prefetch plus 40), every call connected and stayed up, and
no server error came back. A failed step is run again (``--tries``): the machine is shared. The
load clients encode and decode Opus too, on the same cores: ``cli%`` and ``slip99`` (how late the
client's track produced its frames against the real-time schedule) say when they, not the
server, are the limit.

    python bench/webrtc_calls.py [--calls 1,5,10,15,20,30,40] [--step-s 12] [--clients 2]
                                 [--engines none|default]

About 3 minutes with the defaults (needs the ``webrtc`` extra: aiortc).
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from audio_streams import FRAME_MS, Proc, cpu_split, free_port, pct, vad_holdback_ms  # noqa: E402

RATE = 48000  # the rate aiortc's Opus runs at
FRAME = 960  # 20 ms
FRAME_MS_RTP = 20
PREFETCH = 4  # aiortc's audio JitterBuffer(capacity=16, prefetch=4) in RTCRtpReceiver
TEXT = "Hello, could you tell me the weather for tomorrow?"  # ~2.4 s of espeak
TAIL_S = 1.0  # after the window: wait this long for trailing events
TICK = os.sysconf("SC_CLK_TCK")


def machine_idle_s() -> float:
    """Idle CPU seconds of the whole machine, all cores (/proc/stat: idle + iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(fields[4]) + int(fields[5])) / TICK


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


# --- the load client (runs as its own process: ``webrtc_calls.py --load URL --n K``) --------


def make_clip(silence_s: float) -> list[bytes]:
    """espeak speech then ``silence_s`` of silence, PCM16 48 kHz, as 20 ms frames."""
    from speech import silence, speech_pcm

    clip = speech_pcm(TEXT, rate=RATE) + silence(int(silence_s * 1000), rate=RATE)
    size = FRAME * 2
    return [clip[i:i + size] for i in range(0, len(clip) - size + 1, size)]


def resampler_holdback_ms() -> float:
    """How much the server's 48 -> 24 kHz resampler (``webrtc_media.listen``) holds back."""
    import numpy as np
    from av import AudioFrame, AudioResampler

    resampler = AudioResampler(format="s16", layout="mono", rate=24000)
    out = 0
    for i in range(50):  # 1 s of the stereo frames aiortc's Opus decoder gives
        frame = AudioFrame.from_ndarray(np.zeros((1, FRAME * 2), np.int16), format="s16",
                                        layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, i * FRAME, fractions.Fraction(
            1, RATE)
        out += sum(f.samples for f in resampler.resample(frame))
    return max(0.0, 1000 - out / 24)


@dataclass
class CallRecord:
    offset: int
    sent: list[float] = field(default_factory=list)  # monotonic when frame k left the track
    slip: list[float] = field(default_factory=list)
    prefix_ms: int = 300
    started: list[tuple[float, int]] = field(default_factory=list)  # (arrival, audio_start_ms)
    stopped: list[tuple[float, int]] = field(default_factory=list)  # (arrival, audio_end_ms)
    errors: list[str] = field(default_factory=list)
    received_frames: int = 0
    dropped: str | None = None


def mic_track(frames: list[bytes], rec: CallRecord) -> Any:
    """A microphone: the clip looped from ``rec.offset``, 20 ms frames paced in real time."""
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError
    from av import AudioFrame

    class Mic(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._start: float | None = None
            self._k = 0

        async def recv(self) -> AudioFrame:
            if self.readyState != "live":
                raise MediaStreamError
            now = time.monotonic()
            if self._start is None:
                self._start = now
            due = self._start + self._k * FRAME_MS_RTP / 1000
            if due > now:
                await asyncio.sleep(due - now)  # on the frame count: no drift
            frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
            frame.planes[0].update(frames[(rec.offset + self._k) % len(frames)])
            frame.sample_rate = RATE
            frame.pts = self._k * FRAME
            frame.time_base = fractions.Fraction(1, RATE)
            self._k += 1
            sent = time.monotonic()  # aiortc encodes and sends it next
            rec.sent.append(sent)
            rec.slip.append(sent - due)
            return frame

    return Mic()


class Caller:
    def __init__(self, frames: list[bytes], rec: CallRecord) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.rec = rec
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(mic_track(frames, rec))
        self.channel = self.pc.createDataChannel("oai-events")
        self.created = asyncio.Event()
        self.channel.on("message", self._on_message)
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", lambda t: self._tasks.append(asyncio.ensure_future(self._drain(t))))
        self.pc.on("connectionstatechange", self._on_state)

    def _on_message(self, msg: str | bytes) -> None:
        now = time.monotonic()
        head = msg[:60] if isinstance(msg, str) else ""
        if "speech_started" in head:
            self.rec.started.append((now, json.loads(msg)["audio_start_ms"]))
        elif "speech_stopped" in head:
            self.rec.stopped.append((now, json.loads(msg)["audio_end_ms"]))
        elif '"session.created"' in head:
            td = json.loads(msg)["session"]["audio"]["input"]["turn_detection"] or {}
            self.rec.prefix_ms = int(td.get("prefix_padding_ms", 300))
            self.created.set()
        elif '"error"' in head:
            self.rec.errors.append(json.loads(msg)["error"].get("message", "?"))

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and self.rec.dropped is None:
            self.rec.dropped = f"connection {self.pc.connectionState}"

    async def _drain(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:  # the server's audio, decoded (as a browser would) and dropped
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.rec.received_frames += 1

    async def dial(self, url: str) -> None:
        import aiohttp
        from aiortc import RTCSessionDescription

        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession() as http, http.post(
                url, data=self.pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp"}) as resp:
            if resp.status != 201:
                raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
            answer = await resp.text()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(self.created.wait(), 30)

    async def hang_up(self) -> None:
        self.pc.remove_all_listeners("connectionstatechange")
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def load(url: str, n: int, seed: int, silence_s: float, holdback_ms: float) -> None:
    frames = make_clip(silence_s)
    rng = random.Random(seed)
    recs = [CallRecord(offset=rng.randrange(len(frames))) for _ in range(n)]
    callers = [Caller(frames, rec) for rec in recs]
    gate = asyncio.Semaphore(4)  # a browser dials once; a burst of ICE checks is not a call

    async def dial(caller: Caller) -> None:
        async with gate:
            try:
                await caller.dial(url)
            except Exception as exc:  # noqa: BLE001 - reported, not raised: the step goes on
                caller.rec.dropped = f"dial failed: {exc!r}"

    await asyncio.gather(*(dial(c) for c in callers))
    print(f"ready {sum(r.dropped is None for r in recs)}", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    w0, w1 = (float(x) for x in line.split())
    await asyncio.sleep(max(0.0, w0 - time.monotonic()))
    c0, r0 = own_cpu_s(), sum(r.received_frames for r in recs)
    await asyncio.sleep(max(0.0, w1 - time.monotonic()))
    c1, r1 = own_cpu_s(), sum(r.received_frames for r in recs)
    await asyncio.sleep(TAIL_S)
    live = [r for r in recs if r.dropped is None]
    result = lags(live, w0, w1, holdback_ms)
    result.update(
        calls=n, connected=len(live), cpu_s=c1 - c0,
        dropped=[r.dropped for r in recs if r.dropped is not None],
        errors=sum(len(r.errors) for r in recs),
        slip=[s for r in live for s, t in zip(r.slip, r.sent, strict=True) if w0 <= t <= w1],
        received_fps=(r1 - r0) / max(len(live), 1) / (w1 - w0),
        loops=len(live) * (w1 - w0) * 1000 / (len(frames) * FRAME_MS_RTP))
    await asyncio.gather(*(c.hang_up() for c in callers), return_exceptions=True)
    print(json.dumps(result), flush=True)


def lags(recs: list[CallRecord], w0: float, w1: float, holdback_ms: float) -> dict[str, Any]:
    """Lag of each VAD event whose deciding frame was sent within [w0, w1]."""
    audio: list[float] = []
    packet: list[float] = []
    at: list[float] = []
    kind: list[str] = []
    n_started = n_stopped = skipped = 0

    def frame_for(pos_ms: float) -> int:
        # The last client frame the server needed to have heard ``pos_ms`` of audio.
        return math.ceil((pos_ms + holdback_ms) / FRAME_MS_RTP - 1e-9) - 1

    def add(rec: CallRecord, arrival: float, pos_ms: float, what: str) -> bool:
        k = frame_for(pos_ms)
        if not 0 <= k < len(rec.sent) - PREFETCH or not w0 <= rec.sent[k] <= w1:
            return False
        audio.append((arrival - rec.sent[k]) * 1000)
        packet.append((arrival - rec.sent[k + PREFETCH]) * 1000)
        at.append(rec.sent[k] - w0)
        kind.append(what)
        return True

    for rec in recs:
        for arrival, start_ms in rec.started:
            onset = start_ms + rec.prefix_ms
            if onset % FRAME_MS or start_ms == 0:
                skipped += 1  # padded start clamped at the session's start: onset unknown
                continue
            n_started += add(rec, arrival, onset + FRAME_MS, "started")
        for arrival, end_ms in rec.stopped:
            n_stopped += add(rec, arrival, end_ms, "stopped")
    return {"lag_audio": audio, "lag_packet": packet, "lag_at": at, "lag_kind": kind,
            "started": n_started, "stopped": n_stopped, "skipped": skipped}


# --- driving it -----------------------------------------------------------------------------


@dataclass
class Step:
    calls: int
    connected: int
    window_s: float
    cpu_s: float
    loop_cpu_s: float
    idle_s: float  # the whole machine's, all cores
    client_cpu_s: float
    lag_audio: list[float]
    lag_packet: list[float]
    lag_at: list[float]
    lag_kind: list[str]
    started: int
    stopped: int
    loops: float
    slip_p99_ms: float
    errors: int
    dropped: list[str]
    received_fps: float
    attempt: int = 1

    @property
    def busy_s(self) -> float:
        return (os.cpu_count() or 1) * self.window_s - self.idle_s

    @property
    def trend(self) -> float:
        """Slope of lag over the step (ms/s): ~0 while the server keeps up."""
        n = len(self.lag_audio)
        if n < 3:
            return math.nan
        mt, ml = sum(self.lag_at) / n, sum(self.lag_audio) / n
        var = sum((t - mt) ** 2 for t in self.lag_at)
        cov = sum((t - mt) * (x - ml) for t, x in zip(self.lag_at, self.lag_audio, strict=True))
        return cov / var if var else math.nan

    def holds(self, bar_ms: float) -> bool:
        return (pct(self.lag_audio, 99) <= bar_ms and self.connected == self.calls
                and not self.dropped and self.errors == 0 and self.stopped > 0)


def server_cmd(port: int, engines: str) -> list[str]:
    cmd = [sys.executable, "-m", "openrealtime", "serve", "--port", str(port),
           "--log-level", "warning"]
    if engines == "none":
        cmd += ["--asr-engine", "none", "--tts-engine", "none"]
    return cmd


def run_step(args: argparse.Namespace, n: int, holdback_ms: float) -> tuple[Step, str]:
    port = free_port()
    with Proc(server_cmd(port, args.engines), port) as server:
        url = f"http://127.0.0.1:{port}/v1/realtime/calls"
        shares = [n // args.clients + (i < n % args.clients) for i in range(args.clients)]
        loaders = [subprocess.Popen(
            [sys.executable, __file__, "--load", url, "--n", str(k), "--seed", str(n * 10 + i),
             "--silence-s", str(args.silence_s), "--holdback-ms", str(holdback_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for i, k in enumerate(shares) if k]
        try:
            for p in loaders:
                assert p.stdout is not None
                if not p.stdout.readline().startswith("ready"):
                    raise RuntimeError("a load process failed before its calls were up")
            w0 = time.monotonic() + args.warmup_s
            w1 = w0 + args.step_s - args.warmup_s
            for p in loaders:
                assert p.stdin is not None
                p.stdin.write(f"{w0} {w1}\n")
                p.stdin.flush()
            time.sleep(max(0.0, w0 - time.monotonic()))
            ca, la = cpu_split(server.pid)
            ia, ta = machine_idle_s(), time.monotonic()
            time.sleep(max(0.0, w1 - time.monotonic()))
            cb, lb = cpu_split(server.pid)
            ib, tb = machine_idle_s(), time.monotonic()
            outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1])
                    for p in loaders]
        finally:
            for p in loaders:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        log = server.stop()
    step = Step(
        calls=n, connected=sum(o["connected"] for o in outs), window_s=tb - ta, cpu_s=cb - ca,
        loop_cpu_s=lb - la, idle_s=ib - ia, client_cpu_s=sum(o["cpu_s"] for o in outs),
        lag_audio=[x for o in outs for x in o["lag_audio"]],
        lag_packet=[x for o in outs for x in o["lag_packet"]],
        lag_at=[x for o in outs for x in o["lag_at"]],
        lag_kind=[x for o in outs for x in o["lag_kind"]],
        started=sum(o["started"] for o in outs), stopped=sum(o["stopped"] for o in outs),
        loops=sum(o["loops"] for o in outs),
        slip_p99_ms=pct([x for o in outs for x in o["slip"]], 99) * 1000,
        errors=sum(o["errors"] for o in outs), dropped=[d for o in outs for d in o["dropped"]],
        received_fps=sum(o["received_fps"] * o["connected"] for o in outs) / max(1, sum(
            o["connected"] for o in outs)))
    return step, log


def row(s: Step, bar_ms: float) -> str:
    per = s.calls * s.window_s
    return (f"{s.calls:5d} {s.connected:5d} {100 * s.cpu_s / per:7.2f} "
            f"{100 * (s.cpu_s - s.loop_cpu_s) / max(s.cpu_s, 1e-9):6.0f} "
            f"{100 * s.client_cpu_s / s.window_s:5.0f} "
            f"{100 * s.client_cpu_s / per:6.2f} "
            f"{100 * (s.busy_s - s.cpu_s - s.client_cpu_s) / s.window_s:5.0f} "
            f"{100 * s.idle_s / s.window_s:5.0f} {pct(s.lag_audio, 50):7.1f} "
            f"{pct(s.lag_audio, 99):7.1f} {pct(s.lag_packet, 50):7.1f} "
            f"{pct(s.lag_packet, 99):7.1f} {min(s.lag_packet, default=math.nan):6.1f} "
            f"{s.trend:6.1f} {s.started:5d} {s.stopped:5d} {s.stopped / max(s.loops, 1e-9):5.2f}"
            f" {s.slip_p99_ms:6.1f} {s.received_fps:4.0f} {s.errors + len(s.dropped):4d}  "
            f"{'yes' if s.holds(bar_ms) else 'NO'}"
            + (f" (try {s.attempt})" if s.attempt > 1 else ""))


HEADER = ("    N  conn srv%/ other  cli% cli%/ rest%  idle | from the audio | from the pkt"
          "    min  trend start  stop turn/ slip99 rx/s  err  holds\n"
          "             call thrd%        call              | p50 ms  p99 ms | p50 ms p99 ms"
          "     ms   ms/s             loop   ms   fr")
LEGEND = (
    "srv%/call: server CPU per call, % of one core; other thrd%: share of it outside the "
    "event-loop thread (VAD, Opus encode/decode threads); cli%: all load processes, % of one "
    "core (cli%/call: per call); rest%: the machine's other busy CPU (other programs); idle: "
    "the machine's idle CPU, % of one core; from the audio: lag from the frame that completed "
    "the VAD frame; from the pkt: from the 4th frame after it (aiortc's jitter buffer releases "
    f"a frame then, {PREFETCH * FRAME_MS_RTP} ms later); min: smallest lag from the pkt; "
    "trend: slope of lag over the step; turn/loop: speech_stopped per clip loop per call; "
    "slip99: p99 lateness of the client tracks' frames against real time; rx/s fr: frames of "
    "the server's track each call received per second (50: real time)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=lambda s: [int(x) for x in s.split(",") if x],
                    default=[1, 5, 10, 15, 20, 30, 40])
    ap.add_argument("--step-s", type=float, default=12.0, help="seconds of calls per step")
    ap.add_argument("--warmup-s", type=float, default=3.0, help="not measured, per step")
    ap.add_argument("--silence-s", type=float, default=2.0, help="pause after the utterance")
    ap.add_argument("--clients", type=int, default=2, help="load processes")
    ap.add_argument("--engines", choices=["none", "default"], default="none",
                    help="none: --asr-engine none --tts-engine none; default: the server's")
    ap.add_argument("--bar-ms", type=float, default=120.0,
                    help="p99 lag from the audio a step may have")
    ap.add_argument("--tries", type=int, default=2)
    ap.add_argument("--load", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--holdback-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load:
        asyncio.run(load(args.load, args.n, args.seed, args.silence_s, args.holdback_ms))
        return
    began = time.monotonic()
    holdback = resampler_holdback_ms() + vad_holdback_ms()
    frames = make_clip(args.silence_s)
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; engines: "
          f"{args.engines}; {args.clients} load processes")
    print(f"clip: {len(frames) * FRAME_MS_RTP / 1000:.2f} s loop ({TEXT!r} + {args.silence_s:g} "
          f"s silence), Opus 20 ms frames; {args.step_s:g} s per step, first "
          f"{args.warmup_s:g} s not measured; resamplers hold back {holdback:.3f} ms")
    print(HEADER, flush=True)
    results: list[Step] = []
    for n in args.calls:
        for attempt in range(1, args.tries + 1):
            step, log = run_step(args, n, holdback)
            step.attempt = attempt
            results.append(step)
            print(row(step, args.bar_ms), flush=True)
            if not step.holds(args.bar_ms):
                for what in ("started", "stopped"):
                    xs = [x for x, k in zip(step.lag_audio, step.lag_kind, strict=True)
                          if k == what]
                    print(f"  speech_{what}: lag from the audio p50 {pct(xs, 50):.1f} / p99 "
                          f"{pct(xs, 99):.1f} / max {max(xs, default=math.nan):.1f} ms, "
                          f"{sum(x > args.bar_ms for x in xs)} of {len(xs)} over the bar",
                          flush=True)
            if step.dropped:
                print(f"  dropped: {step.dropped[:3]}", flush=True)
            if "Traceback" in log or "ERROR" in log:
                print(f"  server stderr (tail):\n{log[-1500:]}", flush=True)
            if step.holds(args.bar_ms):
                break
        else:
            break
    print(f"\n=== WebRTC calls, server_vad, engines {args.engines} "
          f"({time.monotonic() - began:.0f} s in all) ===")
    print(HEADER)
    for s in results:
        print(row(s, args.bar_ms))
    held = [s.calls for s in results if s.holds(args.bar_ms)]
    print(f"held: {max(held) if held else 0} calls (p99 lag from the audio <= {args.bar_ms:g} "
          f"ms, all connected, none dropped, no errors, in one of {args.tries} tries)"
          + ("; the ramp ended before the bar was passed" if results
             and results[-1].holds(args.bar_ms) else ""))
    print(LEGEND)


if __name__ == "__main__":
    main()
