"""Speech output: cutting the LLM stream into speakable segments, and truncating spoken audio
together with the words heard in it (EVENTS.md §6.5, §6.7)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrealtime.session.speech_out import (
    CHARS_PER_SECOND,
    CLAUSE_MIN_CHARS,
    FIRST_MIN_CHARS,
    FULL_WIDTH,
    MAX_CHARS,
    AudioTrack,
    ClauseSplitter,
    _whole_words,
)

# --- ClauseSplitter -------------------------------------------------------------------------


def split_all(*chunks: str) -> tuple[list[str], str]:
    splitter = ClauseSplitter()
    segments: list[str] = []
    for chunk in chunks:
        segments += splitter.push(chunk)
    return segments, splitter.flush()


def test_first_segment_is_cut_early_at_a_clause() -> None:
    splitter = ClauseSplitter()
    # "Well," is too short to be worth a synthesis of its own; the next clause is not.
    assert splitter.push("Well, I think about it, and then I answer") == [
        "Well, I think about it,"
    ]
    assert len("Well, I think about it,") >= FIRST_MIN_CHARS
    assert splitter.flush() == " and then I answer"


def test_later_segments_wait_for_the_sentence_end() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("Sure thing, Sam, let me see.") == ["Sure thing, Sam,"]
    # A short clause is no cut after the first segment: the sentence goes out whole.
    assert splitter.push(" First, we look") == [" let me see."]
    assert splitter.push(" at it, then we fix it") == []
    assert splitter.push(". Done") == [" First, we look at it, then we fix it."]
    assert splitter.flush() == " Done"


def test_a_short_first_clause_waits_for_more() -> None:
    # "Sure thing," is under FIRST_MIN_CHARS, so the sentence end is the first cut.
    assert len("Sure thing,") < FIRST_MIN_CHARS
    assert split_all("Sure thing, let me see. Ok") == (["Sure thing, let me see."], " Ok")


def test_long_clause_after_first_segment_is_cut_at_the_clause() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("Right, so.") == []
    clause = " this part is a long clause that runs for more than sixty characters,"
    assert len(clause) >= CLAUSE_MIN_CHARS
    assert splitter.push(clause + " and it") == ["Right, so.", clause]
    assert splitter.flush() == " and it"


def test_the_last_long_clause_is_the_cut() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("Alright then, here goes:") == ["Alright then,"]
    text = " one thing, another thing, and a third thing that makes it long enough, and"
    out = splitter.push(text + " so on")
    assert out == [" here goes: one thing, another thing, and a third thing that makes it "
                   "long enough,"]
    assert len(out[0]) >= CLAUSE_MIN_CHARS
    assert splitter.flush() == " and so on"


def test_short_clause_after_first_segment_is_not_cut() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("Right, so. Yes, but no") == ["Right, so."]
    assert splitter.flush() == " Yes, but no"


def test_a_boundary_needs_the_next_character_to_be_whitespace() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("Hello there, friend.") == ["Hello there,"]
    assert splitter.push(" Next") == [" friend."]
    splitter = ClauseSplitter()
    assert splitter.push("Hello there, my friend.") == ["Hello there,"]
    assert splitter.push("\nNext") == [" my friend."]


@pytest.mark.parametrize("text", [
    "The value is 3.5 and that is final",
    "Versions 1.2.3 and 4,000,000 are fine",
    "See e.g.this or i.e.that for more detail",
    "Visit example.com/path?q=1,2;3 today",
])
def test_punctuation_inside_a_word_does_not_split(text: str) -> None:
    segments, rest = split_all(text)
    assert segments == []
    assert rest == text


def test_a_very_short_first_sentence_is_not_cut() -> None:
    segments, rest = split_all("Hi. How are you? Good")
    assert segments == ["Hi. How are you?"]
    assert rest == " Good"
    assert len("Hi.") < FIRST_MIN_CHARS // 2 <= len("Hello.")
    assert split_all("Hello. there")[0] == ["Hello."]


@pytest.mark.parametrize("end", list(".!?…。！？"))
def test_every_sentence_end_cuts(end: str) -> None:
    assert split_all(f"This is it{end} more")[0] == [f"This is it{end}"]


@pytest.mark.parametrize("mark", list(",;:—–、，；："))
def test_every_clause_end_cuts_the_first_segment(mark: str) -> None:
    assert split_all(f"This is the start{mark} more")[0] == [f"This is the start{mark}"]


def test_several_segments_from_one_push() -> None:
    text = "Good morning, everyone. This is the first sentence. And this one is the second! End"
    segments, rest = split_all(text)
    assert segments == [
        "Good morning,",
        " everyone.",
        " This is the first sentence.",
        " And this one is the second!",
    ]
    assert rest == " End"


def test_long_text_without_punctuation_is_cut_at_a_space_before_max_chars() -> None:
    text = "word " * 100
    segments, rest = split_all(text)
    assert segments
    assert "".join(segments) + rest == text
    for seg in segments:
        assert len(seg) <= MAX_CHARS
        assert not seg.endswith(" ")  # cut before the space, which starts the next one
    assert len(segments[0]) > MAX_CHARS - len("word ")
    assert segments[1].startswith(" ")


def test_long_text_streamed_word_by_word_is_cut_at_max_chars() -> None:
    splitter = ClauseSplitter()
    segments: list[str] = []
    for _ in range(100):
        segments += splitter.push("word ")
    assert segments
    assert all(len(seg) <= MAX_CHARS for seg in segments)
    assert "".join(segments) + splitter.flush() == "word " * 100


def test_text_without_any_space_is_cut_at_exactly_max_chars() -> None:
    text = "x" * (2 * MAX_CHARS + 10)
    segments, rest = split_all(text)
    assert segments == ["x" * MAX_CHARS, "x" * MAX_CHARS]
    assert rest == "x" * 10


def test_a_big_chunk_with_a_late_sentence_end_is_still_cut_at_max_chars() -> None:
    # A long stretch arriving in one piece (a non-streaming LLM) must not make a segment
    # longer than one that streams in: the sentence end past MAX_CHARS does not count.
    text = "Hello there, " + "blah " * 100 + "end. More"
    segments, rest = split_all(text)
    assert segments[0] == "Hello there,"
    assert all(len(seg) <= MAX_CHARS for seg in segments)
    assert "".join(segments) + rest == text


def test_flush_returns_the_rest_once() -> None:
    splitter = ClauseSplitter()
    assert splitter.flush() == ""
    assert splitter.push("no cut here") == []
    assert splitter.flush() == "no cut here"
    assert splitter.flush() == ""


def test_empty_pushes_change_nothing() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("") == []
    assert splitter.push("Hello there, you") == ["Hello there,"]
    assert splitter.push("") == []
    assert splitter.flush() == " you"


ALPHABET = st.sampled_from(
    list("abcdefghij xyz  \n\t.,;:!?…—。，3") + ["e.g.", "3.5", "word ", ". ", ", "]
)


@st.composite
def chunked_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = "".join(draw(st.lists(ALPHABET, max_size=400)))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=30)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300, deadline=None)
@given(chunked_text())
def test_segments_add_up_to_the_text_however_it_is_chunked(
    case: tuple[str, list[str]],
) -> None:
    text, chunks = case
    segments, rest = split_all(*chunks)
    assert "".join(segments) + rest == text
    pos = 0
    for seg in segments:
        assert seg  # never an empty segment
        assert len(seg) <= MAX_CHARS
        pos += len(seg)
        # Every cut lies before whitespace or after a full-width mark, or is a hard cut of
        # a run with no space in it.
        assert text[pos].isspace() or seg[-1] in FULL_WIDTH or len(seg) == MAX_CHARS


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=1500), st.lists(st.integers(1, 50), max_size=60))
def test_any_unicode_text_adds_up(text: str, sizes: list[int]) -> None:
    chunks: list[str] = []
    pos = 0
    for size in sizes:
        chunks.append(text[pos:pos + size])
        pos += size
    chunks.append(text[pos:])
    segments, rest = split_all(*chunks)
    assert "".join(segments) + rest == text
    assert all(0 < len(seg) <= MAX_CHARS for seg in segments)


# --- AudioTrack -----------------------------------------------------------------------------

BPM = 48  # PCM16 at 24 kHz: 48 bytes per millisecond


def two_segments() -> AudioTrack:
    """ "Hello there," over 0-100 ms, " how are you today?" over 100-300 ms."""
    track = AudioTrack(BPM)
    track.start_segment("Hello there,")
    track.add_audio(b"\x01" * 100 * BPM)
    track.end_segment()
    track.start_segment(" how are you today?")
    track.add_audio(b"\x02" * 150 * BPM)
    track.add_audio(b"\x03" * 50 * BPM)
    track.end_segment()
    return track


def test_segments_keep_their_byte_ranges() -> None:
    track = two_segments()
    assert [(s.text, s.start, s.end) for s in track.spoken] == [
        ("Hello there,", 0, 100 * BPM),
        (" how are you today?", 100 * BPM, 300 * BPM),
    ]
    assert track.duration_ms == 300
    assert track.transcript == "Hello there, how are you today?"
    assert len(track.audio) == 300 * BPM


def test_an_empty_track() -> None:
    track = AudioTrack(8)
    assert track.duration_ms == 0
    assert track.transcript == ""
    assert track.truncate(0) == ""
    assert track.truncate(500) == ""


def test_a_segment_starts_where_the_audio_is() -> None:
    track = AudioTrack(8)  # G.711: 8 bytes per millisecond
    track.start_segment("One.")
    assert (track.spoken[0].start, track.spoken[0].end) == (0, 0)
    track.add_audio(b"\x00" * 80)
    track.start_segment(" Two.")
    assert (track.spoken[1].start, track.spoken[1].end) == (80, 80)
    track.add_audio(b"\x00" * 8)
    assert track.duration_ms == 11
    assert track.transcript == "One. Two."


def test_truncate_at_zero_keeps_nothing() -> None:
    track = two_segments()
    assert track.truncate(0) == ""
    assert track.transcript == ""
    assert track.spoken == []
    assert len(track.audio) == 0
    assert track.duration_ms == 0


def test_truncate_at_a_segment_boundary_keeps_whole_segments() -> None:
    track = two_segments()
    assert track.truncate(100) == "Hello there,"
    assert len(track.audio) == 100 * BPM
    assert [(s.text, s.start, s.end) for s in track.spoken] == [("Hello there,", 0, 100 * BPM)]


def test_truncate_mid_segment_keeps_the_whole_words_heard() -> None:
    track = two_segments()
    # Half of " how are you today?" (19 characters) is 9: mid "you", so " how are" stays.
    assert track.truncate(200) == "Hello there, how are"
    assert len(track.audio) == 200 * BPM
    assert track.audio[-1] == 0x02
    assert [(s.text, s.start, s.end) for s in track.spoken] == [
        ("Hello there,", 0, 100 * BPM),
        (" how are", 100 * BPM, 200 * BPM),
    ]


def test_truncate_just_into_a_segment_keeps_none_of_its_words() -> None:
    track = two_segments()
    assert track.truncate(101) == "Hello there,"
    assert len(track.audio) == 101 * BPM
    assert len(track.spoken) == 1


def test_truncate_mid_first_word_keeps_nothing() -> None:
    track = two_segments()
    assert track.truncate(30) == ""  # a third of "Hello there," ends inside "Hello"
    assert len(track.audio) == 30 * BPM
    assert track.spoken == []


def test_truncate_just_before_the_end_drops_the_last_word() -> None:
    track = two_segments()
    assert track.truncate(299) == "Hello there, how are you"


@pytest.mark.parametrize("ms", [300, 300.5, 1000, 10**9])
def test_truncate_at_or_beyond_the_end_keeps_everything(ms: float) -> None:
    track = two_segments()
    assert track.truncate(ms) == "Hello there, how are you today?"
    assert len(track.audio) == 300 * BPM
    assert track.duration_ms == 300


def test_truncate_at_a_fraction_of_a_millisecond() -> None:
    track = two_segments()
    track.truncate(100.5)
    assert len(track.audio) == int(100.5 * BPM)


def test_truncating_twice() -> None:
    track = two_segments()
    assert track.truncate(250) == "Hello there, how are you"
    # Further back: cut again.
    assert track.truncate(100) == "Hello there,"
    assert len(track.audio) == 100 * BPM
    # Forward again: nothing comes back.
    assert track.truncate(300) == "Hello there,"
    assert len(track.audio) == 100 * BPM
    assert track.truncate(0) == ""
    assert len(track.audio) == 0


def test_a_segment_without_audio_counts_as_said_once_the_cut_passes_it() -> None:
    track = AudioTrack(BPM)
    track.start_segment("First.")
    track.add_audio(b"\x00" * 10 * BPM)
    track.end_segment()
    track.start_segment(" ...")  # synthesis made no audio for it
    track.end_segment()
    track.start_segment(" Last one here.")
    track.add_audio(b"\x00" * 10 * BPM)
    track.end_segment()
    assert [(s.start, s.end) for s in track.spoken] == [
        (0, 480), (480, 480), (480, 960)
    ]
    assert track.truncate(10) == "First. ..."
    assert track.truncate(5) == ""


def test_a_segment_cut_short_is_placed_by_the_speaking_rate() -> None:
    # A cancel stopped synthesis 1 s into a segment that would take about 3 s to say: the
    # text is spread over its expected length, not over the audio that was made.
    text = "Once upon a time there was a robot who sang."
    assert len(text) / CHARS_PER_SECOND > 3
    track = AudioTrack(BPM)
    track.start_segment(text)
    track.add_audio(b"\x00" * 1000 * BPM)
    # About CHARS_PER_SECOND characters were said in that second; whole words only.
    heard = track.truncate(1000)
    assert heard == _whole_words(text, round(CHARS_PER_SECOND))
    assert heard.startswith("Once upon")
    assert len(track.audio) == 1000 * BPM


def test_a_segment_cut_short_whose_audio_outran_the_rate_uses_the_audio() -> None:
    track = AudioTrack(BPM)
    track.start_segment(" slow words")  # 11 characters: under a second at the usual rate
    track.add_audio(b"\x00" * 2000 * BPM)
    assert track.truncate(1500) == " slow"
    assert track.truncate(2000) == " slow"


def test_a_segment_cut_short_before_its_audio_keeps_nothing() -> None:
    track = two_segments()
    track.start_segment(" And more.")
    assert track.truncate(300) == "Hello there, how are you today?"
    assert len(track.spoken) == 2


@st.composite
def tracks(draw: st.DrawFn) -> AudioTrack:
    track = AudioTrack(BPM)
    for _ in range(draw(st.integers(1, 6))):
        text = draw(st.text(alphabet=st.sampled_from("ab \n.,"), min_size=1, max_size=30))
        track.start_segment(text)
        for ms in draw(st.lists(st.integers(0, 200), max_size=3)):
            track.add_audio(b"\x00" * ms * BPM)
        track.end_segment()
    if draw(st.booleans()):  # a last segment whose audio was cut short
        track.start_segment(draw(st.text(alphabet=st.sampled_from("ab ."), max_size=60)))
        track.add_audio(b"\x00" * draw(st.integers(0, 200)) * BPM)
    return track


@settings(max_examples=200, deadline=None)
@given(tracks(), st.integers(0, 1500), st.integers(0, 1500))
def test_truncation_keeps_a_prefix_and_is_monotone(track: AudioTrack, a: int, b: int) -> None:
    full = track.transcript
    total = len(track.audio)
    complete = all(s.complete for s in track.spoken)
    lo, hi = sorted((a, b))
    other = AudioTrack(BPM)
    other.audio = bytearray(track.audio)
    other.spoken = [replace(s) for s in track.spoken]
    short = track.truncate(lo)
    long = other.truncate(hi)
    assert full.startswith(long)
    assert long.startswith(short)
    assert len(track.audio) == min(total, lo * BPM)
    assert len(other.audio) == min(total, hi * BPM)
    assert short == track.transcript
    for seg in track.spoken:
        assert seg.end <= len(track.audio)
    if hi * BPM >= total and complete:
        assert long == full


# --- _whole_words ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "upto", "heard"), [
    ("hello world", 11, "hello world"),
    ("hello world", 50, "hello world"),
    ("hello world", 5, "hello"),          # the cut falls on the space: "hello" was heard
    ("hello world", 6, "hello"),          # into "world": back to the space
    ("hello world", 10, "hello"),
    ("hello world", 3, ""),               # inside the first word
    ("hello world", 0, ""),
    (" how are you", 0, ""),
    (" how are you", 3, ""),              # a leading space is no word heard
    (" how are you", 4, " how"),
    (" how are you", 9, " how are"),
    ("one\ntwo three", 5, "one"),
    ("one\ntwo three", 8, "one\ntwo"),
    ("", 0, ""),
])
def test_whole_words(text: str, upto: int, heard: str) -> None:
    assert _whole_words(text, upto) == heard


@given(st.text(alphabet=st.sampled_from("ab \n"), max_size=40), st.integers(0, 45))
def test_whole_words_is_a_prefix_that_grows_with_upto(text: str, upto: int) -> None:
    heard = _whole_words(text, upto)
    assert text.startswith(heard)
    assert len(heard) <= upto
    assert _whole_words(text, upto + 1).startswith(heard)


def test_abbreviations_do_not_end_a_sentence() -> None:
    s = ClauseSplitter()
    out = s.push("Please ask Dr. Smith about it, e.g. tomorrow morning. Then call me back now. ")
    assert out[0] == "Please ask Dr. Smith about it,"
    assert out[1] == " e.g. tomorrow morning."


def test_full_width_marks_split_cjk_text_without_spaces() -> None:
    s = ClauseSplitter()
    out = s.push("今日はとても良い天気ですね。明日も晴れるでしょう。")
    assert out and out[0] == "今日はとても良い天気ですね。"
    assert "".join(out) + s.flush() == "今日はとても良い天気ですね。明日も晴れるでしょう。"
