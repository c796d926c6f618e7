"""Server CPU per text turn: openrealtime against a bare ``websockets`` server.

Each server runs in its own process; the load client and the fake LLM run in others, so the
CPU read from /proc for the server process is the server's alone. A turn is
``conversation.item.create`` + ``response.create`` → ``response.done`` (10 text deltas).

    python bench/turns.py [--sessions 20] [--turns 40] [--rounds 3]

Reports, per target, the median over rounds of server CPU ms per turn, turns/s and p50/p99 turn
latency, and the ratio of each to the bare server. A second part checks that per-turn CPU does
not grow with conversation length (the first and last 400 turns of a 1500-turn session).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from procs import cpu_s, free_port, wait_port
from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent
GROWTH_TURNS, GROWTH_SPAN = 1500, 400
TURN = [
    json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}),
    json.dumps({"type": "response.create"}),
]


def start(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


async def session(url: str, turns: int, lat: list[float]) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.recv()  # session.created
        for _ in range(turns):
            t0 = time.perf_counter()
            for frame in TURN:
                await ws.send(frame)
            while True:
                msg = await ws.recv()
                if '"response.done"' in msg[:40]:
                    break
            lat.append(time.perf_counter() - t0)


async def load(url: str, sessions: int, turns: int) -> list[float]:
    lat: list[float] = []
    await asyncio.gather(*(session(url, turns, lat) for _ in range(sessions)))
    return lat


def measure(cmd: list[str], port: int, path: str, args: argparse.Namespace) -> dict[str, float]:
    proc = start(cmd, port)
    try:
        url = f"ws://127.0.0.1:{port}{path}"
        asyncio.run(load(url, 4, 5))  # warm up
        c0, t0 = cpu_s(proc.pid), time.perf_counter()
        lat = asyncio.run(load(url, args.sessions, args.turns))
        c1, t1 = cpu_s(proc.pid), time.perf_counter()
    finally:
        proc.terminate()
        proc.wait()
    n = len(lat)
    lat.sort()
    return {"cpu_ms": (c1 - c0) * 1000 / n, "turns_s": n / (t1 - t0),
            "p50_ms": lat[n // 2] * 1000, "p99_ms": lat[int(n * 0.99) - 1] * 1000}


# Text turns against a text server: the default speech engines would speak every reply.
TEXT_ONLY = ("--asr-engine", "none", "--tts-engine", "none")


def growth(args: argparse.Namespace) -> tuple[float, float]:
    port = free_port()
    proc = start([sys.executable, "-m", "openrealtime", "serve", "--port", str(port),
                  "--log-level", "warning", *TEXT_ONLY], port)
    try:
        async def run() -> tuple[float, float]:
            async with connect(f"ws://127.0.0.1:{port}/v1/realtime", max_size=None) as ws:
                await ws.recv()
                marks = []
                for i in range(GROWTH_TURNS):
                    if i in (0, GROWTH_SPAN, GROWTH_TURNS - GROWTH_SPAN):
                        marks.append(cpu_s(proc.pid))
                    for frame in TURN:
                        await ws.send(frame)
                    while '"response.done"' not in (await ws.recv())[:40]:
                        pass
                marks.append(cpu_s(proc.pid))
                per_turn = 1000 / GROWTH_SPAN
                return (marks[1] - marks[0]) * per_turn, (marks[3] - marks[2]) * per_turn
        return asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--turns", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=10)
    args = ap.parse_args()
    llm_port = free_port()
    llm = start([sys.executable, str(HERE / "fake_llm.py"), "--port", str(llm_port),
                 "--chunks", str(args.chunks)], llm_port)
    llm_url = f"http://127.0.0.1:{llm_port}/v1"
    py = sys.executable

    def targets(port: int) -> dict[str, tuple[list[str], str]]:
        ours = [py, "-m", "openrealtime", "serve", "--port", str(port), "--log-level", "warning",
                *TEXT_ONLY]
        bare = [py, str(HERE / "bare_server.py"), "--port", str(port), "--chunks",
                str(args.chunks)]
        return {
            "bare websockets": (bare, "/"),
            "openrealtime (echo)": (ours, "/v1/realtime"),
            "bare websockets + HTTP LLM": (bare + ["--llm", llm_url], "/"),
            "openrealtime + HTTP LLM": (ours + ["--llm-base-url", llm_url], "/v1/realtime"),
        }

    try:
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for name, (cmd, path) in targets(free_port()).items():
                port = int(cmd[cmd.index("--port") + 1])
                results.setdefault(name, []).append(measure(cmd, port, path, args))
        med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
               for name, rs in results.items()}
        print(f"{args.sessions} sessions x {args.turns} turns, {args.chunks} deltas/turn, "
              f"median of {args.rounds} rounds")
        print(f"{'target':30} {'cpu ms/turn':>11} {'turns/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
        for name, m in med.items():
            print(f"{name:30} {m['cpu_ms']:11.3f} {m['turns_s']:8.0f} {m['p50_ms']:7.2f} "
                  f"{m['p99_ms']:7.2f}")
        for ours, bare in (("openrealtime (echo)", "bare websockets"),
                           ("openrealtime + HTTP LLM", "bare websockets + HTTP LLM")):
            print(f"CPU ratio {ours} / {bare}: {med[ours]['cpu_ms'] / med[bare]['cpu_ms']:.2f}x")
        early, late = growth(args)
        print(f"one session, {GROWTH_TURNS} turns: cpu ms/turn first {GROWTH_SPAN} turns "
              f"{early:.3f}, last {GROWTH_SPAN} {late:.3f} (ratio {late / early:.2f}x)")
    finally:
        llm.terminate()
        llm.wait()


if __name__ == "__main__":
    main()
