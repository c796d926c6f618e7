"""Shared fixtures: the fixture LLM backend, a running openrealtime server, and a checked client.

Every server event a test receives through ``RealtimeClient`` is validated the way
openai-agents validates it (``TypeAdapter(RealtimeServerEvent)`` from openai-python) and its
frame is checked against the 1 MiB limit of the official clients.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from audio_backends import ASRBackend, TTSBackend, asr_backend, tts_backend
from llm_backend import LLMBackend

from openrealtime.app import build_app, ssl_context
from openrealtime.config import Settings
from openrealtime.engines import openai_chat

__all__ = ["asr_backend", "tts_backend"]  # fixtures, registered by being imported here

MIB = 1024 * 1024
TIMEOUT = 5.0  # seconds for any single await in these tests
API_KEY = "test-server-key"


# --- event validation -----------------------------------------------------------------------


@functools.cache
def _server_event_adapter() -> Any:
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    return TypeAdapter(RealtimeServerEvent)


def check_server_frame(raw: str | bytes) -> dict[str, Any]:
    """Decode one server frame and check it as the strictest client would; return the dict."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    assert size < MIB, f"server frame of {size} bytes exceeds 1 MiB"
    event = json.loads(raw)
    assert isinstance(event, dict), event
    # openai-agents turns ``previous_item_id: null`` into "" before validating; we do not,
    # so that a null the SDK models refuse would show here.
    model = _server_event_adapter().validate_python(event)
    assert model.type == event["type"], event
    assert isinstance(event.get("event_id"), str) and event["event_id"], event
    return event


# --- the backend and the server -------------------------------------------------------------


@pytest.fixture
async def backend(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LLMBackend]:
    # Retries keep their logic but not their wait: the suite must stay fast.
    monkeypatch.setattr(openai_chat, "RETRY_DELAYS", (0.0, 0.0))
    server = LLMBackend()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@dataclass
class RunningServer:
    port: int
    backend: LLMBackend | None = None
    """The fixture LLM behind it; None for a server on a built-in LLM engine."""
    api_key: str | None = None

    @property
    def ws_base(self) -> str:
        """What openai-python takes as ``websocket_base_url``."""
        return f"ws://127.0.0.1:{self.port}/v1"

    @property
    def realtime_url(self) -> str:
        return f"{self.ws_base}/realtime?model=gpt-realtime"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def run_server(settings: Settings) -> AsyncIterator[int]:
    runner = web.AppRunner(build_app(settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context(settings))
        await site.start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def server_settings(backend: LLMBackend, **overrides: Any) -> Settings:
    """A text-only server on the fixture LLM: the embedded speech engines stay off unless a
    test turns them on, so sessions default to text output as they do without a TTS."""
    values: dict[str, Any] = {
        "port": 0, "llm_base_url": backend.url + "/v1", "llm_model": "test-model",
        "llm_api_key": "backend-key", "asr_engine": "none", "tts_engine": "none", **overrides}
    return Settings(**values)


@pytest.fixture
async def server(backend: LLMBackend) -> AsyncIterator[RunningServer]:
    async with run_server(server_settings(backend)) as port:
        yield RunningServer(port, backend)


@dataclass
class AudioServer(RunningServer):
    tts: TTSBackend | None = None
    asr: ASRBackend | None = None


@pytest.fixture
async def audio_server(backend: LLMBackend, tts_backend: TTSBackend,
                       asr_backend: ASRBackend) -> AsyncIterator[AudioServer]:
    """The server with real HTTP speech-to-text and text-to-speech backends behind it."""
    settings = server_settings(backend, asr_engine="openai", asr_base_url=asr_backend.url,
                               asr_model="test-asr", tts_engine="openai",
                               tts_base_url=tts_backend.url, tts_model="test-tts")
    async with run_server(settings) as port:
        yield AudioServer(port, backend, tts=tts_backend, asr=asr_backend)


@pytest.fixture
async def secured_server(backend: LLMBackend) -> AsyncIterator[RunningServer]:
    async with run_server(server_settings(backend, api_key=API_KEY)) as port:
        yield RunningServer(port, backend, api_key=API_KEY)


# --- a checked client on openai-python ------------------------------------------------------


@dataclass
class RealtimeClient:
    """openai-python's realtime connection, with every received event checked and kept."""

    conn: Any
    events: list[dict[str, Any]] = field(default_factory=list)

    async def recv(self, wait: float = TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(wait):
            raw = await self.conn.recv_bytes()
        event = check_server_frame(raw)
        self.events.append(event)
        return event

    async def recv_until(self, kind: str, wait: float = TIMEOUT) -> list[dict[str, Any]]:
        """Events up to and including the next one of type ``kind``."""
        out = []
        async with asyncio.timeout(wait):
            while True:
                event = await self.recv(wait)
                out.append(event)
                if event["type"] == kind:
                    return out

    async def send(self, event: dict[str, Any]) -> None:
        """Send through the SDK's own (typed) path."""
        async with asyncio.timeout(TIMEOUT):
            await self.conn.send(event)

    async def send_raw(self, frame: str | bytes) -> None:
        """Send a frame as is, past the SDK's serialisation."""
        async with asyncio.timeout(TIMEOUT):
            await self.conn._connection.send(frame)


@asynccontextmanager
async def realtime_client(server: RunningServer, *, api_key: str = "k",
                          model: str | None = "gpt-realtime", created: bool = True,
                          **connect_options: Any) -> AsyncIterator[RealtimeClient]:
    """Connect with openai-python and (``created``) read ``session.created``.

    ``connect_options`` go to ``client.realtime.connect`` (``extra_query``, ``call_id``).
    """
    from openai import AsyncOpenAI

    openai_client = AsyncOpenAI(api_key=api_key, base_url=f"{server.http_base}/v1",
                                websocket_base_url=server.ws_base)
    if model is not None:
        connect_options["model"] = model
    try:
        async with asyncio.timeout(TIMEOUT):
            manager = openai_client.realtime.connect(**connect_options)
            conn = await manager.__aenter__()
        try:
            client = RealtimeClient(conn)
            if created:
                first = await client.recv()
                assert first["type"] == "session.created", first
            yield client
        finally:
            async with asyncio.timeout(TIMEOUT):
                await manager.__aexit__(None, None, None)
    finally:
        await openai_client.close()


@pytest.fixture
def connect() -> Any:
    """``async with connect(server) as client:`` opens a checked openai-python connection."""
    return realtime_client


@pytest.fixture
def check_frame() -> Any:
    """The server-frame check, for tests that read frames without ``RealtimeClient``."""
    return check_server_frame
