"""Server settings: command-line flags over ``OPENREALTIME_*`` environment variables over
defaults. Anything unknown or invalid raises ``SettingsError`` with one line naming it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlparse

ENV_PREFIX = "OPENREALTIME_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(Exception):
    """A bad setting; the message is one line that names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    asr_base_url: str | None = None
    asr_model: str | None = None
    asr_api_key: str | None = None
    tts_base_url: str | None = None
    tts_model: str | None = None
    tts_api_key: str | None = None
    api_key: str | None = None
    log_level: str = "info"


SETTING_NAMES = tuple(f.name for f in fields(Settings))


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _check(name: str, raw: str, source: str) -> object:
    where = f"{flag(name)} ({source})"
    if name == "port":
        # ASCII digits only: int() would also take "1_000" and non-ASCII digits.
        digits = raw.strip()
        if not (digits.isascii() and digits.removeprefix("-").isdigit()):
            raise SettingsError(f"invalid {where}: {raw!r} is not a port number")
        port = int(digits)
        if not 0 <= port <= 65535:
            raise SettingsError(f"invalid {where}: {port} is outside 0-65535")
        return port
    if name == "log_level":
        if raw.lower() not in LOG_LEVELS:
            raise SettingsError(f"invalid {where}: {raw!r}; expected one of "
                                f"{', '.join(LOG_LEVELS)}")
        return raw.lower()
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


def load_settings(cli: Mapping[str, str | None], env: Mapping[str, str] | None = None) -> Settings:
    """Merge flags (given ones only) over the environment over the defaults."""
    environ: Mapping[str, str] = os.environ if env is None else env
    values: dict[str, object] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in SETTING_NAMES:
            raise SettingsError(f"unknown setting {key} in the environment")
        values[name] = _check(name, raw, f"from {key}")
    for name, given in cli.items():
        if name not in SETTING_NAMES:
            raise SettingsError(f"unknown setting {flag(name)}")
        if given is not None:
            values[name] = _check(name, given, "on the command line")
    return Settings(**values)  # type: ignore[arg-type]
