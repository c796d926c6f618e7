"""Server settings: command-line flags over ``OPENREALTIME_*`` environment variables over a TOML
file (``--config``) over defaults. Anything unknown or invalid raises ``SettingsError`` with one
line naming where it came from (the flag, the variable, or the file and key)."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlparse

ENV_PREFIX = "OPENREALTIME_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LLM_ENGINES = ("echo", "scripted", "openai", "llama-cpp")
ASR_ENGINES = ("pocketsphinx", "openai", "faster-whisper", "none")
TTS_ENGINES = ("espeak", "openai", "piper", "kokoro", "none")
DEVICES = ("auto", "cpu", "cuda")
# The file groups each engine's settings in a table: [llm] base_url = ... is llm_base_url.
SECTIONS = ("llm", "asr", "tts")


class SettingsError(Exception):
    """A bad setting; the message is one line that names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    log_level: str = "info"
    max_sessions: int = 0
    """Sessions open at once; past it a handshake is refused with 503 (0: no limit)."""
    max_session_minutes: int = 60
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    """With ``ssl_certfile``: serve ``wss://`` and ``https://`` (the Node SDK always uses wss)."""
    ephemeral_key_secret: str | None = None
    """Signs ephemeral ``ek_`` keys; replicas sharing it accept each other's keys. None: derived
    from ``api_key`` when set, else random per process."""
    webrtc_udp_ports: str | None = None
    """``LOW-HIGH``: the UDP ports WebRTC media may use (None: any)."""
    webrtc_public_ip: str | None = None
    """The address WebRTC offers to clients, for a server behind NAT."""
    llm_engine: str | None = None
    """None: ``openai`` when ``llm_base_url`` is set, ``scripted`` when ``llm_rules`` is,
    else ``echo``."""
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_rules: str | None = None
    llm_context: int = 4096
    """llama-cpp's context window in tokens."""
    llm_chat_format: str | None = None
    """llama-cpp's chat format (None: the GGUF's own template)."""
    asr_engine: str | None = None
    """None: ``openai`` when ``asr_base_url`` is set, else ``pocketsphinx``."""
    asr_base_url: str | None = None
    asr_model: str | None = None
    asr_api_key: str | None = None
    asr_device: str = "auto"
    asr_compute_type: str = "default"
    """faster-whisper's CTranslate2 compute type (int8, float16, ...)."""
    tts_engine: str | None = None
    """None: ``openai`` when ``tts_base_url`` is set, else ``espeak``."""
    tts_base_url: str | None = None
    tts_model: str | None = None
    tts_api_key: str | None = None
    tts_voice: str | None = None
    tts_voices: str | None = None

    @property
    def llm(self) -> str:
        return self.llm_engine or ("openai" if self.llm_base_url else
                                   "scripted" if self.llm_rules else "echo")

    @property
    def asr(self) -> str:
        return self.asr_engine or ("openai" if self.asr_base_url else "pocketsphinx")

    @property
    def tts(self) -> str:
        return self.tts_engine or ("openai" if self.tts_base_url else "espeak")


SETTING_NAMES = tuple(f.name for f in fields(Settings))
CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": LOG_LEVELS, "llm_engine": LLM_ENGINES, "asr_engine": ASR_ENGINES,
    "tts_engine": TTS_ENGINES, "asr_device": DEVICES,
}
RANGES: dict[str, tuple[int, int]] = {
    "port": (0, 65535), "max_sessions": (0, 1_000_000), "max_session_minutes": (1, 24 * 60),
    "llm_context": (256, 1 << 20),
}


# Settings that are always file paths; in a config file, relative ones are read from the file's
# folder. (Model settings may be hub names, so they are left as written.)
FILE_PATHS = frozenset({"llm_rules", "ssl_certfile", "ssl_keyfile", "tts_voices"})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def file_key(name: str) -> str:
    """Where a setting sits in the TOML file: ``port``, or ``[llm] base_url``."""
    section, _, key = name.partition("_")
    return f"[{section}] {key}" if section in SECTIONS else name


