"""Wiring: settings -> engines -> the aiohttp application with its routes."""

from __future__ import annotations

import logging

from aiohttp import web

from .config import Settings
from .engines.echo import EchoLLM
from .engines.llm import LLM
from .engines.openai_chat import OpenAIChatLLM
from .runtime.driver import Engines
from .transports.websocket import realtime_handler

log = logging.getLogger(__name__)


def build_llm(settings: Settings) -> LLM:
    if settings.llm_base_url:
        return OpenAIChatLLM(settings.llm_base_url, model=settings.llm_model,
                             api_key=settings.llm_api_key)
    return EchoLLM()


def describe_llm(settings: Settings) -> str:
    if settings.llm_base_url:
        model = settings.llm_model or "the session's model name"
        return f"OpenAI-compatible chat at {settings.llm_base_url} (model: {model})"
    return "echo (replies with what it heard; set --llm-base-url for a real model)"


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(settings: Settings, engines: Engines | None = None) -> web.Application:
    engines = engines or Engines(llm=build_llm(settings))
    app = web.Application()
    app.router.add_get("/v1/realtime", realtime_handler(engines, settings.api_key))
    app.router.add_get("/healthz", healthz)

    async def close_engines(_app: web.Application) -> None:
        await engines.llm.aclose()

    app.on_cleanup.append(close_engines)
    return app
