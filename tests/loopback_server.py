"""The lifecycle every test backend shares: a real aiohttp server on a free loopback port,
whose handler is cancelled when its client disconnects (that is how "hang" modes notice)."""

from __future__ import annotations

import asyncio

from aiohttp import web


class LoopbackServer:
    path = ""
    """The one POST route the backend serves."""
    url_suffix = ""
    """What its base URL ends in (engines that take ``…/v1`` get ``/v1``)."""

    def __init__(self) -> None:
        self.hanging = asyncio.Event()  # a "hang" request is waiting for its client
        self.disconnected = asyncio.Event()  # ...and that client went away
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_suffix}"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def _hang(self) -> None:
        """Wait until the client goes (or the backend closes)."""
        self.hanging.set()
        try:
            await self._release.wait()
        except asyncio.CancelledError:
            self.disconnected.set()
            raise
