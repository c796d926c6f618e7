"""Server CPU per text turn for a beta-dialect client against a GA client, on the same server.

The beta dialect (``OpenAI-Beta: realtime=v1``) is a translation at the connection's edge onto
the GA core: every client event is translated in and every server event out. This measures what
that costs, with ``bench/turns.py``'s load shape and processes (the server, the load client and
the fake LLM each in their own process; CPU read from /proc for the server alone): a turn is
``conversation.item.create`` + ``response.create`` -> ``response.done``.

Each round starts one server and runs the GA load and the beta load against it, one after the
other (the order alternates between rounds); the medians over rounds are reported, and the
ratio beta / GA, for the echo engine (3 text deltas a turn) and a streamed HTTP LLM
(``--chunks`` deltas a turn, where translating each delta weighs most).

    python bench/beta_turns.py [--sessions 20] [--turns 200] [--rounds 5] [--chunks 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from turns import HERE, TEXT_ONLY, TURN, cpu_s, free_port, start  # noqa: E402

DIALECTS = {"GA": {}, "beta": {"OpenAI-Beta": "realtime=v1"}}


async def session(url: str, headers: dict[str, str], turns: int, lat: list[float],
                  frames: list[int]) -> None:
    async with connect(url, max_size=None, additional_headers=headers) as ws:
        await ws.recv()  # session.created
        for _ in range(turns):
            t0 = time.perf_counter()
            for frame in TURN:
                await ws.send(frame)
            n = 0
            while True:
                msg = await ws.recv()
                n += 1
                if '"response.done"' in msg[:40]:
                    break
            lat.append(time.perf_counter() - t0)
            frames.append(n)


async def load(url: str, headers: dict[str, str], sessions: int,
               turns: int) -> tuple[list[float], list[int]]:
    lat: list[float] = []
    frames: list[int] = []
    await asyncio.gather(*(session(url, headers, turns, lat, frames) for _ in range(sessions)))
    return lat, frames


def measure(pid: int, url: str, dialect: str, args: argparse.Namespace) -> dict[str, float]:
    c0, t0 = cpu_s(pid), time.perf_counter()
    lat, frames = asyncio.run(load(url, DIALECTS[dialect], args.sessions, args.turns))
    c1, t1 = cpu_s(pid), time.perf_counter()
    n = len(lat)
    lat.sort()
    return {"cpu_ms": (c1 - c0) * 1000 / n, "turns_s": n / (t1 - t0),
            "p50_ms": lat[n // 2] * 1000, "p99_ms": lat[int(n * 0.99) - 1] * 1000,
            "frames": sum(frames) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--turns", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=10)
    args = ap.parse_args()
    llm_port = free_port()
    llm = start([sys.executable, str(HERE / "fake_llm.py"), "--port", str(llm_port),
                 "--chunks", str(args.chunks)], llm_port)
    targets = {"echo": [], "HTTP LLM": ["--llm-base-url", f"http://127.0.0.1:{llm_port}/v1"]}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for r in range(args.rounds):
            for target, extra in targets.items():
                port = free_port()
                server = start([sys.executable, "-m", "openrealtime", "serve", "--port",
                                str(port), "--log-level", "warning", *TEXT_ONLY, *extra], port)
                try:
                    url = f"ws://127.0.0.1:{port}/v1/realtime"
                    for headers in DIALECTS.values():  # warm up both paths
                        asyncio.run(load(url, headers, 4, 5))
                    order = list(DIALECTS) if r % 2 == 0 else list(DIALECTS)[::-1]
                    for dialect in order:
                        results.setdefault((target, dialect), []).append(
                            measure(server.pid, url, dialect, args))
                finally:
                    server.terminate()
                    server.wait()
    finally:
        llm.terminate()
        llm.wait()
    med = {key: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
           for key, rs in results.items()}
    print(f"{args.sessions} sessions x {args.turns} turns per dialect, median of {args.rounds} "
          f"rounds (one server per round and target, both dialects against it)")
    print(f"{'target':10} {'dialect':7} {'cpu ms/turn':>11} {'turns/s':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'frames/turn':>11}")
    for (target, dialect), m in med.items():
        print(f"{target:10} {dialect:7} {m['cpu_ms']:11.3f} {m['turns_s']:8.0f} "
              f"{m['p50_ms']:7.2f} {m['p99_ms']:7.2f} {m['frames']:11.1f}")
    for target in targets:
        ratios = [b["cpu_ms"] / g["cpu_ms"] for g, b in zip(
            results[(target, "GA")], results[(target, "beta")], strict=True)]
        print(f"CPU ratio beta / GA, {target}: {statistics.median(ratios):.2f}x (median of "
              f"per-round ratios; range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
