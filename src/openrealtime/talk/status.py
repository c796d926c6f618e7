"""Terminal output for ``openrealtime talk``: whole lines, one streamed line, a status line.

Whole lines go out as they are. Transcript deltas stream onto one open line. On a terminal a
status line sits under the output and redraws in place (``\\r``, then erase to the end); it is
cut to one column less than the terminal's width, measured again at every draw, so it never
wraps: a wrapped line could no longer be redrawn with ``\\r``. Off a terminal (a pipe, a file,
a test) there is no status line at all and never a ``\\r``: plain lines a log can keep.
"""

from __future__ import annotations

import math
import re
import shutil
import time
import unicodedata
from collections.abc import Callable
from typing import TextIO

# Redraws of the status line at most this often: audio deltas arrive many times a second.
MIN_REDRAW_S = 0.1
ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _cell_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(text: str) -> int:
    """How many terminal columns ``text`` takes (wide CJK characters take two)."""
    return sum(_cell_width(c) for c in text)


def fit(text: str, width: int) -> str:
    """``text`` as one line of at most ``width`` columns; a cut line ends in an ellipsis."""
    text = _CONTROL.sub(" ", text)
    if cells(text) <= width:
        return text
    if width < 1:
        return ""
    kept, used = [], 0
    for char in text:
        used += _cell_width(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def status_text(state: str, sent_s: float, reply_s: float, responses: int) -> str:
    """The status line's words: the most telling first, as the end is what a cut drops."""
    return (f"[{state}] sent {sent_s:.1f}s | reply {reply_s:.1f}s | "
            f"{responses} response{'' if responses == 1 else 's'}")


def terminal_columns() -> int:
    return shutil.get_terminal_size().columns


class Printer:
    """Writes the session's output to ``out``; the status line only when ``tty``.

    The status line's text comes from ``status_line``, asked at every draw, so a line printed
    after a change is followed by the status as it is now, not as it was at the last update.
    """

    def __init__(self, out: TextIO, *, tty: bool | None = None,
                 columns: Callable[[], int] = terminal_columns,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.status_line: Callable[[], str] | None = None
        self._columns = columns
        self._clock = clock
        self._drawn = False  # the status line is on the screen now
        self._open: str | None = None  # key of the line being streamed, if one is
        self._last_draw = -math.inf

    @property
    def width(self) -> int:
        """Columns a line may fill: one less than the terminal's, so the cursor never wraps."""
        return max(1, self._columns() - 1)

    def line(self, text: str, *, cut: bool = False) -> None:
        """A whole line (``cut``: to the terminal's width)."""
        self._close_stream()
        self._erase()
        self.out.write((fit(text, self.width) if cut else text) + "\n")
        self._draw()
        self.out.flush()

    def stream(self, key: str, prefix: str, text: str) -> None:
        """Append ``text`` to the open line ``key``; another key's line is closed first."""
        if self._open != key:
            self._close_stream()
            self._erase()
            self.out.write(prefix)
            self._open = key
        self.out.write(text)
        self.out.flush()

    def end_stream(self, key: str) -> None:
        if self._open == key:
            self._close_stream()
            self._draw()
            self.out.flush()

    def refresh(self, *, force: bool = False) -> None:
        """Redraw the status line if ``force`` or it has not been for a moment."""
        if force or self._clock() - self._last_draw >= MIN_REDRAW_S:
            self._draw()
            self.out.flush()

    def close(self) -> None:
        """End the open line and take the status line off the screen, for good."""
        self.status_line = None
        self._close_stream()
        self._erase()
        self.out.flush()

    def _close_stream(self) -> None:
        if self._open is not None:
            self.out.write("\n")
            self._open = None

    def _erase(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        # Not under a streamed line: the status line would overwrite it.
        text = self.status_line() if self.status_line is not None else ""
        if self.tty and text and self._open is None:
            self.out.write("\r" + fit(text, self.width) + "\x1b[K")
            self._drawn = True
            self._last_draw = self._clock()
