"""Speech output helpers: cutting the LLM stream into speakable segments, and keeping each
spoken segment's place in the audio so that a truncation can cut the transcript too.

Segments are clauses: synthesis starts as soon as the first clause is complete, not after the
whole reply (streamed TTS). Each segment keeps its exact text, whitespace included, so that the
transcript deltas add up to the transcript.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTENCE_END = ".!?…。！？"
CLAUSE_END = ",;:—–、，；："
# The first segment is cut early (at a clause) so that speech starts soon; later ones at
# sentence ends unless they run long, since every cut costs the voice some prosody.
FIRST_MIN_CHARS = 12
CLAUSE_MIN_CHARS = 60
MAX_CHARS = 240
# Typical synthesized speech runs near 14 characters a second (about 160 words a minute); used
# to place a cut inside a segment whose audio was still being made.
CHARS_PER_SECOND = 14.0
# Full-width marks end a clause on their own: CJK text puts no space after them.
FULL_WIDTH = frozenset("。！？、，；：")
# A period after these is not a sentence end.
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e", "no",
                           "approx", "jr", "sr"})


class ClauseSplitter:
    __slots__ = ("_pending", "_emitted")

    def __init__(self) -> None:
        self._pending = ""
        self._emitted = 0

    def push(self, text: str) -> list[str]:
        """Add LLM text; return the segments it completed."""
        self._pending += text
        out: list[str] = []
        while (cut := self._cut()) is not None:
            out.append(self._pending[:cut])
            self._pending = self._pending[cut:]
            self._emitted += 1
        return out

    def flush(self) -> str:
        """The rest of the text, at the end of the message."""
        rest, self._pending = self._pending, ""
        return rest

    def _cut(self) -> int | None:
        text = self._pending
        min_clause = FIRST_MIN_CHARS if self._emitted == 0 else CLAUSE_MIN_CHARS
        best: int | None = None
        # A boundary counts once the next character is known to be whitespace, so "3.5" and
        # "e.g." mid-word do not split. Only boundaries within MAX_CHARS count, so a long
        # stretch that arrives in one piece is cut like one that streams in.
        for i in range(min(len(text), MAX_CHARS + 1) - 1):
            ch = text[i]
            if not text[i + 1].isspace() and ch not in FULL_WIDTH:
                continue
            if ch == "." and _abbreviation(text, i):
                continue
            if ch in SENTENCE_END and i + 1 >= FIRST_MIN_CHARS // 2:
                return i + 1
            if ch in CLAUSE_END and i + 1 >= min_clause:
                best = i + 1
                if self._emitted == 0:
                    return best
        if best is not None and best >= CLAUSE_MIN_CHARS:
            return best
        if len(text) > MAX_CHARS:
            space = text.rfind(" ", 0, MAX_CHARS)
            return space if space > 0 else MAX_CHARS
        return None


def _abbreviation(text: str, dot: int) -> bool:
    word = text[:dot].rsplit(None, 1)[-1] if text[:dot].strip() else ""
    return word.lower().lstrip("(\"'") in ABBREVIATIONS


@dataclass(slots=True)
class Spoken:
    """A segment whose audio has started: its text and where its audio lies, in bytes."""

    text: str
    start: int
    end: int
    complete: bool = False


class AudioTrack:
    """The audio of one assistant audio part and the text spoken over each stretch of it."""

    __slots__ = ("bytes_per_ms", "audio", "spoken")

    def __init__(self, bytes_per_ms: float) -> None:
        self.bytes_per_ms = bytes_per_ms
        self.audio = bytearray()
        self.spoken: list[Spoken] = []

    @property
    def duration_ms(self) -> float:
        return len(self.audio) / self.bytes_per_ms

    @property
    def transcript(self) -> str:
        return "".join(s.text for s in self.spoken)

    def start_segment(self, text: str) -> None:
        n = len(self.audio)
        self.spoken.append(Spoken(text, n, n))

    def add_audio(self, chunk: bytes) -> None:
        self.audio += chunk
        self.spoken[-1].end = len(self.audio)

    def end_segment(self) -> None:
        self.spoken[-1].complete = True

    def truncate(self, audio_end_ms: float) -> str:
        """Keep the first ``audio_end_ms`` of audio and the words heard in it; return them.

        Within a segment the text is taken in proportion to the audio played, and only words
        heard to their end are kept (the model should not hear what the user did not)."""
        cut = min(len(self.audio), int(audio_end_ms * self.bytes_per_ms))
        kept: list[Spoken] = []
        for seg in self.spoken:
            if seg.end <= cut and seg.complete:
                kept.append(seg)
                continue
            if seg.start < cut and seg.end > seg.start:
                length = seg.end - seg.start
                if not seg.complete:
                    # Its audio stopped short (a cancel): the text runs past what was made.
                    expected = len(seg.text) / CHARS_PER_SECOND * 1000 * self.bytes_per_ms
                    length = max(length, int(expected))
                share = (cut - seg.start) / length
                heard = _whole_words(seg.text, int(len(seg.text) * share))
                if heard:
                    kept.append(Spoken(heard, seg.start, cut, complete=True))
            break
        del self.audio[cut:]
        self.spoken = kept
        return self.transcript


def _whole_words(text: str, upto: int) -> str:
    if upto >= len(text):
        return text
    if text[upto].isspace():
        return text[:upto]
    space = max(text.rfind(" ", 0, upto), text.rfind("\n", 0, upto))
    return text[:space] if space > 0 else ""
