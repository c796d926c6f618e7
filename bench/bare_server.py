"""The reference point: a bare Python ``websockets`` server doing the least a Realtime text turn
needs (parse JSON, answer with the §6.2 event sequence as ``json.dumps`` of dicts), optionally
with one streamed HTTP call to the LLM per turn. No validation, no state beyond a counter."""

from __future__ import annotations

import argparse
import asyncio
import json

import aiohttp
from websockets.asyncio.server import ServerConnection, serve


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--llm", default=None, help="base URL of a streaming chat endpoint")
    ap.add_argument("--chunks", type=int, default=10)
    args = ap.parse_args()
    http = aiohttp.ClientSession() if args.llm else None
    n = 0

    def eid() -> str:
        nonlocal n
        n += 1
        return f"event_{n}"

    async def deltas() -> list[str]:
        if http is None:
            return [f"word{i} " for i in range(args.chunks)]
        out = []
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(args.llm + "/chat/completions", json=body) as resp:
            async for line in resp.content:
                if line.startswith(b"data: {"):
                    c = json.loads(line[6:])
                    if c["choices"] and c["choices"][0]["delta"].get("content"):
                        out.append(c["choices"][0]["delta"]["content"])
        return out

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": eid(),
                                  "session": {"type": "realtime"}}))
        async for raw in ws:
            ev = json.loads(raw)
            t = ev["type"]
            if t == "conversation.item.create":
                item = dict(ev["item"], id=f"item_{n}", status="completed")
                for typ in ("conversation.item.added", "conversation.item.done"):
                    await ws.send(json.dumps({"type": typ, "event_id": eid(), "item": item,
                                              "previous_item_id": None}))
            elif t == "response.create":
                rid, iid = f"resp_{n}", f"item_{n}"
                await ws.send(json.dumps({"type": "response.created", "event_id": eid(),
                                          "response": {"id": rid, "status": "in_progress"}}))
                item = {"id": iid, "type": "message", "role": "assistant", "content": []}
                await ws.send(json.dumps({"type": "response.output_item.added",
                                          "event_id": eid(), "item": item}))
                await ws.send(json.dumps({"type": "conversation.item.added",
                                          "event_id": eid(), "item": item}))
                text = []
                for d in await deltas():
                    text.append(d)
                    await ws.send(json.dumps({"type": "response.output_text.delta",
                                              "event_id": eid(), "response_id": rid,
                                              "item_id": iid, "delta": d}))
                full = "".join(text)
                for typ in ("response.output_text.done", "response.content_part.done",
                            "response.output_item.done", "conversation.item.done"):
                    await ws.send(json.dumps({"type": typ, "event_id": eid(), "text": full,
                                              "response_id": rid, "item_id": iid}))
                await ws.send(json.dumps({"type": "response.done", "event_id": eid(),
                                          "response": {"id": rid, "status": "completed"}}))

    async with serve(handler, "127.0.0.1", args.port):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
