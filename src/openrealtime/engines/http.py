"""What every OpenAI-compatible HTTP engine shares: one pooled aiohttp session per engine
(keep-alive saves a handshake per request), a bearer key, a read timeout rather than a total one
(a long reply may stream for long; a silent server may not), and reading an error body."""

from __future__ import annotations

import aiohttp
import msgspec

_json = msgspec.json.Decoder()


class PooledClient:
    def __init__(self, *, api_key: str | None, connect_timeout: float,
                 read_timeout: float, content_type: str | None = "application/json") -> None:
        self.headers: dict[str, str] = {}
        if content_type:
            self.headers["Content-Type"] = content_type
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0))
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()


def error_message(body: bytes) -> str:
    """OpenAI's ``{"error": {"message"}}``, FastAPI's ``{"detail"}``, or the body's start."""
    try:
        obj = _json.decode(body)
    except msgspec.DecodeError:
        return body[:300].decode(errors="replace")
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:300]
        if "detail" in obj:
            return str(obj["detail"])[:300]
    return str(obj)[:300]
