"""What every engine that loads a model or an optional package shares: one error type whose
message is a single line a user can act on (what was tried, and what to do instead)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType


class EngineLoadError(Exception):
    """An engine could not start: a missing extra, a missing model file, a failed download.

    The message is one line naming the engine, what was tried and how to fix it; the CLI prints
    it as is and exits.
    """


def require(module: str, *, engine: str, extra: str) -> ModuleType:
    """Import an optional engine's package, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise EngineLoadError(
            f"the {engine} engine needs the '{extra}' extra: pip install 'openrealtime[{extra}]'"
            f" ({err})") from None


def hub_failure(engine: str, name: str, err: BaseException, *, flag: str, local: str) -> str:
    """The message for a model that is neither on disk nor downloadable."""
    reason = first_line(err)
    return (f"the {engine} engine: {name!r} is not a local path, and downloading it from the "
            f"Hugging Face hub failed ({reason}); to use a model on disk, pass its path: "
            f"{flag} {local}")


def first_line(err: BaseException) -> str:
    """An exception as one line: engines' libraries raise multi-line or empty messages."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# huggingface_hub sets no timeout on some of its requests and retries an unreachable hub for
# about half a minute: one short request first makes an offline start fail in seconds.
HUB_TIMEOUT = 10.0


def from_hub(engine: str, model: str, *, cached: Callable[[], str | None],
             probe: Callable[[], object], download: Callable[[], str], flag: str,
             local: str) -> str:
    """A hub model's local path: from the cache when it is there (so an offline start works once
    it was downloaded), else downloaded after ``probe`` (a request with ``HUB_TIMEOUT``) shows the
    hub answers. Any failure is an ``EngineLoadError`` saying what was tried and ``flag local``.
    """
    try:
        path = cached()
        if path:
            return path
    except Exception:
        pass  # not in the cache (the error's type differs between huggingface_hub versions)
    try:
        probe()
        return download()
    except Exception as err:
        raise EngineLoadError(hub_failure(engine, model, err, flag=flag, local=local)) from None
