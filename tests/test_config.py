"""Settings and the command line: flags over OPENREALTIME_* over defaults; a bad setting is one
line that names it, and exit status 2. (Starting the server is covered by the end-to-end tests.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import openrealtime
from openrealtime import cli
from openrealtime.config import (
    SETTING_NAMES,
    Settings,
    SettingsError,
    env_name,
    flag,
    load_settings,
)

NO_CLI: dict[str, str | None] = {}

# A valid value for every setting, and what it becomes.
VALID: dict[str, tuple[str, object]] = {
    "host": ("0.0.0.0", "0.0.0.0"),
    "port": ("9001", 9001),
    "llm_base_url": ("http://localhost:11434/v1/", "http://localhost:11434/v1"),
    "llm_model": ("llama3.2", "llama3.2"),
    "llm_api_key": ("sk-llm", "sk-llm"),
    "asr_base_url": ("https://asr.example.com/v1", "https://asr.example.com/v1"),
    "asr_model": ("whisper-1", "whisper-1"),
    "asr_api_key": ("sk-asr", "sk-asr"),
    "tts_base_url": ("http://[::1]:8880/v1", "http://[::1]:8880/v1"),
    "tts_model": ("kokoro", "kokoro"),
    "tts_api_key": ("sk-tts", "sk-tts"),
    "api_key": ("server-key", "server-key"),
    "log_level": ("DEBUG", "debug"),
    "max_sessions": ("200", 200),
    "max_session_minutes": ("5", 5),
    "llm_engine": ("Echo", "echo"),
    "llm_rules": ("rules.yaml", "rules.yaml"),
    "asr_engine": ("none", "none"),
    "asr_device": ("cuda", "cuda"),
    "asr_compute_type": ("int8", "int8"),
    "llm_context": ("8192", 8192),
    "llm_chat_format": ("chatml", "chatml"),
    "tts_engine": ("none", "none"),
    "tts_voice": ("en-us+f3", "en-us+f3"),
    "tts_voices": ("voices-v1.0.bin", "voices-v1.0.bin"),
    "ssl_certfile": (__file__, __file__),
    "ssl_keyfile": (__file__, __file__),
    "ephemeral_key_secret": ("s3cret", "s3cret"),
    "webrtc_udp_ports": ("50000-50100", "50000-50100"),
    "webrtc_public_ip": ("203.0.113.7", "203.0.113.7"),
}

# (setting, bad value) pairs; each must be refused with a message naming the flag.
INVALID: list[tuple[str, str]] = [
    ("port", "nope"),
    ("port", ""),
    ("port", "80.5"),
    ("port", "1_000"),
    ("port", "８０"),  # full-width digits: int() takes them, a port flag should not
    ("port", "-1"),
    ("port", "65536"),
    ("port", "99999999999999999999"),
    ("llm_base_url", "localhost:11434"),
    ("llm_base_url", "ftp://example.com"),
    ("llm_base_url", "http://"),
    ("llm_base_url", "http://[::1"),
    ("asr_base_url", "http://host:99999/v1"),
    ("tts_base_url", "not a url"),
    ("log_level", "loud"),
    ("log_level", ""),
    ("host", ""),
    ("llm_model", "   "),
    ("llm_engine", "gpt"),
    ("asr_engine", "whisper"),
    ("tts_engine", "say"),
    ("asr_device", "tpu"),
    ("max_sessions", "-1"),
    ("max_session_minutes", "0"),
    ("llm_context", "100"),
    ("ssl_certfile", "/nonexistent/cert.pem"),
    ("webrtc_udp_ports", "50000"),
    ("webrtc_public_ip", "example.com"),
]


def test_every_setting_is_covered_here() -> None:
    assert set(VALID) == set(SETTING_NAMES)


def test_defaults() -> None:
    s = load_settings(NO_CLI, {})
    assert s == Settings()
    assert (s.host, s.port, s.log_level) == ("127.0.0.1", 8000, "info")
    assert s.llm_base_url is None and s.api_key is None


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_each_setting_from_env_and_from_cli(name: str) -> None:
    raw, value = VALID[name]
    # A key file is only valid beside its certificate.
    env = {env_name("ssl_certfile"): __file__} if name == "ssl_keyfile" else {}
    assert getattr(load_settings(NO_CLI, {**env, env_name(name): raw}), name) == value
    assert getattr(load_settings({name: raw}, env), name) == value


def test_precedence_cli_over_env_over_defaults() -> None:
    env = {"OPENREALTIME_PORT": "9000", "OPENREALTIME_LOG_LEVEL": "warning",
           "OPENREALTIME_LLM_MODEL": "from-env"}
    s = load_settings({"port": "9100", "log_level": None, "llm_model": None, "host": None}, env)
    assert s.port == 9100            # flag wins
    assert s.log_level == "warning"  # no flag (None): the environment
    assert s.llm_model == "from-env"
    assert s.host == "127.0.0.1"     # neither: the default
    assert load_settings({"port": None}, env).port == 9000


def test_invalid_env_value_is_reported_even_under_a_flag() -> None:
    # Every environment variable is checked, even one a flag overrides: a typo there is
    # reported rather than silently ignored.
    with pytest.raises(SettingsError, match="OPENREALTIME_PORT"):
        load_settings({"port": "9100"}, {"OPENREALTIME_PORT": "x"})


def test_unrelated_env_vars_are_ignored() -> None:
    env = {"PATH": "/bin", "HOME": "/root", "OPENREALTIMEPORT": "x", "OPENAI_API_KEY": "sk"}
    assert load_settings(NO_CLI, env) == Settings()


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OPENREALTIME_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OPENREALTIME_PORT", "8123")
    assert load_settings(NO_CLI).port == 8123


@pytest.mark.parametrize("key", ["OPENREALTIME_FOO", "OPENREALTIME_", "OPENREALTIME_PORTS",
                                 "OPENREALTIME_LLM_URL"])
def test_unknown_env_var_is_named(key: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(NO_CLI, {key: "1"})
    message = str(info.value)
    assert key in message and "\n" not in message


def test_unknown_cli_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="--bogus"):
        load_settings({"bogus": "1"}, {})


@pytest.mark.parametrize(("name", "raw"), INVALID)
def test_invalid_value_names_the_flag(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({name: raw}, {})
    message = str(info.value)
    assert flag(name) in message and "command line" in message
    assert "\n" not in message


@pytest.mark.parametrize(("name", "raw"), INVALID)
def test_invalid_env_value_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(NO_CLI, {env_name(name): raw})
    message = str(info.value)
    assert env_name(name) in message and flag(name) in message
    assert "\n" not in message


def test_port_zero_and_edges_are_accepted() -> None:
    assert load_settings({"port": "0"}, {}).port == 0
    assert load_settings({"port": "65535"}, {}).port == 65535
    assert load_settings({"port": " 8080 "}, {}).port == 8080


# --- the command line, in process -----------------------------------------------------------


def test_main_reports_bad_settings(capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OPENREALTIME_"):
            monkeypatch.delenv(key)
    assert cli.main(["serve", "--port", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "--port" in err


def test_main_reports_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--bogus"])
    assert info.value.code == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--bogus" in err


# --- the command line, as a process ---------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None,
            module: bool = True) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENREALTIME_")}
    clean.update(env or {})
    command = [sys.executable, "-m", "openrealtime"] if module else [
        str(Path(sys.executable).parent / "openrealtime")]
    # A bug that let the server start would hang here; the timeout turns it into a failure.
    return subprocess.run([*command, *args], env=clean, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert text.endswith("\n")
    return lines[0]


@pytest.mark.parametrize(("args", "env", "named"), [
    (["serve", "--port", "nope"], {}, "--port"),
    (["serve", "--port", "70000"], {}, "--port"),
    (["serve", "--bogus"], {}, "--bogus"),
    (["serve", "--bogus=1", "--port", "1"], {}, "--bogus"),
    (["serve", "--port"], {}, "--port"),
    (["serve", "--log-level", "loud"], {}, "--log-level"),
    (["serve", "--llm-base-url", "localhost:11434"], {}, "--llm-base-url"),
    (["serve"], {"OPENREALTIME_PORT": "x"}, "OPENREALTIME_PORT"),
    (["serve"], {"OPENREALTIME_FOO": "1"}, "OPENREALTIME_FOO"),
    (["serve"], {"OPENREALTIME_LOG_LEVEL": "verbose"}, "OPENREALTIME_LOG_LEVEL"),
    (["serve", "--port", "9000"], {"OPENREALTIME_ASR_BASE_URL": "nope"},
     "OPENREALTIME_ASR_BASE_URL"),
    (["bogus"], {}, "bogus"),
    ([], {}, "command"),
])
def test_cli_bad_setting_exits_2_with_one_line(args: list[str], env: dict[str, str],
                                               named: str) -> None:
    proc = run_cli(*args, env=env)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    line = one_line(proc.stderr)
    assert named in line
    assert line.startswith("openrealtime")
    assert "Traceback" not in line


def test_cli_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0, proc
    assert one_line(proc.stdout) == f"openrealtime {openrealtime.__version__}"


def test_console_script_version() -> None:
    script = Path(sys.executable).parent / "openrealtime"
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    proc = run_cli("--version", module=False)
    assert proc.returncode == 0, proc
    assert proc.stdout.strip() == f"openrealtime {openrealtime.__version__}"


def test_cli_serve_help_lists_every_flag_and_env_var() -> None:
    proc = run_cli("serve", "--help")
    assert proc.returncode == 0, proc
    for name in SETTING_NAMES:
        assert flag(name) in proc.stdout
        assert env_name(name) in proc.stdout
