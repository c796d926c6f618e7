"""The client's speaker when the server plays the audio itself (WebRTC), modelled on the clock.

The transport plays queued audio in real time, back to back, starting as soon as it is queued
when the speaker is idle. So the core knows, from the wall clock alone, when each stretch
starts and ends and how much of each item the user has heard; that is what
``output_audio_buffer.started/stopped`` report and what an interruption truncates to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(slots=True)
class _Span:
    """A stretch of one item's audio on the speaker's timeline (wall-clock seconds)."""

    response_id: str
    item_id: str
    start: float
    end: float

    def played_ms(self, now: float) -> float:
        return max(0.0, min(now, self.end) - self.start) * 1000


Notice = tuple[Literal["started", "stopped"], str]


class Playback:
    __slots__ = ("_spans", "_started", "_finished")

    def __init__(self) -> None:
        self._spans: list[_Span] = []
        self._started: set[str] = set()  # responses whose ``started`` went out
        self._finished: set[str] = set()  # responses done generating, audio still queued

    def queue(self, response_id: str, item_id: str, ms: float, now: float) -> None:
        last = self._spans[-1] if self._spans else None
        if last is not None and last.item_id == item_id and last.end >= now:
            last.end += ms / 1000  # plays on without a gap
            return
        start = max(now, last.end) if last is not None else now
        self._spans.append(_Span(response_id, item_id, start, start + ms / 1000))

    def finish(self, response_id: str) -> None:
        """The response will queue no more audio: its ``stopped`` is due when it drains."""
        if any(s.response_id == response_id for s in self._spans):
            self._finished.add(response_id)

    def due(self, now: float) -> list[Notice]:
        """What happened on the speaker by ``now``, in order."""
        out: list[Notice] = []
        for span in self._spans:
            if span.start <= now and span.response_id not in self._started:
                self._started.add(span.response_id)
                out.append(("started", span.response_id))
        for rid in sorted(self._finished, key=self._end_of):
            if self._end_of(rid) <= now:
                out.append(("stopped", rid))
                self._forget(rid)
        return out

    @property
    def next_deadline(self) -> float | None:
        times = [s.start for s in self._spans if s.response_id not in self._started]
        times += [self._end_of(rid) for rid in self._finished]
        return min(times, default=None)

    def clear(self, now: float) -> tuple[list[str], dict[str, float]]:
        """Cut the speaker at ``now``. Returns the responses that were playing (started, not
        stopped: perhaps waiting for more audio), and for each item cut short, the
        milliseconds of it the user heard."""
        cleared = [rid for rid in dict.fromkeys(s.response_id for s in self._spans)
                   if rid in self._started]
        # Cut short: audio still queued, or its response was still making more.
        cut = [s for s in self._spans if s.end > now
               or (s.response_id in self._started and s.response_id not in self._finished)]
        heard: dict[str, float] = {}
        for span in cut:
            if span.item_id not in heard:
                heard[span.item_id] = sum(s.played_ms(now) for s in self._spans
                                          if s.item_id == span.item_id)
        self._spans.clear()
        self._started.clear()
        self._finished.clear()
        return cleared, heard

    def _end_of(self, response_id: str) -> float:
        return max(s.end for s in self._spans if s.response_id == response_id)

    def _forget(self, response_id: str) -> None:
        self._spans = [s for s in self._spans if s.response_id != response_id]
        self._started.discard(response_id)
        self._finished.discard(response_id)
