"""Ephemeral keys end to end: minted over real HTTP (openai-python and aiohttp), then used to
open sessions whose pinned configuration shows in ``session.created``.

Every answer is validated with openai-python's own pydantic models (the SDK itself builds its
results without validating them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from conftest import (
    API_KEY,
    TIMEOUT,
    RunningServer,
    check_server_frame,
    realtime_client,
    run_server,
    server_settings,
)
from llm_backend import LLMBackend
from websockets.asyncio.client import connect as ws_connect

from openrealtime.transports.keys import KeyClaims, KeySigner

openai = pytest.importorskip("openai")
from openai.types.beta.realtime import SessionCreateResponse, TranscriptionSession  # noqa: E402
from openai.types.realtime import ClientSecretCreateResponse  # noqa: E402

Json = dict[str, Any]
SECRET = "replica-secret"
PINNED = {"type": "realtime", "instructions": "You are the pinned assistant.",
          "output_modalities": ["text"],
          "audio": {"input": {"turn_detection": None},
                    "output": {"voice": "cedar", "speed": 1.25}}}
UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def sdk(server: RunningServer, api_key: str = API_KEY) -> Any:
    return openai.AsyncOpenAI(api_key=api_key, base_url=f"{server.http_base}/v1",
                              websocket_base_url=server.ws_base, max_retries=0)


async def post(server: RunningServer, path: str, body: Json | str,
               key: str | None = API_KEY) -> tuple[int, Json]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = body if isinstance(body, str) else json.dumps(body)
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT):
        async with http.post(f"{server.http_base}/v1/realtime/{path}", data=data,
                             headers={**headers, "Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json()


async def refusal(url: str, key: str) -> tuple[int, Json]:
    """The handshake's answer to ``key``: status and OpenAI error body."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT):
        async with http.get(url, headers={**UPGRADE, "Authorization": f"Bearer {key}"}) as resp:
            return resp.status, await resp.json()


@asynccontextmanager
async def keyed_server(backend: LLMBackend, **settings: Any) -> AsyncIterator[RunningServer]:
    async with run_server(server_settings(backend, **settings)) as port:
        yield RunningServer(port, backend, api_key=settings.get("api_key"))


@pytest.fixture
async def secured(backend: LLMBackend) -> AsyncIterator[RunningServer]:
    async with keyed_server(backend, api_key=API_KEY, ephemeral_key_secret=SECRET) as server:
        yield server


# --- GA client_secrets ------------------------------------------------------------------------


async def test_sdk_mints_a_ga_key_and_the_session_starts_pinned(secured: RunningServer) -> None:
    client = sdk(secured)
    try:
        minted = await client.realtime.client_secrets.create(
            session=PINNED, expires_after={"anchor": "created_at", "seconds": 120})
    finally:
        await client.close()
    assert minted.value.startswith("ek_")
    assert abs(minted.expires_at - (time.time() + 120)) < 5
    shown = minted.session
    assert (shown.type, shown.object, shown.instructions) == (
        "realtime", "realtime.session", PINNED["instructions"])
    assert shown.id.startswith("sess_")

    async with realtime_client(secured, api_key=minted.value) as conn:
        created = conn.events[0]["session"]
        assert created["instructions"] == PINNED["instructions"]
        assert created["output_modalities"] == ["text"]
        assert created["audio"]["input"]["turn_detection"] is None
        assert created["audio"]["output"]["voice"] == "cedar"
        assert created["audio"]["output"]["speed"] == 1.25
        # The key's session is a working one, and the model hears the pinned instructions.
        await conn.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "say: pinned"}]}})
        await conn.send({"type": "response.create"})
        done = (await conn.recv_until("response.done"))[-1]
        assert done["response"]["status"] == "completed"
    system = secured.backend.last["messages"][0]  # type: ignore[union-attr]
    assert PINNED["instructions"] in system["content"]


async def test_the_answer_is_openai_shaped_and_matches_the_session(
        secured: RunningServer) -> None:
    status, body = await post(secured, "client_secrets", {"session": PINNED})
    assert status == 200, body
    answer = ClientSecretCreateResponse.model_validate(body)
    assert answer.expires_at - time.time() == pytest.approx(600, abs=5)  # OpenAI's default
    async with realtime_client(secured, api_key=answer.value) as conn:
        created = conn.events[0]["session"]
    # What the mint answer shows is what the session starts with (bar its own id and clock).
    for field in ("id", "expires_at"):
        body["session"].pop(field), created.pop(field)
    assert created == body["session"]


async def test_a_key_without_session_opens_the_default_session(secured: RunningServer) -> None:
    status, body = await post(secured, "client_secrets", "")
    assert status == 200, body
    ClientSecretCreateResponse.model_validate(body)
    async with realtime_client(secured, api_key=body["value"], model="gpt-realtime-mini") as c:
        assert c.events[0]["session"]["model"] == "gpt-realtime-mini"  # the URL decides


