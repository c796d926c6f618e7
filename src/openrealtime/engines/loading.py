"""What every engine that loads a model or an optional package shares: one error type whose
message is a single line a user can act on (what was tried, and what to do instead)."""

from __future__ import annotations

import importlib
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
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return (f"the {engine} engine: {name!r} is not a local path, and downloading it from the "
            f"Hugging Face hub failed ({reason}); to use a model on disk, pass its path: "
            f"{flag} {local}")