def _check(name: str, raw: str, where: str) -> object:
    if name in RANGES:
        low, high = RANGES[name]
        # ASCII digits only: int() would also take "1_000" and non-ASCII digits.
        digits = raw.strip()
        if not (digits.isascii() and digits.removeprefix("-").isdigit()):
            raise SettingsError(f"invalid {where}: {raw!r} is not a whole number")
        value = int(digits)
        if not low <= value <= high:
            raise SettingsError(f"invalid {where}: {value} is outside {low}-{high}")
        return value
    if name in CHOICES:
        if raw.lower() not in CHOICES[name]:
            raise SettingsError(f"invalid {where}: {raw!r}; expected one of "
                                f"{', '.join(CHOICES[name])}")
        return raw.lower()
    if name in ("ssl_certfile", "ssl_keyfile"):
        if not Path(raw).expanduser().is_file():
            raise SettingsError(f"invalid {where}: no file at {raw!r}")
        return str(Path(raw).expanduser())
    if name == "webrtc_udp_ports":
        first, sep, last = raw.strip().partition("-")
        if not (sep and first.isascii() and first.isdigit() and last.isascii()
                and last.isdigit() and 1024 <= int(first) <= int(last) <= 65535):
            raise SettingsError(f"invalid {where}: {raw!r} is not a port range LOW-HIGH "
                                "within 1024-65535")
        return f"{int(first)}-{int(last)}"
    if name == "webrtc_public_ip":
        try:
            return str(ipaddress.ip_address(raw.strip()))
        except ValueError:
            raise SettingsError(f"invalid {where}: {raw!r} is not an IP address") from None
    if name.endswith("_base_url"):
        try:
            url = urlparse(raw)
            _ = url.port  # raises ValueError for a port that is not 0-65535
        except ValueError:  # also urlparse's own, e.g. "Invalid IPv6 URL"
            raise SettingsError(f"invalid {where}: {raw!r} is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise SettingsError(f"invalid {where}: {raw!r} is not an http(s) URL")
        return raw.rstrip("/")
    if not raw.strip():
        raise SettingsError(f"invalid {where}: empty value")
    return raw


def read_config_file(path: str) -> dict[str, object]:
    """The settings in a TOML file, checked; errors name the file, the key and the problem."""
    try:
        with Path(path).expanduser().open("rb") as f:
            doc = tomllib.load(f)
    except OSError as err:
        raise SettingsError(f"cannot read config file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{path}: not valid TOML: {err}") from None
    values: dict[str, object] = {}
    for key, value in doc.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise SettingsError(f"{path}: {key} must be a table ([{key}]), "
                                    f"not {_toml_type(value)}")
            for sub, sub_value in value.items():
                _file_value(path, f"{key}_{sub}", f"[{key}] {sub}", sub_value, values)
        else:
            _file_value(path, key, key, value, values)
    return values


def _file_value(path: str, name: str, key: str, value: object, out: dict[str, object]) -> None:
    # A section's setting written at the top level (llm_model = ...) is refused, not guessed:
    # the file has one spelling for each setting.
    if name not in SETTING_NAMES or file_key(name) != key:
        raise SettingsError(f"{path}: unknown key {key}{_did_you_mean(name)}")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SettingsError(f"{path}: {key} must be a string or a number, "
                            f"not {_toml_type(value)}")
    if isinstance(value, int) and name not in RANGES:
        raise SettingsError(f"{path}: {key} must be a string, not a number")
    raw = str(value)
    if name in FILE_PATHS:  # beside the config file, as a user reading the file expects
        raw = str(Path(path).expanduser().parent / Path(raw).expanduser())
    out[name] = _check(name, raw, f"{key} in {path}")


def _did_you_mean(name: str) -> str:
    section, _, key = name.partition("_")
    if name in SETTING_NAMES and section in SECTIONS:
        return f" (write it as {key} = ... under [{section}])"
    if section in SECTIONS:
        keys = [n.partition("_")[2] for n in SETTING_NAMES if n.startswith(section + "_")]
        return f" (keys in [{section}]: {', '.join(keys)})"
    top = [n for n in SETTING_NAMES if n.partition("_")[0] not in SECTIONS]
    return f" (top-level keys: {', '.join(top)}; tables: {', '.join(SECTIONS)})"


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def load_settings(cli: Mapping[str, str | None], env: Mapping[str, str] | None = None,
                  config: str | None = None) -> Settings:
    """Merge flags (given ones only) over the environment over the config file over defaults.

    ``config`` is the ``--config`` flag; without it ``OPENREALTIME_CONFIG`` names the file.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    path = config if config is not None else environ.get(CONFIG_ENV)
    values: dict[str, object] = read_config_file(path) if path else {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in SETTING_NAMES:
            raise SettingsError(f"unknown setting {key} in the environment")
        values[name] = _check(name, raw, f"{flag(name)} (from {key})")
    for name, given in cli.items():
        if name not in SETTING_NAMES:
            raise SettingsError(f"unknown setting {flag(name)}")
        if given is not None:
            values[name] = _check(name, given, f"{flag(name)} (on the command line)")
    settings = Settings(**values)  # type: ignore[arg-type]
    _check_engines(settings)
    return settings


def _check_engines(s: Settings) -> None:
    """What each chosen engine cannot start without, said before anything loads."""
    needs = {
        ("llm", "openai"): ("llm_base_url", "the URL of an OpenAI-compatible chat API"),
        ("llm", "scripted"): ("llm_rules", "a rules file (see examples/scripted-rules.yaml)"),
        ("llm", "llama-cpp"): ("llm_model", "a GGUF file or a hub name"),
        ("asr", "openai"): ("asr_base_url", "the URL of an OpenAI-compatible audio API"),
        ("asr", "faster-whisper"): ("asr_model", "a model directory or a model name"),
        ("tts", "openai"): ("tts_base_url", "the URL of an OpenAI-compatible audio API"),
        ("tts", "piper"): ("tts_model", "a piper voice .onnx file"),
        ("tts", "kokoro"): ("tts_model", "a kokoro .onnx file"),
    }
    if s.ssl_keyfile and not s.ssl_certfile:
        raise SettingsError("--ssl-keyfile needs --ssl-certfile (the certificate it belongs to)")
    for kind, engine in (("llm", s.llm), ("asr", s.asr), ("tts", s.tts)):
        need = needs.get((kind, engine))
        if need and getattr(s, need[0]) is None:
            raise SettingsError(f"the {engine} {kind.upper()} engine needs {flag(need[0])} "
                                f"({need[1]})")
