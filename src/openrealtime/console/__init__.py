"""The browser console: a static page at ``/`` that talks to ``/v1/realtime`` like an SDK."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
# Revalidate on every load, so an upgraded server never runs a stale script from the cache.
NO_CACHE = {"Cache-Control": "no-cache"}


async def index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=NO_CACHE)


async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    # Only the files shipped beside the page: no path from the URL reaches the file system.
    if name not in {p.name for p in STATIC.iterdir()}:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers=NO_CACHE)


def add_console_routes(app: web.Application) -> None:
    """``GET /`` is the page; its script and style sheet are under ``/console/``."""
    app.router.add_get("/", index)
    app.router.add_get("/console/{name}", asset)
