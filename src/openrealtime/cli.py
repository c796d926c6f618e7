"""The ``openrealtime`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from . import __version__
from .config import SETTING_NAMES, Settings, SettingsError, env_name, flag, load_settings

HELP = {
    "host": "interface to listen on (default 127.0.0.1)",
    "port": "port to listen on (default 8000)",
    "llm_base_url": "OpenAI-compatible API base URL of the LLM, e.g. http://localhost:11434/v1",
    "llm_model": "model name to ask the LLM backend for (default: the session's model)",
    "llm_api_key": "API key for the LLM backend",
    "asr_base_url": "OpenAI-compatible base URL for speech-to-text",
    "asr_model": "speech-to-text model name",
    "asr_api_key": "API key for the speech-to-text backend",
    "tts_base_url": "OpenAI-compatible base URL for text-to-speech",
    "tts_model": "text-to-speech model name",
    "tts_api_key": "API key for the text-to-speech backend",
    "api_key": "require clients to present this key",
    "log_level": "debug, info, warning, error or critical (default info)",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that names the problem, not a usage dump.
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="openrealtime", description="A self-hosted OpenAI Realtime API server.")
    p.add_argument("--version", action="version", version=f"openrealtime {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = sub.add_parser("serve", help="run the server")
    for name in SETTING_NAMES:
        serve.add_argument(flag(name), dest=name, default=None, metavar="VALUE",
                           help=f"{HELP[name]} [env {env_name(name)}]")
    return p


def banner(settings: Settings) -> str:
    from .app import describe_engines

    lines = [f"openrealtime {__version__} listening on "
             f"ws://{settings.host}:{settings.port}/v1/realtime",
             *(f"  {line}" for line in describe_engines(settings)),
             f"  auth: {'API key required' if settings.api_key else 'open (no --api-key)'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings({n: getattr(args, n) for n in SETTING_NAMES})
    except SettingsError as err:
        print(f"openrealtime: error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from aiohttp import web

    from .app import build_app

    print(banner(settings), flush=True)
    try:
        web.run_app(build_app(settings), host=settings.host, port=settings.port,
                    access_log=None, print=None)
    except OSError as err:
        print(f"openrealtime: error: cannot listen on {settings.host}:{settings.port}: "
              f"{err.strerror}", file=sys.stderr)
        return 1
    return 0
