"""espeak-ng through ctypes, on the library and data shipped by the ``espeakng-loader`` wheel.

A small, robotic but real speech synthesizer: the tests speak with it, and it can stand in
where no TTS server is configured. Calls block; run them in a thread (``asyncio.to_thread``).

espeak's C API keeps all of its state in globals (one voice, one set of parameters, one
callback), so every call here runs under one lock and the library is initialised once, in
``AUDIO_OUTPUT_SYNCHRONOUS`` mode: ``espeak_Synth`` returns only when the callback has been
given every sample (in 60 ms pieces, as they are made), or when the callback asked it to stop.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# From speak_lib.h (API revision 12).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _PITCH = 1, 3
_EE_OK = 0
RATE_MIN, RATE_MAX = 80, 450

_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class EspeakError(RuntimeError):
    """espeak-ng is missing, failed to start, or refused a call."""


@dataclass(frozen=True, slots=True)
class Voice:
    name: str
    identifier: str
    """The voice file within ``espeak-ng-data/voices`` (``gmw/en-US``); accepted by ``voice``."""
    languages: tuple[str, ...]


class _VoiceStruct(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


class _Engine:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise EspeakError("espeak-ng needs the 'espeakng-loader' package "
                              "(pip install espeakng-loader).") from None
        try:
            lib: Any = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path().encode()
            self.variants_dir = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
        except (OSError, RuntimeError) as err:
            raise EspeakError(f"cannot load espeak-ng: {err}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_GetParameter.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        # The path may name espeak-ng-data itself; espeak-ng checks it before appending.
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate}) with data at {data_path!r}")
        self.lib = lib
        self.sample_rate: int = rate
        self.default_pitch: int = lib.espeak_GetParameter(_PITCH, 0)
        self.voice: str | None = None
        self.sink: Callable[[bytes], bool] | None = None
        self.sink_error: BaseException | None = None
        # Kept on the instance: ctypes frees a callback whose Python object is collected.
        self.callback = _Callback(self._deliver)
        lib.espeak_SetSynthCallback(self.callback)

    def _deliver(self, wav: Any, count: int, _events: Any) -> int:
        if not wav or count <= 0 or self.sink is None:
            return 0
        try:
            keep = self.sink(ctypes.string_at(wav, count * 2))
        except BaseException as err:  # an exception cannot cross the C frames: carry it over
            self.sink_error = err
            return 1
        return 0 if keep else 1  # 1 = abort: espeak_Synth returns at once

    def set_voice(self, voice: str) -> bool:
        if voice == self.voice:
            return True
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            self.voice = None  # whatever espeak holds now, the next call sets its own
            return False
        self.voice = voice
        return True

    def speak(self, text: str, voice: str, rate_wpm: int, pitch: int | None,
              sink: Callable[[bytes], bool]) -> bool:
        if not self.set_voice(voice):
            raise EspeakError(f"espeak-ng has no voice {voice!r}")
        # Parameters are global and sticky: set both every time so no call inherits another's.
        self.lib.espeak_SetParameter(_RATE, max(RATE_MIN, min(RATE_MAX, rate_wpm)), 0)
        self.lib.espeak_SetParameter(
            _PITCH, self.default_pitch if pitch is None else max(0, min(100, pitch)), 0)
        data = text.encode() + b"\0"
        stopped = False

        def deliver(pcm: bytes) -> bool:
            nonlocal stopped
            stopped = not sink(pcm)
            return not stopped

        self.sink, self.sink_error = deliver, None
        try:
            err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                        None, None)
        finally:
            self.sink, raised, self.sink_error = None, self.sink_error, None
        if raised is not None:
            raise raised
        if err != _EE_OK:
            raise EspeakError(f"espeak_Synth failed ({err})")
        return not stopped

    def variants(self) -> list[str]:
        try:
            return sorted(os.listdir(self.variants_dir))
        except OSError:
            return []

    def list_voices(self) -> list[Voice]:
        out: list[Voice] = []
        table = self.lib.espeak_ListVoices(None)
        i = 0
        while table[i]:
            v = table[i].contents
            out.append(Voice((v.name or b"").decode(), (v.identifier or b"").decode(),
                             _languages(v.languages)))
            i += 1
        return out


def _languages(ptr: int | None) -> tuple[str, ...]:
    """Decode espeak's list: (priority byte, NUL-terminated name)*, then a NUL."""
    langs: list[str] = []
    if not ptr:
        return ()
    pos = ptr
    while ctypes.string_at(pos, 1) != b"\0":
        name = ctypes.string_at(pos + 1)
        langs.append(name.decode(errors="replace"))
        pos += len(name) + 2
    return tuple(langs)


_lock = threading.Lock()
_engine: _Engine | None = None


def _get() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def synthesize(text: str, voice: str = "en", rate_wpm: int = 175,
               pitch: int | None = None) -> tuple[bytes, int]:
    """Speak ``text``: (PCM16 mono little-endian bytes, sample rate). Blocking.

    ``voice`` is an espeak voice name or language (``en``, ``en-us``, ``de``); ``rate_wpm`` is
    clamped to 80–450 words a minute; ``pitch`` is 0–100 (``None``: the voice's default).
    """
    pieces: list[bytes] = []

    def keep(pcm: bytes) -> bool:
        pieces.append(pcm)
        return True

    with _lock:
        engine = _get()
        engine.speak(text, voice, rate_wpm, pitch, keep)
        return b"".join(pieces), engine.sample_rate


def stream(text: str, on_audio: Callable[[bytes], bool], voice: str = "en",
           rate_wpm: int = 175, pitch: int | None = None) -> bool:
    """Speak ``text`` piece by piece: ``on_audio`` gets each piece of PCM16 (whole samples, at
    ``sample_rate()``) on this thread as soon as espeak makes it. Blocking.

    ``on_audio`` returns whether to go on: ``False`` stops the synthesis at once, and this
    returns ``False``; it returns ``True`` once all of ``text`` was spoken. An exception raised
    by ``on_audio`` stops the synthesis and is raised here. Other calls wait meanwhile (espeak
    has one global state), so ``on_audio`` should hand the piece over, not hold on to it.
    """
    with _lock:
        return _get().speak(text, voice, rate_wpm, pitch, on_audio)


def sample_rate() -> int:
    """The rate espeak-ng produces (22050 Hz for its own voices)."""
    with _lock:
        return _get().sample_rate


def list_voices() -> list[Voice]:
    with _lock:
        return _get().list_voices()


def list_variants() -> list[str]:
    """The variants a voice name may end with after a ``+`` (``m1``…``m8``, ``f1``…``f5``,
    and named ones such as ``Annie`` or ``klatt``)."""
    with _lock:
        return _get().variants()


def has_voice(voice: str) -> bool:
    """Whether ``voice`` (``en-us``, ``en-us+f2``, ``gmw/en-US``…) names a voice espeak has, and
    its variant, if any, one of ``list_variants()`` (espeak itself ignores an unknown one)."""
    base, plus, variant = voice.partition("+")
    with _lock:
        engine = _get()
        return engine.set_voice(base) and (not plus or variant in engine.variants())
