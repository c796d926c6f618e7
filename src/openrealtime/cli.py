"""The ``openrealtime`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from . import __version__
from .config import (
    ASR_ENGINES,
    CONFIG_ENV,
    LLM_ENGINES,
    SETTING_NAMES,
    TTS_ENGINES,
    Settings,
    SettingsError,
    env_name,
    file_key,
    flag,
    load_settings,
)

HELP = {
    "host": "interface to listen on (default 127.0.0.1)",
    "port": "port to listen on (default 8000)",
    "api_key": "require clients to present this key",
    "log_level": "debug, info, warning, error or critical (default info)",
    "max_sessions": "sessions open at once; more are refused with 503 (default 0: no limit)",
    "max_session_minutes": "a session's lifetime in minutes (default 60, as OpenAI's)",
    "ssl_certfile": "TLS certificate (PEM): serve wss:// and https://",
    "ssl_keyfile": "TLS private key (PEM), when not in --ssl-certfile",
    "ephemeral_key_secret": "secret that signs ephemeral ek_ keys (default: from --api-key, "
                            "else random per start)",
    "webrtc_udp_ports": "UDP port range for WebRTC media, e.g. 50000-50100 (default: any)",
    "webrtc_public_ip": "public address WebRTC offers to clients (behind NAT)",
    "llm_engine": f"{', '.join(LLM_ENGINES)} (default: openai with --llm-base-url, scripted with "
                  "--llm-rules, else echo)",
    "llm_base_url": "OpenAI-compatible API base URL of the LLM, e.g. http://localhost:11434/v1",
    "llm_model": "model name for the LLM backend (default: the session's), or llama-cpp's GGUF",
    "llm_api_key": "API key for the LLM backend",
    "llm_rules": "the scripted engine's YAML rules file",
    "llm_context": "llama-cpp's context window in tokens (default 4096)",
    "llm_chat_format": "llama-cpp's chat format, e.g. chatml (default: the GGUF's template)",
    "asr_engine": f"{', '.join(ASR_ENGINES)} (default: openai with --asr-base-url, "
                  "else pocketsphinx)",
    "asr_base_url": "OpenAI-compatible base URL for speech-to-text",
    "asr_model": "speech-to-text model name, or faster-whisper's model directory",
    "asr_api_key": "API key for the speech-to-text backend",
    "asr_device": "auto, cpu or cuda, for faster-whisper (default auto)",
    "asr_compute_type": "faster-whisper's compute type: int8, float16, ... (default: the "
                        "model's)",
    "tts_engine": f"{', '.join(TTS_ENGINES)} (default: openai with --tts-base-url, else espeak)",
    "tts_base_url": "OpenAI-compatible base URL for text-to-speech",
    "tts_model": "text-to-speech model name, or piper's/kokoro's .onnx file",
    "tts_api_key": "API key for the text-to-speech backend",
    "tts_voice": "one engine voice for every session, instead of mapping the Realtime names",
    "tts_voices": "kokoro's voices file (default: the voices*.bin beside --tts-model)",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that names the problem, not a usage dump.
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="openrealtime", description="A self-hosted OpenAI Realtime API server.")
    p.add_argument("--version", action="version", version=f"openrealtime {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = sub.add_parser("serve", help="run the server",
                           description="Flags override OPENREALTIME_* variables, which "
                                       "override the --config file.")
    serve.add_argument("--config", metavar="FILE", default=None,
                       help=f"a TOML file of these settings [env {CONFIG_ENV}]")
    for name in SETTING_NAMES:
        serve.add_argument(flag(name), dest=name, default=None, metavar="VALUE",
                           help=f"{HELP[name]} [env {env_name(name)}; file {file_key(name)}]")
    sub.add_parser("engines", help="list every engine, whether it is installed, what it needs")
    from .talk import command as talk

    talk.add_arguments(sub.add_parser("talk", help=talk.HELP, description=talk.DESCRIPTION))
    return p


def banner(settings: Settings) -> str:
    from .app import describe_engines

    scheme = "wss" if settings.ssl_certfile else "ws"
    lines = [f"openrealtime {__version__} listening on "
             f"{scheme}://{settings.host}:{settings.port}/v1/realtime",
             *(f"  {line}" for line in describe_engines(settings)),
             f"  auth: {'API key required' if settings.api_key else 'open (no --api-key)'}"]
    return "\n".join(lines)


def list_engines() -> str:
    from .engines.catalog import ENGINES, installed

    rows = [("KIND", "ENGINE", "STATUS", "NEEDS")]
    for e in ENGINES:
        status = ("installed" if installed(e) else f"pip install 'openrealtime[{e.extra}]'"
                  if e.extra else "missing (reinstall openrealtime)")
        rows.append((e.kind, e.name, status, e.needs))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}"
                     for r in rows)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "engines":
        print(list_engines())
        return 0
    if args.command == "talk":
        from .talk.command import run

        return run(args)
    try:
        settings = load_settings({n: getattr(args, n) for n in SETTING_NAMES},
                                 config=args.config)
    except SettingsError as err:
        print(f"openrealtime: error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from aiohttp import web

    from .app import build_app, build_engines, ssl_context
    from .engines.loading import EngineLoadError

    try:
        tls = ssl_context(settings)
        engines = build_engines(settings)
    except (SettingsError, EngineLoadError) as err:
        print(f"openrealtime: error: {err}", file=sys.stderr)
        return 2
    print(banner(settings), flush=True)
    try:
        web.run_app(build_app(settings, engines), host=settings.host, port=settings.port,
                    ssl_context=tls, access_log=None, print=None)
    except OSError as err:
        print(f"openrealtime: error: cannot listen on {settings.host}:{settings.port}: "
              f"{err.strerror}", file=sys.stderr)
        return 1
    return 0
