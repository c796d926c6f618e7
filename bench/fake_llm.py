"""A minimal OpenAI-compatible streaming chat endpoint for benchmarks (runs in its own process,
so its CPU is not counted against the server under test)."""

from __future__ import annotations

import argparse
import json

from aiohttp import web


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--chunks", type=int, default=10)
    args = ap.parse_args()
    words = [f"word{i} " for i in range(args.chunks)]
    frames = [
        b"data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"content": w}, "finish_reason": None}]}).encode() + b"\n\n"
        for w in words
    ]
    frames.append(b"data: " + json.dumps({"id": "c", "choices": [
        {"index": 0, "delta": {}, "finish_reason": "stop"}]}).encode() + b"\n\n")
    frames.append(b"data: " + json.dumps({"id": "c", "choices": [], "usage": {
        "prompt_tokens": 20, "completion_tokens": args.chunks, "total_tokens": 30}}).encode()
        + b"\n\n")
    frames.append(b"data: [DONE]\n\n")

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for f in frames:
            await resp.write(f)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
