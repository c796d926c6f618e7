"""TLS: ``--ssl-certfile``/``--ssl-keyfile`` serve wss:// that openai-python connects to with
full certificate verification; a bad certificate stops the start with one line."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from conftest import TIMEOUT, RunningServer, run_server, server_settings
from llm_backend import LLMBackend
from test_config import one_line, run_cli
from tls_certs import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


async def test_openai_sdk_talks_over_wss_with_a_verified_certificate(
        backend: LLMBackend, certs: Certs) -> None:
    from openai import AsyncOpenAI

    settings = server_settings(backend, ssl_certfile=str(certs.cert),
                               ssl_keyfile=str(certs.key))
    trust = ssl.create_default_context(cafile=str(certs.ca))
    async with run_server(settings) as port:
        server = RunningServer(port, backend)
        client = AsyncOpenAI(api_key="k", base_url=f"https://localhost:{port}/v1",
                             websocket_base_url=f"wss://localhost:{port}/v1")
        try:
            async with client.realtime.connect(
                    model="gpt-realtime", websocket_connection_options={"ssl": trust}) as conn:
                created = await conn.recv()
                assert created.type == "session.created"
                await conn.conversation.item.create(item={
                    "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "say: secure"}]})
                await conn.response.create()
                text = ""
                async for event in conn:
                    if event.type == "response.output_text.delta":
                        text += event.delta
                    if event.type == "response.done":
                        break
        finally:
            await client.close()
        assert text == "secure"
        # Plain HTTP to the TLS port gets no Realtime session.
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{server.port}/healthz",
                                    timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
                    await resp.read()


def test_a_certificate_that_is_not_one_stops_the_start(tmp_path: Path) -> None:
    bogus = tmp_path / "cert.pem"
    bogus.write_text("not a certificate\n", encoding="utf-8")
    proc = run_cli("serve", "--ssl-certfile", str(bogus), "--port", "0",
                   "--asr-engine", "none", "--tts-engine", "none")
    assert proc.returncode == 2, proc
    line = one_line(proc.stderr)
    assert "TLS certificate" in line and str(bogus) in line
