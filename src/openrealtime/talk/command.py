"""The ``openrealtime talk`` command: its arguments, and running one session from them.

Exit codes: 0 the input was answered (or the microphone stopped with Ctrl+C); 1 the session
failed (no connection, a refused key, a server error that ended the turn, a timeout); 2 the
command line is wrong; 130 interrupted with Ctrl+C before a file or message was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from yarl import URL

if TYPE_CHECKING:  # the client itself loads when it runs: ``--help`` needs none of it
    from .mic import Microphone
    from .session import Options
    from .source import WavFile

PROG = "openrealtime talk"
HELP = "talk to a Realtime server from a WAV file, the microphone or a typed message"
DESCRIPTION = ("Talk to any OpenAI Realtime (GA) server, ours or OpenAI's: stream a WAV file, "
               "the microphone or a typed message, see the transcripts and events live, and "
               "save the spoken reply as a WAV.")
DEFAULT_URL = "ws://127.0.0.1:8000/v1/realtime"
DEFAULT_MODEL = "gpt-realtime"
# OpenAI's key goes to OpenAI only; any other server gets the key meant for it.
OPENAI_HOST_SUFFIX = "openai.com"


class UsageError(Exception):
    """The command line cannot work; one line for the user."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("what to say (one of)").add_mutually_exclusive_group(
        required=True)
    source.add_argument("--wav", type=Path, metavar="FILE",
                        help="stream this WAV file (16-bit PCM or 32-bit float, any rate and "
                             "channels; sent as 24 kHz mono)")
    source.add_argument("--mic", action="store_true",
                        help="stream the default microphone until Ctrl+C (needs the 'mic' "
                             "extra: pip install 'openrealtime[mic]')")
    source.add_argument("--text", metavar="MESSAGE", help="send a typed message instead of audio")

    server = parser.add_argument_group("server")
    server.add_argument("--url", default=DEFAULT_URL,
                        help=f"the Realtime WebSocket URL (default {DEFAULT_URL}; OpenAI: "
                             "wss://api.openai.com/v1/realtime)")
    server.add_argument("--api-key", metavar="KEY",
                        help="API key sent as 'Authorization: Bearer' (default: $OPENAI_API_KEY "
                             "for openai.com, $OPENREALTIME_API_KEY for any other server)")
    server.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"added to the URL as ?model= when it names none "
                             f"(default {DEFAULT_MODEL})")
    server.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="seconds to wait for the server to connect or to go on with a "
                             "reply that is due (default 60)")

    session = parser.add_argument_group("session")
    session.add_argument("--voice", help="the assistant's voice (default: the server's)")
    session.add_argument("--instructions", metavar="TEXT", help="the session's instructions")
    session.add_argument("--transcribe-model", default="whisper-1", metavar="MODEL",
                         help="model that transcribes your audio (default whisper-1; 'none' "
                              "turns transcription off)")
    pace = session.add_mutually_exclusive_group()
    pace.add_argument("--realtime-pace", dest="fast", action="store_false", default=False,
                      help="send a file at the pace it plays, as a live talker would "
                           "(the default)")
    pace.add_argument("--fast", dest="fast", action="store_true", default=False,
                      help="send a file at once, as one turn without server VAD")
    session.add_argument("--vad", action=argparse.BooleanOptionalAction, default=None,
                         help="let server VAD find the turns (default: on, off with --fast)")
    session.add_argument("--responses", type=int, default=0, metavar="N",
                         help="stop after N responses (default: once the input is answered; "
                              "for --mic, at Ctrl+C)")

    output = parser.add_argument_group("output")
    output.add_argument("--out", type=Path, default=Path("reply.wav"), metavar="FILE",
                        help="where to save the spoken reply (default reply.wav)")
    output.add_argument("--events", action="store_true",
                        help="also print every server event, one line each")


