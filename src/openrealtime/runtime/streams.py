"""Closing engine streams at once, not when the garbage collector gets to them."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


async def aclose_quietly(stream: object) -> None:
    """Close an engine's stream (an async generator, usually) after a return, an error or a
    cancel: its HTTP response, worker thread or C library is freed now. Engines' own failures
    while closing are logged, not raised: the caller is already finishing."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        log.debug("closing an engine stream failed", exc_info=True)