async def test_the_browser_subprotocol_carries_an_ephemeral_key(secured: RunningServer) -> None:
    _, body = await post(secured, "client_secrets", {"session": PINNED})
    async with asyncio.timeout(TIMEOUT), ws_connect(
            secured.realtime_url,
            subprotocols=["realtime", f"openai-insecure-api-key.{body['value']}"]) as ws:
        assert ws.subprotocol == "realtime"
        created = check_server_frame(await ws.recv())
    assert created["session"]["instructions"] == PINNED["instructions"]


async def test_a_transcription_key_pins_the_session_type(secured: RunningServer) -> None:
    pinned = {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-4o-transcribe", "language": "de"}}}}
    status, body = await post(secured, "client_secrets", {"session": pinned})
    assert status == 200, body
    answer = ClientSecretCreateResponse.model_validate(body)
    assert answer.session.type == "transcription"
    key = answer.value
    url = f"{secured.ws_base}/realtime?intent=transcription"
    async with asyncio.timeout(TIMEOUT), ws_connect(
            url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        created = check_server_frame(await ws.recv())
    assert created["session"]["type"] == "transcription"
    transcription = created["session"]["audio"]["input"]["transcription"]
    assert (transcription["model"], transcription["language"]) == ("gpt-4o-transcribe", "de")
    # Not a key for a speech-to-speech session.
    status, err = await refusal(secured.realtime_url, key)
    assert status == 401 and "transcription session" in err["error"]["message"]


# --- beta sessions and transcription_sessions --------------------------------------------------


async def test_sdk_mints_a_beta_session_key(secured: RunningServer) -> None:
    client = sdk(secured)
    try:
        raw = await client.beta.realtime.sessions.with_raw_response.create(
            model="gpt-4o-realtime-preview", modalities=["text"], instructions="Beta pinned.",
            voice="verse", input_audio_format="g711_ulaw", tool_choice="none",
            temperature=0.7,
            client_secret={"expires_after": {"anchor": "created_at", "seconds": 60}})
        body = json.loads(raw.text)
        answer = SessionCreateResponse.model_validate(body)
        assert answer.client_secret.value.startswith("ek_")
        assert abs(answer.client_secret.expires_at - (time.time() + 60)) < 5
        assert (answer.modalities, answer.instructions, answer.voice) == (
            ["text"], "Beta pinned.", "verse")
        assert (answer.input_audio_format, answer.temperature) == ("g711_ulaw", 0.7)
        assert body["model"] == "gpt-4o-realtime-preview"

        beta = openai.AsyncOpenAI(api_key=answer.client_secret.value,
                                  base_url=f"{secured.http_base}/v1",
                                  websocket_base_url=secured.ws_base)
        try:
            async with asyncio.timeout(TIMEOUT), beta.beta.realtime.connect(
                    model="gpt-4o-realtime-preview") as conn:
                created = json.loads(await conn.recv_bytes())
        finally:
            await beta.close()
    finally:
        await client.close()
    assert created["type"] == "session.created"
    assert created["session"]["instructions"] == "Beta pinned."
    assert created["session"]["input_audio_format"] == "g711_ulaw"


async def test_sdk_mints_a_beta_transcription_key(secured: RunningServer) -> None:
    client = sdk(secured)
    try:
        raw = await client.beta.realtime.transcription_sessions.with_raw_response.create(
            input_audio_transcription={"model": "whisper-1", "language": "fr"},
            turn_detection={"type": "server_vad", "silence_duration_ms": 700},
            client_secret={"expires_at": {"anchor": "created_at", "seconds": 30}})
    finally:
        await client.close()
    body = json.loads(raw.text)
    answer = TranscriptionSession.model_validate(body)
    assert answer.client_secret.value.startswith("ek_")
    assert answer.input_audio_transcription is not None
    assert answer.input_audio_transcription.language == "fr"
    assert answer.turn_detection is not None and answer.turn_detection.silence_duration_ms == 700
    assert body["object"] == "realtime.transcription_session"


# --- refusals ---------------------------------------------------------------------------------


async def test_expired_forged_and_garbage_keys_are_refused_before_upgrade(
        secured: RunningServer) -> None:
    now = int(time.time())
    expired = KeySigner(SECRET.encode()).mint(KeyClaims(exp=now - 1))
    forged = KeySigner(b"someone-else").mint(KeyClaims(exp=now + 600))
    for key, reason in ((expired, "expired"), (forged, "signature"),
                        ("ek_garbage", "signature"), ("sk-wrong", "Incorrect API key")):
        status, body = await refusal(secured.realtime_url, key)
        assert status == 401, key
        assert body["error"]["code"] == "invalid_api_key"
        assert body["error"]["type"] == "invalid_request_error"
        assert reason in body["error"]["message"]


async def test_an_open_server_still_refuses_a_bad_ephemeral_key(server: RunningServer) -> None:
    status, body = await refusal(server.realtime_url, "ek_garbage")
    assert status == 401, body
    # ...and anyone may mint there.
    status, body = await post(server, "client_secrets", {}, key=None)
    assert status == 200, body
    async with realtime_client(server, api_key=body["value"]) as conn:
        assert conn.events[0]["type"] == "session.created"


async def test_minting_needs_the_api_key(secured: RunningServer) -> None:
    _, minted = await post(secured, "client_secrets", {})
    for path in ("client_secrets", "sessions", "transcription_sessions"):
        for key in (None, "wrong", minted["value"]):  # an ephemeral key cannot mint another
            status, body = await post(secured, path, {}, key=key)
            assert status == 401, (path, key)
            assert body["error"]["code"] == "invalid_api_key"
    client = sdk(secured, api_key="wrong")
    try:
        with pytest.raises(openai.AuthenticationError):
            await client.realtime.client_secrets.create()
    finally:
        await client.close()


@pytest.mark.parametrize(("path", "body", "code", "param"), [
    ("client_secrets", {"session": {"type": "realtime", "output_modalities": ["text", "audio"]}},
     "invalid_value", "session.output_modalities"),
    ("client_secrets", {"session": {"type": "realtime", "modalities": ["text"]}},
     "unknown_parameter", "session.modalities"),
    ("client_secrets", {"session": {"instructions": "no type"}},
     "missing_required_parameter", "session.type"),
    ("client_secrets", {"session": {"type": "realtime", "tool_choice": {
        "type": "function", "name": "nope"}}}, "invalid_value", "session.tool_choice.name"),
    ("client_secrets", {"expires_after": {"anchor": "created_at", "seconds": 5}},
     "invalid_value", "expires_after.seconds"),
    ("client_secrets", {"expires_after": {"anchor": "now"}}, "invalid_value",
     "expires_after.anchor"),
    ("client_secrets", {"ttl": 5}, "unknown_parameter", "ttl"),
    ("client_secrets", "{not json", "invalid_json", None),
    ("sessions", {"input_audio_format": "mp3"}, "invalid_value", "input_audio_format"),
    ("sessions", {"max_response_output_tokens": 0}, "invalid_value",
     "max_response_output_tokens"),
    ("sessions", {"voice": 7}, "invalid_type", "voice"),
    ("sessions", {"temperature": 2}, "invalid_value", "temperature"),
    ("sessions", {"client_secret": {"expires_after": {"anchor": "created_at",
                                                      "seconds": 7201}}},
     "invalid_value", "client_secret.expires_after.seconds"),
    ("transcription_sessions", {"input_audio_transcription": {"model": 1}}, "invalid_type",
     "input_audio_transcription.model"),
])
async def test_a_bad_request_is_a_400_naming_the_param(
        secured: RunningServer, path: str, body: Json | str, code: str,
        param: str | None) -> None:
    status, answer = await post(secured, path, body)
    assert status == 400, answer
    error = answer["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"]
    if param is not None and code != "invalid_value":
        assert f"'{param}'" in error["message"]


async def test_the_sdk_surfaces_a_400(secured: RunningServer) -> None:
    client = sdk(secured)
    try:
        with pytest.raises(openai.BadRequestError) as info:
            await client.realtime.client_secrets.create(
                session={"type": "realtime", "output_modalities": ["text", "audio"]})
    finally:
        await client.close()
    assert info.value.param == "session.output_modalities"


# --- replicas ---------------------------------------------------------------------------------


async def test_replicas_sharing_a_secret_or_an_api_key_accept_each_others_keys(
        backend: LLMBackend) -> None:
    async with keyed_server(backend, ephemeral_key_secret=SECRET) as a, \
            keyed_server(backend, ephemeral_key_secret=SECRET) as b, \
            keyed_server(backend, ephemeral_key_secret="another") as c:
        _, minted = await post(a, "client_secrets", {"session": PINNED}, key=None)
        async with realtime_client(b, api_key=minted["value"]) as conn:
            assert conn.events[0]["session"]["instructions"] == PINNED["instructions"]
        status, _ = await refusal(c.realtime_url, minted["value"])
        assert status == 401
    # No secret configured: derived from the API key, so replicas sharing it agree.
    async with keyed_server(backend, api_key=API_KEY) as a, \
            keyed_server(backend, api_key=API_KEY) as b:
        _, minted = await post(a, "client_secrets", {"session": PINNED})
        async with realtime_client(b, api_key=minted["value"]) as conn:
            assert conn.events[0]["session"]["instructions"] == PINNED["instructions"]
