"""Wiring: settings -> engines -> the aiohttp application with its routes."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web

from .config import Settings, SettingsError
from .console import add_console_routes
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
from .session.config import Capabilities
from .session.limits import Limits
from .transports.admission import Admission
from .transports.keys import KeySigner, signing_secret
from .transports.rest import KeyMinter
from .transports.webrtc import IceOptions, WebRTCCalls
from .transports.websocket import realtime_handler

log = logging.getLogger(__name__)


def build_llm(s: Settings) -> LLM:
    if s.llm == "openai":
        assert s.llm_base_url is not None  # load_settings checks each engine's needs
        return OpenAIChatLLM(s.llm_base_url, model=s.llm_model, api_key=s.llm_api_key)
    if s.llm == "scripted":
        from .engines.scripted import ScriptedLLM

        assert s.llm_rules is not None
        return ScriptedLLM.from_file(s.llm_rules)
    if s.llm == "llama-cpp":
        from .engines.llama_cpp_llm import LlamaCppLLM

        assert s.llm_model is not None
        return LlamaCppLLM(s.llm_model, n_ctx=s.llm_context, chat_format=s.llm_chat_format)
    return EchoLLM()


def build_stt(s: Settings) -> Transcriber | None:
    if s.asr == "openai":
        assert s.asr_base_url is not None
        return OpenAITranscriber(s.asr_base_url, model=s.asr_model, api_key=s.asr_api_key)
    if s.asr == "faster-whisper":
        from .engines.faster_whisper_stt import FasterWhisperTranscriber

        assert s.asr_model is not None
        return FasterWhisperTranscriber(s.asr_model, device=s.asr_device,
                                        compute_type=s.asr_compute_type)
    if s.asr == "pocketsphinx":
        from .engines.pocketsphinx_stt import PocketsphinxTranscriber

        return PocketsphinxTranscriber(model_dir=s.asr_model)
    return None


def build_tts(s: Settings) -> Synthesizer | None:
    if s.tts == "openai":
        assert s.tts_base_url is not None
        return OpenAISpeech(s.tts_base_url, model=s.tts_model or "tts-1", api_key=s.tts_api_key,
                            voice=s.tts_voice)
    if s.tts == "piper":
        from .engines.piper_tts import PiperSynthesizer

        assert s.tts_model is not None
        return PiperSynthesizer(s.tts_model, speaker=s.tts_voice)
    if s.tts == "kokoro":
        from .engines.kokoro_tts import KokoroSynthesizer

        assert s.tts_model is not None
        return KokoroSynthesizer(s.tts_model, voices=s.tts_voices, voice=s.tts_voice)
    if s.tts == "espeak":
        from .engines.espeak_tts import EspeakSynthesizer

        return EspeakSynthesizer(voice=s.tts_voice)
    return None


def build_engines(settings: Settings) -> Engines:
    """Load every chosen engine; raises ``EngineLoadError`` (one line) when one cannot start."""
    # One VAD model for the whole server; every session's frames are batched through it.
    return Engines(llm=build_llm(settings), vad=VadWorker(SileroVad()),
                   stt=build_stt(settings), tts=build_tts(settings))


def describe_engines(s: Settings) -> list[str]:
    """The banner's lines: every active engine, and how to reach a real model."""
    llm = {
        "echo": "echo (replies with what it heard)",
        "scripted": f"scripted (rules from {s.llm_rules})",
        "openai": f"OpenAI-compatible chat at {s.llm_base_url} "
                  f"(model: {s.llm_model or 'the session model name'})",
        "llama-cpp": f"llama.cpp in-process ({s.llm_model})",
    }[s.llm]
    asr = {
        "pocketsphinx": "pocketsphinx (embedded, English, modest accuracy)",
        "openai": f"OpenAI-compatible transcription at {s.asr_base_url}",
        "faster-whisper": f"faster-whisper in-process ({s.asr_model}, device {s.asr_device})",
        "none": "none: audio input is not transcribed",
    }[s.asr]
    tts = {
        "espeak": "espeak-ng (embedded; Realtime voice names map to espeak voices)",
        "openai": f"OpenAI-compatible speech at {s.tts_base_url}",
        "piper": f"piper in-process ({s.tts_model})",
        "kokoro": f"kokoro in-process ({s.tts_model})",
        "none": "none: replies are text only",
    }[s.tts]
    lines = [f"LLM: {llm}", f"speech-to-text: {asr}", f"text-to-speech: {tts}",
             "VAD: Silero (onnxruntime, shared by all sessions)"]
    if s.llm in ("echo", "scripted"):
        lines.append("For a real model: --llm-base-url http://localhost:11434/v1 "
                     "--llm-model llama3.2 (Ollama; any OpenAI-compatible server works)")
    return lines


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain ws:// (a bad PEM is a SettingsError)."""
    if settings.ssl_certfile is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    except (ssl.SSLError, OSError) as err:
        files = " and ".join(f for f in (settings.ssl_certfile, settings.ssl_keyfile) if f)
        raise SettingsError(f"cannot use the TLS certificate in {files}: "
                            f"{getattr(err, 'reason', None) or err}") from None
    return ctx


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(settings: Settings, engines: Engines | None = None) -> web.Application:
    engines = engines or build_engines(settings)
    app = web.Application()
    limits = Limits(max_session_s=settings.max_session_minutes * 60)
    caps = Capabilities(audio_output=engines.tts is not None)
    keys = KeySigner(signing_secret(settings.ephemeral_key_secret, settings.api_key))
    admission = Admission(settings.max_sessions)  # WebSocket sessions and WebRTC calls alike
    calls = WebRTCCalls(engines, settings.api_key, keys=keys, limits=limits,
                        admission=admission,
                        ice=IceOptions(settings.webrtc_udp_ports, settings.webrtc_public_ip))
    app.router.add_get("/v1/realtime", realtime_handler(
        engines, settings.api_key, caps=caps, limits=limits,
        admission=admission, keys=keys, calls=calls.find))
    app.router.add_post("/v1/realtime", calls.create_beta)  # beta's WebRTC: raw SDP
    app.add_routes(KeyMinter(keys, settings.api_key, caps=caps, limits=limits).routes())
    app.router.add_get("/healthz", healthz)
    add_console_routes(app)
    app.router.add_post("/v1/realtime/calls", calls.create)
    app.router.add_post("/v1/realtime/calls/{call_id}/hangup", calls.hangup)

    async def close_engines(_app: web.Application) -> None:
        await calls.aclose()  # their sessions use the engines
        await engines.llm.aclose()
        for engine in (engines.vad, engines.stt, engines.tts):
            if engine is not None:
                await engine.aclose()

    app.on_cleanup.append(close_engines)
    return app
