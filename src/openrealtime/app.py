"""Wiring: settings -> engines -> the aiohttp application with its routes."""

from __future__ import annotations

import logging

from aiohttp import web

from .config import Settings
from .engines.echo import EchoLLM
from .engines.llm import LLM
from .engines.openai_chat import OpenAIChatLLM
from .engines.openai_speech import OpenAISpeech
from .engines.openai_transcribe import OpenAITranscriber
from .engines.silero import SileroVad
from .engines.stt import Transcriber
from .engines.tts import Synthesizer
from .runtime.driver import Engines
from .runtime.vad_worker import VadWorker
from .transports.websocket import realtime_handler

log = logging.getLogger(__name__)


def build_llm(settings: Settings) -> LLM:
    if settings.llm_base_url:
        return OpenAIChatLLM(settings.llm_base_url, model=settings.llm_model,
                             api_key=settings.llm_api_key)
    return EchoLLM()


def build_stt(settings: Settings) -> Transcriber | None:
    if settings.asr_base_url:
        return OpenAITranscriber(settings.asr_base_url, model=settings.asr_model,
                                 api_key=settings.asr_api_key)
    return None


def build_tts(settings: Settings) -> Synthesizer | None:
    if settings.tts_base_url:
        return OpenAISpeech(settings.tts_base_url, model=settings.tts_model or "tts-1",
                            api_key=settings.tts_api_key)
    return None


def build_engines(settings: Settings) -> Engines:
    # One VAD model for the whole server; every session's frames are batched through it.
    return Engines(llm=build_llm(settings), vad=VadWorker(SileroVad()),
                   stt=build_stt(settings), tts=build_tts(settings))


def describe_engines(settings: Settings) -> list[str]:
    stt = (f"OpenAI-compatible transcription at {settings.asr_base_url}"
           if settings.asr_base_url else "none (set --asr-base-url)")
    tts = (f"OpenAI-compatible speech at {settings.tts_base_url}"
           if settings.tts_base_url else "none: replies are text only (set --tts-base-url)")
    return [f"LLM: {describe_llm(settings)}", "VAD: Silero (onnxruntime, shared)",
            f"speech-to-text: {stt}", f"text-to-speech: {tts}"]


def describe_llm(settings: Settings) -> str:
    if settings.llm_base_url:
        model = settings.llm_model or "the session's model name"
        return f"OpenAI-compatible chat at {settings.llm_base_url} (model: {model})"
    return "echo (replies with what it heard; set --llm-base-url for a real model)"


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(settings: Settings, engines: Engines | None = None) -> web.Application:
    engines = engines or build_engines(settings)
    app = web.Application()
    app.router.add_get("/v1/realtime", realtime_handler(engines, settings.api_key))
    app.router.add_get("/healthz", healthz)

    async def close_engines(_app: web.Application) -> None:
        await engines.llm.aclose()
        for engine in (engines.vad, engines.stt, engines.tts):
            if engine is not None:
                await engine.aclose()

    app.on_cleanup.append(close_engines)
    return app