def realtime_url(raw: str, model: str) -> str:
    """``raw`` as a ws(s) URL: http(s) is taken for ws(s), a bare host gets /v1/realtime and a
    URL that names no model gets ``?model=``."""
    try:
        url = URL(raw)
    except (ValueError, TypeError) as err:
        raise UsageError(f"--url {raw!r} is not a URL: {err}") from None
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    if scheme not in ("ws", "wss") or not url.host:
        raise UsageError(f"--url {raw!r} is not a ws:// or wss:// URL")
    url = url.with_scheme(scheme)
    if url.path in ("", "/"):
        url = url.with_path("/v1/realtime").with_query(url.query)
    if not {"model", "intent", "call_id"} & set(url.query):
        url = url.update_query(model=model)
    return str(url)


def api_key(url: str, given: str | None, environ: Mapping[str, str]) -> str | None:
    if given:
        return given
    host = URL(url).host or ""
    if host == OPENAI_HOST_SUFFIX or host.endswith("." + OPENAI_HOST_SUFFIX):
        if key := environ.get("OPENAI_API_KEY"):
            return key
        raise UsageError(f"{host} needs an API key: pass --api-key or set OPENAI_API_KEY")
    return environ.get("OPENREALTIME_API_KEY") or None


def check(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Whatever in the command line can be wrong, found before a socket, file or mic opens."""
    api_key(realtime_url(args.url, args.model), args.api_key, environ)
    if args.timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    if args.responses < 0:
        raise UsageError("--responses must be 0 or more")
    if args.mic and args.vad is False:
        raise UsageError("--mic needs server VAD to find the turns; drop --no-vad")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: no directory {args.out.parent}")


def options(args: argparse.Namespace, source: WavFile | Microphone | str,
            environ: Mapping[str, str]) -> Options:
    from .session import Options

    url = realtime_url(args.url, args.model)
    transcribe = None if args.transcribe_model.lower() in ("", "none") else args.transcribe_model
    return Options(
        url=url, input=source, out=args.out, api_key=api_key(url, args.api_key, environ),
        voice=args.voice, instructions=args.instructions, transcribe_model=transcribe,
        vad=args.vad if args.vad is not None else not args.fast, realtime=not args.fast,
        events=args.events, timeout=args.timeout, responses=args.responses)


async def arun(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """``run`` for a caller that already has an event loop."""
    from .mic import Microphone
    from .session import Talk, TalkError
    from .source import SourceError, WavFile
    from .status import Printer

    environ = os.environ if environ is None else environ
    source: WavFile | Microphone | str | None = None
    try:
        check(args, environ)
        source = (args.text if args.text is not None
                  else Microphone() if args.mic else WavFile(args.wav))
        opts = options(args, source, environ)
    except (UsageError, SourceError) as err:
        if isinstance(source, WavFile):
            source.close()
        print(f"{PROG}: error: {err}", file=sys.stderr, flush=True)
        return 2 if isinstance(err, UsageError) else 1

    printer = Printer(sys.stdout)
    talk = Talk(opts, printer)
    task = asyncio.create_task(talk.run())
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    handles_sigint = _on_sigint(stop)
    code = 0
    try:
        await task
    except asyncio.CancelledError:
        if not stopped:
            raise
        printer.line("stopped")
        code = 0 if args.mic else 130
    except TalkError as err:
        code = 1
        print(f"{PROG}: error: {err}", file=sys.stderr, flush=True)
    finally:
        if handles_sigint:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    if talk.reply.nbytes:
        printer.line(f"saved {talk.reply.seconds:.2f} s of reply audio to {opts.out}")
    elif code == 0:
        printer.line("no reply audio came, so nothing was saved")
    return code


def _on_sigint(stop: Callable[[], None]) -> bool:
    """Ctrl+C ends the session cleanly (the reply so far is saved); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop)
    except (NotImplementedError, RuntimeError):  # Windows' loops have no signal handlers
        return False
    return True


def run(args: argparse.Namespace) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A transcript's characters must not crash a terminal that cannot show them.
        sys.stdout.reconfigure(errors="replace")
    try:
        return asyncio.run(arun(args))
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
