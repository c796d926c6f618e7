"""One response's lifecycle, and the exact event order it owes the client (EVENTS.md §6.2).

States (one item is open at a time)::

    created ──text──▶ message open ──tool call──▶ function_call open ──▶ …
       │                   │ (text after a call opens a new message item)
       └──────── finish / cancel / fail: close the open item, then ``response.done`` ──▶ done

Every item goes ``response.output_item.added`` → (``conversation.item.added`` when the response
writes to the default conversation) → its parts and deltas → ``.done`` events in reverse order.
``response.done`` is always last, whatever the outcome; after it, results are ignored.

With audio output, message text goes to speech clause by clause (``speak``) instead of out as
text deltas; each clause's transcript delta goes out when its audio starts. An audio message
cannot close while speech is owed, so what the LLM sends after it (a tool call, the finish) is
deferred and replayed in order once the last segment is spoken. A cancel or failure closes at
once with what was spoken so far.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import partial
from typing import Literal, Protocol

import msgspec

from ..protocol import server_events as ev
from ..protocol.items import (
    FunctionCallItem,
    Item,
    MessageItem,
    OutputAudioPart,
    OutputTextPart,
    ResponsePart,
)
from ..protocol.session_types import AudioFormat, MaxOutputTokens, Modality
from .effects import FinishReason
from .speech_out import AudioTrack, ClauseSplitter

Emit = Callable[[ev.ServerEvent], None]
NewId = Callable[[str], str]
Speak = Callable[[int, str], None]
"""Ask for segment ``n`` of this response to be spoken."""
Play = Callable[[str, bytes], None]
"""Server playback: play this audio of item ``item_id`` instead of sending it as deltas."""

Status = Literal["completed", "cancelled", "incomplete", "failed"]
CancelReason = Literal["turn_detected", "client_cancelled"]


class ConversationSink(Protocol):
    """Where a response writes its items: the default conversation (out-of-band: none)."""

    def add(self, item: Item, snapshot: Item, track: AudioTrack | None) -> None:
        """Store ``item``; announce it as ``snapshot`` (its state at this moment). ``track``
        is the audio of an audio message, kept for truncation."""

    def done(self, item: Item) -> None:
        """The item is final."""


class Response:
    __slots__ = (
        "id", "conversation_id", "modalities", "voice", "audio_format", "max_output_tokens",
        "metadata", "output", "status", "_emit", "_new_id", "_sink", "_open", "_chunks",
        "_tool_index", "_call_id", "_call_name", "_speak", "_bytes_per_ms", "_splitter",
        "_track", "_segments", "_spoken", "_deferred", "audio_ms", "_play",
    )

    def __init__(
        self,
        *,
        response_id: str,
        conversation_id: str | None,
        modalities: list[Modality],
        voice: str,
        audio_format: AudioFormat,
        max_output_tokens: MaxOutputTokens,
        metadata: dict[str, str] | None,
        emit: Emit,
        new_id: NewId,
        sink: ConversationSink | None,
        speak: Speak | None = None,
        bytes_per_ms: float = 48.0,
        play: Play | None = None,
    ) -> None:
        self.id = response_id
        self.conversation_id = conversation_id
        self.modalities = modalities
        self.voice = voice
        self.audio_format = audio_format
        self.max_output_tokens = max_output_tokens
        self.metadata = metadata
        self.output: list[Item] = []
        self.status: Literal["in_progress"] | Status = "in_progress"
        self._emit = emit
        self._new_id = new_id
        self._sink = sink
        self._open: MessageItem | FunctionCallItem | None = None
        self._chunks: list[str] = []
        self._tool_index = -1
        self._call_id = ""
        self._call_name = ""
        # Speech output (``speak`` given and audio asked for): segments asked for, segments
        # fully spoken, and the work waiting for the speech to catch up.
        self._speak = speak if "audio" in modalities else None
        self._bytes_per_ms = bytes_per_ms
        self._splitter = ClauseSplitter()
        self._track: AudioTrack | None = None
        self._segments: list[str] = []
        self._spoken = 0
        self._deferred: list[Callable[[], None]] = []
        self._play = play
        self.audio_ms = 0.0
        """Milliseconds of audio this response produced (for the idle timeout)."""

    @property
    def done(self) -> bool:
        return self.status != "in_progress"

    def wire(self, usage: ev.ResponseUsage | None = None,
             details: ev.ResponseStatusDetails | None = None) -> ev.RealtimeResponse:
        return ev.RealtimeResponse(
            id=self.id,
            status=self.status,
            status_details=details,
            output=list(self.output),
            conversation_id=self.conversation_id,
            output_modalities=self.modalities,
            audio=ev.ResponseAudioInfo(
                output=ev.ResponseAudioOutputInfo(format=self.audio_format, voice=self.voice)
            ),
            max_output_tokens=self.max_output_tokens,
            metadata=self.metadata,
            usage=usage,
        )

    def start(self) -> None:
        self._emit(ev.ResponseCreatedEvent(response=self.wire()))

    # --- streaming ------------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        if self._deferred:
            self._deferred.append(partial(self._text, text))
        else:
            self._text(text)

    def on_tool_call(self, index: int, arguments: str, name: str | None,
                     call_id: str | None) -> None:
        self._after_speech(partial(self._tool_call, index, arguments, name, call_id))

    def on_speech_audio(self, segment: int, audio: bytes) -> None:
        track = self._current(segment)
        if track is None or not audio:
            return
        track.add_audio(audio)
        self.audio_ms += len(audio) / self._bytes_per_ms
        item = self._open
        assert isinstance(item, MessageItem) and isinstance(item.id, str)
        if self._play is not None:
            self._play(item.id, audio)
            return
        self._emit(ev.ResponseAudioDeltaEvent(
            response_id=self.id, item_id=item.id, output_index=len(self.output) - 1,
            content_index=0, delta=base64.b64encode(audio).decode("ascii")))

    def on_speech_done(self, segment: int) -> None:
        track = self._current(segment)
        if track is None:
            return
        track.end_segment()
        self._spoken += 1
        while self._deferred and not self._speaking:
            self._deferred.pop(0)()

    @property
    def _speaking(self) -> bool:
        return self._spoken < len(self._segments)

    def _current(self, segment: int) -> AudioTrack | None:
        """The track, if ``segment`` is the one being spoken; its transcript delta goes out
        with its first audio (or at its end, if it made none)."""
        track = self._track
        if track is None or segment != self._spoken or segment >= len(self._segments):
            return None  # a late result, after the message closed
        if len(track.spoken) == segment:
            self._start_segment(track, segment)
        return track

    def _start_segment(self, track: AudioTrack, segment: int) -> None:
        text = self._segments[segment]
        track.start_segment(text)
        item = self._open
        assert isinstance(item, MessageItem) and isinstance(item.id, str)
        self._emit(ev.ResponseAudioTranscriptDeltaEvent(
            response_id=self.id, item_id=item.id, output_index=len(self.output) - 1,
            content_index=0, delta=text))

    def _after_speech(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the open audio message has said all its text."""
        if not self._deferred and not self._flush_speech():
            action()
        else:
            self._deferred.append(action)

    def _flush_speech(self) -> bool:
        """Send the open message's last words to speech; say whether speech is owed."""
        if self._track is not None and isinstance(self._open, MessageItem):
            rest = self._splitter.flush()
            if rest:
                self._queue_segment(rest)
        return self._speaking

    def _queue_segment(self, text: str) -> None:
        assert self._speak is not None
        self._segments.append(text)
        self._speak(len(self._segments) - 1, text)

    def _text(self, text: str) -> None:
        item = self._open
        if not isinstance(item, MessageItem):
            self._close_open("completed")
            item = self._open_message()
        if self._track is not None:
            for segment in self._splitter.push(text):
                self._queue_segment(segment)
            return
        self._chunks.append(text)
        self._emit(ev.ResponseTextDeltaEvent(
            response_id=self.id, item_id=item.id, output_index=len(self.output) - 1,  # type: ignore[arg-type]
            content_index=0, delta=text,
        ))

    def _tool_call(self, index: int, arguments: str, name: str | None,
                   call_id: str | None) -> None:
        if index != self._tool_index or not isinstance(self._open, FunctionCallItem):
            self._close_open("completed")
            self._open_call(index, name or "", call_id or self._new_id("call"))
        if arguments:
            self._chunks.append(arguments)
            self._emit(ev.ResponseFunctionCallArgumentsDeltaEvent(
                response_id=self.id, item_id=self._open.id,  # type: ignore[union-attr,arg-type]
                output_index=len(self.output) - 1, call_id=self._call_id, delta=arguments,
            ))

    # --- endings --------------------------------------------------------------------------

    def finish(self, reason: FinishReason, usage: ev.ResponseUsage) -> None:
        self._after_speech(partial(self._finish, reason, usage))

    def _finish(self, reason: FinishReason, usage: ev.ResponseUsage) -> None:
        if reason in ("length", "content_filter"):
            self._close_open("incomplete")
            why: Literal["max_output_tokens", "content_filter"] = (
                "max_output_tokens" if reason == "length" else "content_filter"
            )
            self._end("incomplete", ev.ResponseStatusDetails(type="incomplete", reason=why),
                      usage)
        else:
            self._close_open("completed")
            self._end("completed", None, usage)

    def cancel(self, reason: CancelReason, usage: ev.ResponseUsage | None) -> None:
        self._close_open("incomplete")
        self._end("cancelled", ev.ResponseStatusDetails(type="cancelled", reason=reason), usage)

    def fail(self, code: str, message: str, usage: ev.ResponseUsage | None) -> None:
        self._close_open("incomplete")
        details = ev.ResponseStatusDetails(
            type="failed",
            error=ev.StatusError(type="server_error", code=code, message=message),
        )
        self._end("failed", details, usage)

    def _end(self, status: Status, details: ev.ResponseStatusDetails | None,
             usage: ev.ResponseUsage | None) -> None:
        self.status = status
        self._deferred.clear()
        self._emit(ev.ResponseDoneEvent(response=self.wire(usage, details)))

    # --- items ----------------------------------------------------------------------------

    def _announce(self, item: Item, snapshot: Item) -> None:
        self.output.append(item)
        self._emit(ev.ResponseOutputItemAddedEvent(
            response_id=self.id, output_index=len(self.output) - 1, item=snapshot))
        if self._sink is not None:
            self._sink.add(item, snapshot, self._track if isinstance(item, MessageItem) else None)

    def _open_message(self) -> MessageItem:
        item = MessageItem(id=self._new_id("item"), object="realtime.item",
                           status="in_progress", role="assistant", content=[])
        if self._speak is not None:
            self._track = AudioTrack(self._bytes_per_ms)
            self._splitter = ClauseSplitter()
            self._segments = []
            self._spoken = 0
            part = ResponsePart(type="audio", transcript="")
        else:
            part = ResponsePart(type="text", text="")
        # The added events show the item as it is now; later mutation must not leak into them.
        self._announce(item, msgspec.structs.replace(item, content=[]))
        self._open = item
        self._chunks = []
        self._emit(ev.ResponseContentPartAddedEvent(
            response_id=self.id, item_id=item.id, output_index=len(self.output) - 1,  # type: ignore[arg-type]
            content_index=0, part=part,
        ))
        return item

    def _open_call(self, index: int, name: str, call_id: str) -> None:
        item = FunctionCallItem(id=self._new_id("item"), object="realtime.item",
                                status="in_progress", name=name, call_id=call_id,
                                arguments="")
        self._announce(item, msgspec.structs.replace(item))
        self._open = item
        self._chunks = []
        self._tool_index = index
        self._call_id = call_id
        self._call_name = name

    def _close_open(self, status: Literal["completed", "incomplete"]) -> None:
        item = self._open
        if item is None:
            return
        self._open = None
        index = len(self.output) - 1
        full = "".join(self._chunks)
        assert isinstance(item.id, str)
        if isinstance(item, MessageItem) and self._track is not None:
            self._close_audio(item, index, self._track)
        elif isinstance(item, MessageItem):
            self._emit(ev.ResponseTextDoneEvent(
                response_id=self.id, item_id=item.id, output_index=index, content_index=0,
                text=full))
            self._emit(ev.ResponseContentPartDoneEvent(
                response_id=self.id, item_id=item.id, output_index=index, content_index=0,
                part=ResponsePart(type="text", text=full)))
            item.content = [OutputTextPart(text=full)]
        else:
            self._emit(ev.ResponseFunctionCallArgumentsDoneEvent(
                response_id=self.id, item_id=item.id, output_index=index,
                call_id=self._call_id, name=self._call_name, arguments=full))
            item.arguments = full
        item.status = status
        self._emit(ev.ResponseOutputItemDoneEvent(
            response_id=self.id, output_index=index, item=item))
        if self._sink is not None:
            self._sink.done(item)

    def _close_audio(self, item: MessageItem, index: int, track: AudioTrack) -> None:
        # What was spoken, not what the LLM wrote: unspoken text never reached the user.
        self._track = None
        transcript = track.transcript
        assert isinstance(item.id, str)
        rid, iid = self.id, item.id
        self._emit(ev.ResponseAudioDoneEvent(
            response_id=rid, item_id=iid, output_index=index, content_index=0))
        self._emit(ev.ResponseAudioTranscriptDoneEvent(
            response_id=rid, item_id=iid, output_index=index, content_index=0,
            transcript=transcript))
        self._emit(ev.ResponseContentPartDoneEvent(
            response_id=rid, item_id=iid, output_index=index, content_index=0,
            part=ResponsePart(type="audio", transcript=transcript)))
        item.content = [OutputAudioPart(transcript=transcript)]
