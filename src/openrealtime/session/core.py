"""The session core: one Realtime session as a synchronous state machine.

Inputs are method calls (``receive_client_event``, ``receive_result``, ``expire``); outputs are
drained (``events_to_send``, ``effects_to_run``), as in h11 and websockets' ``Protocol``. The
owner must drain and encode the events after every input, before the next one: events hold
references to live items, and a later input may change those items.

A ``ClientError`` raised while handling a client event becomes one ``error`` event echoing the
client's ``event_id``; the state is left as it was before the event.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Literal, overload

import msgspec
from msgspec import UNSET

from ..audio.spec import AudioSpec
from ..protocol import client_events as ce
from ..protocol import errors
from ..protocol import server_events as ev
from ..protocol.codec import encode
from ..protocol.errors import ClientError
from ..protocol.ids import IdGenerator
from ..protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioPart,
    Item,
    ItemReference,
    MessageItem,
    OutputAudioPart,
    validate_client_message,
    without_audio,
)
from ..protocol.session_types import (
    AudioConfig,
    AudioFormat,
    AudioInput,
    AudioOutput,
    FunctionTool,
    RealtimeSession,
    SessionConfig,
    Transcription,
    TranscriptionAudio,
    TranscriptionSession,
)
from .config import (
    DEFAULT_TRANSCRIPTION_MODEL,
    NO_PROMPTS,
    Capabilities,
    apply_transcription_update,
    apply_update,
    check_modalities,
    check_tool_choice,
    check_tools,
    default_session,
    default_transcription_session,
)
from .conversation import Conversation, item_id
from .effects import (
    CancelGeneration,
    Effect,
    Generate,
    GenerationDone,
    GenerationFailed,
    PlayAudio,
    ResponseResult,
    Result,
    SpeechAudio,
    SpeechDone,
    SpeechFailed,
    SpeechProbabilities,
    StopPlayback,
    Synthesize,
    TextDelta,
    ToolCallDelta,
    Transcribe,
    TranscriptionDelta,
    TranscriptionDone,
    TranscriptionFailed,
)
from .input_audio import spec_of
from .input_side import InputSide
from .limits import Limits
from .playback import Playback
from .response import Response
from .speech_out import AudioTrack
from .transcripts import Transcripts
from .usage import make_usage

MAX_ERROR_TEXT = 1024


@overload
def _clip(text: str) -> str: ...
@overload
def _clip(text: None) -> None: ...
def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_TEXT:
        return text
    return text[:MAX_ERROR_TEXT] + "…"


class _DefaultConversation:
    """The sink through which default-conversation responses write their items."""

    __slots__ = ("_session", "_prev")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._prev: dict[str, str | None] = {}

    def add(self, item: Item, snapshot: Item, track: AudioTrack | None) -> None:
        prev = self._session.conversation.append(item)
        self._prev[item_id(item)] = prev
        if track is not None:
            self._session.tracks[item_id(item)] = track
        self._session._emit(ev.ConversationItemAdded(item=snapshot, previous_item_id=prev))

    def done(self, item: Item) -> None:
        prev = self._prev.pop(item_id(item), None)
        # A client may have deleted the item while it was being generated.
        if self._session.conversation.get(item_id(item)) is item:
            self._session._emit(ev.ConversationItemDone(item=item, previous_item_id=prev))


class Session:
    def __init__(
        self,
        *,
        model: str,
        now: float,
        caps: Capabilities | None = None,
        limits: Limits | None = None,
        ids: IdGenerator | None = None,
        session_type: Literal["realtime", "transcription"] = "realtime",
        pinned: SessionConfig | None = None,
    ) -> None:
        """``session_type="transcription"`` (``?intent=transcription``) makes a session that
        only transcribes its input audio: no responses (EVENTS.md §3.3, §6.12).

        ``pinned`` (an ephemeral key's configuration) applies before ``session.created``; a
        ``ClientError`` from it means the session cannot start."""
        self.caps = caps or Capabilities()
        self.limits = limits or Limits()
        self.ids = ids or IdGenerator()
        self.conversation = Conversation()
        self.conversation_id = self.ids.new("conv")
        expires_at = int(now) + self.limits.max_session_s
        self.config: RealtimeSession | TranscriptionSession = (
            default_transcription_session(session_id=self.ids.new("sess"), expires_at=expires_at)
            if session_type == "transcription" else
            default_session(session_id=self.ids.new("sess"), model=model,
                            expires_at=expires_at, caps=self.caps))
        self.closed = False
        self._events: list[ev.ServerEvent] = []
        self._effects: list[Effect] = []
        self._responses: dict[str, Response] = {}
        self._default: Response | None = None
        self._sink = _DefaultConversation(self)
        self._voice_locked = False
        if pinned is not None:
            self.config = self._merged(pinned)
        # The audio of assistant audio parts, by item id: for truncate and retrieve.
        self.tracks: dict[str, AudioTrack] = {}
        self.playback = Playback() if self.caps.server_playback else None
        self._now = now  # of the input being handled: playback positions are times
        self.input = InputSide(self, self._audio_input(), self.limits)
        self.transcripts = Transcripts()
        self._handlers: dict[type, Callable[[Any], None]] = {
            ce.SessionUpdateEvent: self._session_update,
            ce.InputAudioBufferAppendEvent: self._buffer_append,
            ce.InputAudioBufferCommitEvent: self._buffer_commit,
            ce.InputAudioBufferClearEvent: self._buffer_clear,
            ce.OutputAudioBufferClearEvent: self._output_buffer_clear,
            ce.ConversationItemCreateEvent: self._item_create,
            ce.ConversationItemRetrieveEvent: self._item_retrieve,
            ce.ConversationItemTruncateEvent: self._item_truncate,
            ce.ConversationItemDeleteEvent: self._item_delete,
            ce.ResponseCreateEvent: self._response_create,
            ce.ResponseCancelEvent: self._response_cancel,
        }
        self._emit(ev.SessionCreatedEvent(session=self.config))

    # --- the owner's interface --------------------------------------------------------------

    def receive_client_event(self, event: ce.ClientEvent, now: float) -> None:
        if self.closed:
            return
        self._now = now
        try:
            self._handlers[type(event)](event)
        except ClientError as err:
            if err.event_id is None and isinstance(event.event_id, str):
                err.event_id = event.event_id
            self.receive_client_error(err)
        self.tick(now)

    def receive_client_error(self, err: ClientError) -> None:
        """Answer a refused input (also the codec's) with an ``error`` event."""
        # Messages quote client text (ids, values); keep the frame far below the 1 MiB limit.
        self._emit(ev.ErrorEvent(error=ev.RealtimeError(
            type=err.type, code=err.code, message=_clip(err.message), param=_clip(err.param),
            event_id=_clip(err.event_id))))

    def receive_result(self, result: Result, now: float) -> None:
        self._now = now
        if isinstance(result, SpeechProbabilities):
            self.input.on_probabilities(result)
        elif isinstance(result, TranscriptionDelta | TranscriptionDone | TranscriptionFailed):
            self._on_transcription(result)
        else:
            self._on_response_result(result, now)
        self.tick(now)

    def tick(self, now: float) -> None:
        """Let timers that are due fire (the owner calls this at ``next_deadline``)."""
        if not self.closed:
            self._now = now
            self.input.tick(now)
            if self.playback is not None:
                for what, rid in self.playback.due(now):
                    self._emit(ev.OutputAudioBufferStarted(response_id=rid) if what == "started"
                               else ev.OutputAudioBufferStopped(response_id=rid))

    @property
    def next_deadline(self) -> float | None:
        times = [self.input.idle_deadline,
                 self.playback.next_deadline if self.playback is not None else None]
        return min((t for t in times if t is not None), default=None)

    def _on_response_result(self, result: ResponseResult, now: float) -> None:
        response = self._responses.get(result.response_id)
        if response is None:
            return  # a late result of a response that already ended
        if isinstance(result, SpeechAudio):
            if result.audio:
                self._voice_locked = True
            response.on_speech_audio(result.segment, result.audio)
        elif isinstance(result, SpeechDone):
            response.on_speech_done(result.segment)
        elif isinstance(result, SpeechFailed):
            response.fail(result.code, result.message, None)
        elif isinstance(result, TextDelta):
            response.on_text(result.text)
        elif isinstance(result, ToolCallDelta):
            response.on_tool_call(result.index, result.arguments, result.name, result.call_id)
        elif isinstance(result, GenerationDone):
            usage = make_usage(result.input_tokens, result.output_tokens)
            response.finish(result.finish_reason, usage)
        elif isinstance(result, GenerationFailed):
            response.fail(result.code, result.message, None)
        if response.done:
            self._forget(response, now)

    def expire(self) -> None:
        """The session reached its maximum duration: say so; the owner then closes."""
        if self.closed:
            return
        for response in list(self._responses.values()):
            self._cancel(response, "client_cancelled")
        self.input.disarm_idle()
        self.receive_client_error(ClientError(
            f"Your session hit the maximum duration of {self.limits.max_session_s // 60} "
            "minutes.", code="session_expired"))
        self.closed = True

    def events_to_send(self) -> list[ev.ServerEvent]:
        out, self._events = self._events, []
        return out

    def effects_to_run(self) -> list[Effect]:
        out, self._effects = self._effects, []
        return out

    @property
    def active_response_ids(self) -> list[str]:
        return list(self._responses)

    def is_active(self, response_id: str) -> bool:
        return response_id in self._responses

    # --- plumbing ---------------------------------------------------------------------------

    def _emit(self, event: ev.ServerEvent) -> None:
        event.event_id = self.ids.event()
        self._events.append(event)

    # --- the input side's host (``InputHost``) ----------------------------------------------

    emit = _emit

    def effect(self, effect: Effect) -> None:
        self._effects.append(effect)

    def new_id(self, prefix: str) -> str:
        return self.ids.new(prefix)

    def commit_audio(self, item_id: str, audio: bytes, spec: AudioSpec) -> None:
        item = MessageItem(
            id=item_id, object="realtime.item", status="completed", role="user",
            content=[InputAudioPart(audio=base64.b64encode(audio).decode("ascii"),
                                    transcript=None)])
        prev = self.conversation.append(item)
        self._emit(ev.InputAudioBufferCommittedEvent(item_id=item_id, previous_item_id=prev))
        self._emit_item_created(item, prev)
        # Transcribed even when the client did not ask: it is what the LLM hears.
        t = self._audio_input().transcription
        asked = isinstance(t, Transcription)
        if not asked and self.transcription_only:
            return  # no LLM reads it here, and the client did not ask
        model = t.model if isinstance(t, Transcription) else UNSET
        language = t.language if isinstance(t, Transcription) else None
        prompt = t.prompt if isinstance(t, Transcription) else None
        self.transcripts.started(item_id, reported=asked)
        self._effects.append(Transcribe(
            item_id=item_id, audio=audio, spec=spec,
            model=model if isinstance(model, str) else DEFAULT_TRANSCRIPTION_MODEL,
            language=language if isinstance(language, str) else None,
            prompt=prompt if isinstance(prompt, str) else None))

    def speech_started(self) -> None:
        td = self.input.turn_detection
        if (td is not None and td.interrupt_response is not False
                and self._default is not None):
            self._cancel(self._default, "turn_detected")
        if td is not None and td.interrupt_response is not False:
            self._clear_playback()

    def turn_ended(self) -> None:
        td = self.input.turn_detection
        # With interrupt_response off a response may still be running; then none is made
        # (EVENTS.md §3.5), since one conversation has one active response.
        if (td is not None and td.create_response is not False and self._default is None
                and not self.transcription_only):
            self._start_response(ce.RealtimeResponseCreateParams())

    @property
    def transcription_only(self) -> bool:
        return isinstance(self.config, TranscriptionSession)

    def _on_transcription(
        self, result: TranscriptionDelta | TranscriptionDone | TranscriptionFailed
    ) -> None:
        iid = result.item_id
        reported = self.transcripts.reported(iid)
        if isinstance(result, TranscriptionDelta):
            if result.text and reported:
                self._emit(ev.TranscriptionDeltaEvent(item_id=iid, content_index=0,
                                                      delta=result.text))
            return
        heard = result.text if isinstance(result, TranscriptionDone) else ""
        for gen in self.transcripts.finished(iid, heard):
            if gen.response_id in self._responses:
                self._effects.append(gen)
        if not reported:
            return
        if isinstance(result, TranscriptionFailed):
            self._emit(ev.TranscriptionFailedEvent(
                item_id=iid, content_index=0, error=ev.TranscriptionError(
                    type="transcription_error", code=result.code, message=result.message)))
            return
        item = self.conversation.get(iid)
        if isinstance(item, MessageItem) and item.content:
            part = item.content[0]
            if isinstance(part, InputAudioPart):
                part.transcript = result.text
        usage: ev.TranscriptionUsageDuration | ev.TranscriptionUsageTokens
        if result.input_tokens is not None and result.output_tokens is not None:
            usage = ev.TranscriptionUsageTokens(
                input_tokens=result.input_tokens, output_tokens=result.output_tokens,
                total_tokens=result.input_tokens + result.output_tokens)
        else:
            usage = ev.TranscriptionUsageDuration(seconds=round(result.duration_s, 3))
        self._emit(ev.TranscriptionCompletedEvent(item_id=iid, content_index=0,
                                                  transcript=result.text, usage=usage))

    def _check_frame(self, event: ev.ServerEvent, param: str) -> None:
        # openai-python refuses frames over 1 MiB; refuse inputs whose echo would exceed it.
        if len(encode(event)) > self.limits.max_frame_bytes:
            raise ClientError("The request is too large: its echo would exceed the 1 MiB frame "
                              "limit of the official clients.", param=param)

    # --- session ----------------------------------------------------------------------------

    def _merged(self, update: SessionConfig) -> RealtimeSession | TranscriptionSession:
        """The configuration with ``update`` applied (a session.update, or an ephemeral key's
        pinned config, which so fails the same way as on the wire)."""
        cfg = self.config
        if isinstance(update, RealtimeSession) and isinstance(cfg, RealtimeSession):
            return apply_update(cfg, update, caps=self.caps, voice_locked=self._voice_locked)
        if isinstance(update, TranscriptionSession) and isinstance(cfg, TranscriptionSession):
            return apply_transcription_update(cfg, update)
        # A session keeps the type it was opened with (EVENTS.md §3.2, §6.14).
        given = "transcription" if isinstance(update, TranscriptionSession) else "realtime"
        have = "transcription" if isinstance(cfg, TranscriptionSession) else "realtime"
        raise ClientError(f"Passing a {given} session update event to a {have} session is "
                          "not allowed.", param="session.type")

    def _session_update(self, event: ce.SessionUpdateEvent) -> None:
        new = self._merged(event.session)
        out = ev.SessionUpdatedEvent(session=new)
        self._check_frame(out, "session")
        self.config = new
        self.input.configure(self._audio_input())
        self._emit(out)

    # --- input audio buffer -----------------------------------------------------------------

    def _audio_input(self) -> AudioInput:
        audio = self.config.audio
        assert isinstance(audio, AudioConfig | TranscriptionAudio)
        assert isinstance(audio.input, AudioInput)
        return audio.input

    def _buffer_append(self, event: ce.InputAudioBufferAppendEvent) -> None:
        self.input.append(event.audio)

    def _buffer_commit(self, _event: ce.InputAudioBufferCommitEvent) -> None:
        self.input.commit()

    def _buffer_clear(self, _event: ce.InputAudioBufferClearEvent) -> None:
        self.input.clear()

    def _output_buffer_clear(self, _event: ce.OutputAudioBufferClearEvent) -> None:
        if self.playback is None:
            raise ClientError("output_audio_buffer.clear is only supported on WebRTC "
                              "connections.", param="type")
        # Cutting the audio also stops its making (OpenAI: "stop generating audio").
        if self._default is not None:
            self._cancel(self._default, "client_cancelled")
        self._clear_playback()

    def _clear_playback(self) -> None:
        """Cut the speaker now; truncate what was cut to what the user heard (EVENTS.md §6.5:
        on WebRTC the server, not the client, truncates)."""
        if self.playback is None:
            return
        cleared, heard = self.playback.clear(self._now)
        if cleared or heard:
            self._effects.append(StopPlayback())
        for rid in cleared:
            self._emit(ev.OutputAudioBufferCleared(response_id=rid))
        for iid, ms in heard.items():
            item, track = self.conversation.get(iid), self.tracks.get(iid)
            if isinstance(item, MessageItem) and item.content and track is not None:
                self._cut_audio(iid, 0, item, track, min(round(ms), int(track.duration_ms)))

    # --- conversation -----------------------------------------------------------------------

    def _emit_item_created(self, item: Item, prev: str | None) -> None:
        shown = without_audio(item)
        self._emit(ev.ConversationItemAdded(item=shown, previous_item_id=prev))
        self._emit(ev.ConversationItemDone(item=shown, previous_item_id=prev))

    def _prepare_client_item(self, item: Item, param: str, known: set[str] | None = None) -> Item:
        """Validate a client-supplied item and fill in what the server owns."""
        if isinstance(item, MessageItem):
            validate_client_message(item, param)
        elif isinstance(item, FunctionCallOutputItem):
            if not self._has_call(item.call_id, known):
                raise ClientError(f"Tool call id {item.call_id!r} not found in conversation.",
                                  param=f"{param}.call_id")
        iid = item.id
        if isinstance(iid, str):
            if not 0 < len(iid) <= 32:
                raise ClientError("Invalid 'item.id': expected a string of 1 to 32 characters.",
                                  param=f"{param}.id")
            if iid in self.conversation:
                raise ClientError(f"Item with id {iid!r} already exists.", param=f"{param}.id")
        else:
            iid = self.ids.new("item")
        new = msgspec.structs.replace(item, id=iid, object="realtime.item", status="completed")
        if isinstance(new, FunctionCallItem) and not isinstance(new.call_id, str):
            new.call_id = self.ids.new("call")
        return new

    def _has_call(self, call_id: str, known: set[str] | None) -> bool:
        if known is not None and call_id in known:
            return True
        return any(isinstance(it, FunctionCallItem) and it.call_id == call_id
                   for it in self.conversation)

    def _item_create(self, event: ce.ConversationItemCreateEvent) -> None:
        item = self._prepare_client_item(event.item, "item")
        prev_id = event.previous_item_id
        shown = without_audio(item)
        self._check_frame(ev.ConversationItemAdded(item=shown, previous_item_id=None), "item")
        if prev_id is UNSET or prev_id is None:
            prev = self.conversation.append(item)
        elif prev_id == "root":
            prev = self.conversation.insert_after(item, None)
        elif prev_id in self.conversation:
            prev = self.conversation.insert_after(item, prev_id)
        else:
            raise ClientError(f"Previous item with id {prev_id!r} not found.",
                              param="previous_item_id")
        self._emit_item_created(item, prev)

    def _lookup(self, iid: str, code: str) -> Item:
        item = self.conversation.get(iid)
        if item is None:
            raise ClientError(f"Item with item_id not found: {iid}", code=code, param="item_id")
        return item

    def _item_retrieve(self, event: ce.ConversationItemRetrieveEvent) -> None:
        item = self._lookup(event.item_id, errors.RETRIEVE_INVALID_ITEM)
        track = self.tracks.get(event.item_id)
        if track is not None and isinstance(item, MessageItem):
            # Assistant audio is kept raw while it streams; retrieve shows it as the part's.
            audio = base64.b64encode(track.audio).decode("ascii")
            item = msgspec.structs.replace(item, content=[
                msgspec.structs.replace(p, audio=audio) if isinstance(p, OutputAudioPart) else p
                for p in item.content])
        out = ev.ConversationItemRetrieved(item=item)
        if len(encode(out)) > self.limits.max_frame_bytes:
            # Audio too long for one frame: send the item without it rather than break the client.
            out = ev.ConversationItemRetrieved(item=without_audio(item))
        self._emit(out)

    def _item_delete(self, event: ce.ConversationItemDeleteEvent) -> None:
        self._lookup(event.item_id, errors.DELETE_INVALID_ITEM)
        self.conversation.delete(event.item_id)
        self.tracks.pop(event.item_id, None)
        self.transcripts.forget(event.item_id)
        self._emit(ev.ConversationItemDeletedEvent(item_id=event.item_id))

    def _item_truncate(self, event: ce.ConversationItemTruncateEvent) -> None:
        iid, index = event.item_id, event.content_index
        item = self._lookup(iid, errors.TRUNCATE_INVALID_ITEM)
        track = self.tracks.get(iid)
        part = None
        if isinstance(item, MessageItem) and item.role == "assistant":
            if index < len(item.content):
                part = item.content[index]
            elif index == 0 and track is not None:
                part = OutputAudioPart()  # still being spoken: its part comes at the close
        if not isinstance(part, OutputAudioPart):
            raise ClientError("Only model output audio messages can be truncated",
                              code=errors.UNSUPPORTED_CONTENT_TYPE, param="content_index")
        played = track.duration_ms if track is not None else 0.0
        if event.audio_end_ms > played:
            raise ClientError(
                f"Audio content of {int(played)}ms is already shorter than "
                f"{event.audio_end_ms}ms", param="audio_end_ms")
        assert track is not None and isinstance(item, MessageItem)
        if item.status == "in_progress" and self._default is not None:
            # Still being spoken: what the client cut is all the user will hear of it.
            self._cancel(self._default, "client_cancelled")
        self._cut_audio(iid, index, item, track, event.audio_end_ms)

    def _cut_audio(self, iid: str, index: int, item: MessageItem, track: AudioTrack,
                   audio_end_ms: int) -> None:
        part = item.content[index]
        assert isinstance(part, OutputAudioPart)
        # The model must not be conditioned on words the user never heard (EVENTS.md §6.7).
        part.transcript = track.truncate(audio_end_ms)
        self._emit(ev.ConversationItemTruncatedEvent(
            item_id=iid, content_index=index, audio_end_ms=audio_end_ms))

    # --- responses --------------------------------------------------------------------------

    def _response_create(self, event: ce.ResponseCreateEvent) -> None:
        if self.transcription_only:
            raise ClientError("response.create is not supported in transcription sessions: "
                              "they only transcribe input audio.", param="type")
        self._start_response(event.response or ce.RealtimeResponseCreateParams())

    def _start_response(self, params: ce.RealtimeResponseCreateParams) -> None:
        cfg = self.config
        assert isinstance(cfg, RealtimeSession)  # transcription sessions never get here
        if params.prompt is not UNSET and params.prompt is not None:
            raise ClientError(NO_PROMPTS, param="response.prompt")
        conversation = params.conversation or "auto"
        if conversation == "auto" and self._default is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: "
                f"{self._default.id}. Wait until the response is finished before creating a "
                "new one.", code=errors.ACTIVE_RESPONSE)
        modalities = cfg.output_modalities
        assert isinstance(modalities, list)
        if params.output_modalities is not UNSET:
            # Checked as given: ``[]`` is refused, not read as "use the session's".
            check_modalities(params.output_modalities, "response.output_modalities")
            modalities = params.output_modalities if self.caps.audio_output else ["text"]
        tools_src = cfg.tools if params.tools is UNSET else params.tools
        assert isinstance(tools_src, list)
        tools = check_tools(tools_src, "response.tools")
        choice = cfg.tool_choice if params.tool_choice is UNSET else params.tool_choice
        assert not isinstance(choice, msgspec.UnsetType)
        check_tool_choice(choice, list(tools), "response.tool_choice")
        items = self._context(params)
        max_tokens = (cfg.max_output_tokens if params.max_output_tokens is UNSET
                      else params.max_output_tokens)
        assert not isinstance(max_tokens, msgspec.UnsetType)
        voice, fmt = self._output_audio(params)
        metadata = None if params.metadata is UNSET else params.metadata
        instructions = cfg.instructions if params.instructions is UNSET else params.instructions
        assert isinstance(instructions, str) and isinstance(cfg.model, str)
        parallel = cfg.parallel_tool_calls if params.parallel_tool_calls is UNSET else (
            params.parallel_tool_calls)
        assert isinstance(parallel, bool)

        rid = self.ids.new("resp")
        in_conv = conversation == "auto"
        spec = spec_of(fmt)
        speed = self._output_speed()

        def speak(segment: int, text: str) -> None:
            self._effects.append(Synthesize(rid, segment, text, voice, speed, spec))

        def play(iid: str, audio: bytes) -> None:
            assert self.playback is not None
            self.playback.queue(rid, iid, spec.duration_ms(len(audio)), self._now)
            self._effects.append(PlayAudio(rid, iid, audio, spec))

        response = Response(
            response_id=rid,
            conversation_id=self.conversation_id if in_conv else None,
            modalities=modalities, voice=voice, audio_format=fmt,
            max_output_tokens=max_tokens, metadata=metadata,
            emit=self._emit, new_id=self.ids.new, sink=self._sink if in_conv else None,
            speak=speak if self.caps.audio_output else None,
            bytes_per_ms=spec.bytes_per_second / 1000,
            play=play if self.playback is not None else None,
        )
        self._responses[rid] = response
        if in_conv:
            self._default = response
            self.input.disarm_idle()
        response.start()
        gen = self.transcripts.hold(Generate(
            response_id=rid, model=cfg.model, instructions=instructions, items=items,
            tools=tuple(tools), tool_choice=choice,
            max_output_tokens=None if max_tokens == "inf" else int(max_tokens),
            parallel_tool_calls=parallel,
        ))
        if gen is not None:
            self._effects.append(gen)

    def _output_audio(self, params: ce.RealtimeResponseCreateParams) -> tuple[str, AudioFormat]:
        audio = self.config.audio
        assert isinstance(audio, AudioConfig) and isinstance(audio.output, AudioOutput)
        voice, fmt = audio.output.voice, audio.output.format
        over = params.audio.output if params.audio is not UNSET else UNSET
        if over is not UNSET:
            if over.voice is not UNSET:
                voice = over.voice if isinstance(over.voice, str) else over.voice.id
            if over.format is not UNSET:
                fmt = over.format
        assert isinstance(voice, str) and not isinstance(fmt, msgspec.UnsetType)
        return voice, fmt

    def _output_speed(self) -> float:
        audio = self.config.audio
        assert isinstance(audio, AudioConfig) and isinstance(audio.output, AudioOutput)
        speed = audio.output.speed
        return float(speed) if isinstance(speed, float | int) else 1.0

    def _context(self, params: ce.RealtimeResponseCreateParams) -> tuple[Item, ...]:
        """The items the model sees: ``input`` when given (``[]`` = none), else the conversation."""
        if params.input is UNSET:
            return self.conversation.snapshot()
        out: list[Item] = []
        calls: set[str] = set()
        for i, entry in enumerate(params.input):
            param = f"response.input[{i}]"
            if isinstance(entry, ItemReference):
                found = self.conversation.get(entry.id)
                if found is None:
                    raise ClientError(f"Item with id {entry.id!r} not found.",
                                      param=f"{param}.id")
                item = found
            elif isinstance(entry.id, str) and (found := self.conversation.get(entry.id)):
                item = found  # GA lets a full item stand for the existing one with its id
            else:
                item = self._prepare_client_item(
                    msgspec.structs.replace(entry, id=UNSET), param, known=calls)
            if isinstance(item, FunctionCallItem) and isinstance(item.call_id, str):
                calls.add(item.call_id)
            out.append(item)
        return tuple(out)

    def _response_cancel(self, event: ce.ResponseCancelEvent) -> None:
        rid = event.response_id
        response = self._default if rid is UNSET else self._responses.get(rid)
        if response is None:
            raise ClientError("Cancellation failed: no active response found",
                              code=errors.CANCEL_NOT_ACTIVE)
        self._cancel(response, "client_cancelled")

    def _cancel(self, response: Response, reason: Any) -> None:
        response.cancel(reason, None)
        self._forget(response, None)
        self._effects.append(CancelGeneration(response.id))

    def _forget(self, response: Response, now: float | None) -> None:
        self._responses.pop(response.id, None)
        if self.playback is not None:
            self.playback.finish(response.id)
        self.transcripts.drop(response.id)
        if self._default is response:
            self._default = None
            if now is not None and response.status != "cancelled":
                # Idle time counts from when the reply has finished playing.
                self.input.arm_idle(now + response.audio_ms / 1000)


__all__ = ["Capabilities", "FunctionTool", "Session"]
