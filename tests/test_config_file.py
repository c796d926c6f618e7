"""The TOML config file (``--config``), its precedence under the environment and the flags, the
checks of what each chosen engine needs, and ``openrealtime engines``."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import one_line, run_cli

from openrealtime import cli
from openrealtime.config import Settings, SettingsError, load_settings, read_config_file
from openrealtime.engines.catalog import ENGINES, installed

FULL = """\
host = "0.0.0.0"
port = 9000
api_key = "server-key"
log_level = "warning"
max_sessions = 50

[llm]
engine = "openai"
base_url = "http://localhost:11434/v1"
model = "llama3.2"

[asr]
engine = "none"

[tts]
engine = "espeak"
voice = "en-us+f3"
"""


def write(tmp_path: Path, text: str, name: str = "openrealtime.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_file_sets_everything_it_names(tmp_path: Path) -> None:
    s = load_settings({}, {}, config=write(tmp_path, FULL))
    assert s == Settings(host="0.0.0.0", port=9000, api_key="server-key", log_level="warning",
                         max_sessions=50, llm_engine="openai",
                         llm_base_url="http://localhost:11434/v1", llm_model="llama3.2",
                         asr_engine="none", tts_engine="espeak", tts_voice="en-us+f3")


def test_flags_override_env_which_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    env = {"OPENREALTIME_PORT": "9100", "OPENREALTIME_LLM_MODEL": "from-env"}
    s = load_settings({"port": "9200", "llm_model": None, "host": None}, env, config=path)
    assert s.port == 9200                 # flag over env and file
    assert s.llm_model == "from-env"      # env over file
    assert s.host == "0.0.0.0"            # only the file
    assert s.tts_voice == "en-us+f3"
    assert load_settings({}, env, config=path).port == 9100


def test_the_environment_can_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 9300\n')
    assert load_settings({}, {"OPENREALTIME_CONFIG": path}).port == 9300
    # --config wins over OPENREALTIME_CONFIG.
    other = write(tmp_path, 'port = 9400\n', "other.toml")
    assert load_settings({}, {"OPENREALTIME_CONFIG": path}, config=other).port == 9400


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('port = "nope"\n', "port", "not a whole number"),
    ("port = 70000\n", "port", "outside 0-65535"),
    ("port = true\n", "port", "not a boolean"),
    ("prot = 1\n", "prot", "unknown key"),
    ("llm_model = 'x'\n", "llm_model", "under [llm]"),
    ("[llm]\nbase_url = 'localhost:1'\n", "[llm] base_url", "not an http(s) URL"),
    ("[llm]\nbse_url = 'http://x'\n", "[llm] bse_url", "keys in [llm]"),
    ("[llm]\nengine = 'gpt5'\n", "[llm] engine", "expected one of"),
    ("[tts]\nvoice = 3\n", "[tts] voice", "must be a string"),
    ("[tts]\nvoice = ['a']\n", "[tts] voice", "not an array"),
    ("llm = 'echo'\n", "llm", "must be a table"),
    ("[server]\nport = 1\n", "server", "unknown key"),
    ("max_session_minutes = 0\n", "max_session_minutes", "outside 1-1440"),
])
def test_a_bad_file_names_the_file_the_key_and_the_problem(
        tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings({}, {}, config=path)
    message = str(info.value)
    assert path in message and key in message and problem in message, message
    assert "\n" not in message


def test_bad_toml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 9000\nhost = "unterminated\n')
    with pytest.raises(SettingsError) as info:
        read_config_file(path)
    message = str(info.value)
    assert path in message and "not valid TOML" in message and "line 2" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="cannot read config file .*nope.toml"):
        load_settings({}, {}, config=path)


@pytest.mark.parametrize(("cli_values", "named"), [
    ({"llm_engine": "openai"}, "--llm-base-url"),
    ({"llm_engine": "scripted"}, "--llm-rules"),
    ({"llm_engine": "llama-cpp"}, "--llm-model"),
    ({"asr_engine": "faster-whisper"}, "--asr-model"),
    ({"asr_engine": "openai"}, "--asr-base-url"),
    ({"tts_engine": "piper"}, "--tts-model"),
    ({"tts_engine": "kokoro"}, "--tts-model"),
    ({"tts_engine": "openai"}, "--tts-base-url"),
])
def test_an_engine_without_what_it_needs_is_refused(
        cli_values: dict[str, str | None], named: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(cli_values, {})
    assert named in str(info.value) and cli_values[next(iter(cli_values))] in str(info.value)


def test_engine_defaults_follow_the_urls() -> None:
    s = load_settings({}, {})
    assert (s.llm, s.asr, s.tts) == ("echo", "pocketsphinx", "espeak")
    s = load_settings({"llm_base_url": "http://a/v1", "asr_base_url": "http://b/v1",
                       "tts_base_url": "http://c/v1"}, {})
    assert (s.llm, s.asr, s.tts) == ("openai", "openai", "openai")
    assert load_settings({"llm_rules": "rules.yaml"}, {}).llm == "scripted"
    # An explicit engine wins over the URL's default.
    s = load_settings({"asr_base_url": "http://b/v1", "asr_engine": "none"}, {})
    assert s.asr == "none"


# --- the command line -----------------------------------------------------------------------


def test_serve_with_a_bad_config_exits_2_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm]\nbse_url = 'http://x'\n")
    proc = run_cli("serve", "--config", path)
    assert proc.returncode == 2, proc
    line = one_line(proc.stderr)
    assert line.startswith("openrealtime: error: ") and path in line and "bse_url" in line


def test_serve_with_an_engine_that_cannot_load_exits_2(tmp_path: Path) -> None:
    # The rules file does not exist: the engine says so before the server listens.
    proc = run_cli("serve", "--llm-engine", "scripted", "--llm-rules",
                   str(tmp_path / "missing.yaml"), "--port", "0")
    assert proc.returncode == 2, proc
    line = one_line(proc.stderr)
    assert "missing.yaml" in line and "Traceback" not in line


def test_engines_lists_every_engine_and_whether_it_is_installed(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["engines"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["KIND", "ENGINE", "STATUS", "NEEDS"]
    assert len(out) == len(ENGINES) + 1
    for info, line in zip(ENGINES, out[1:], strict=True):
        assert line.split()[:2] == [info.kind, info.name]
        if installed(info):
            assert "installed" in line
        else:
            assert f"openrealtime[{info.extra}]" in line
    # The embedded defaults come with a plain install.
    defaults = {("asr", "pocketsphinx"), ("tts", "espeak"), ("llm", "echo"),
                ("llm", "scripted"), ("vad", "silero")}
    assert all(installed(e) for e in ENGINES if (e.kind, e.name) in defaults)


def test_engines_installed_check_sees_a_missing_package() -> None:
    from dataclasses import replace

    fake = replace(ENGINES[0], package="openrealtime_no_such_package")
    assert not installed(fake)


def test_serve_help_shows_the_config_flag() -> None:
    proc = run_cli("serve", "--help")
    assert proc.returncode == 0 and "--config" in proc.stdout and "OPENREALTIME_CONFIG" in (
        proc.stdout)
    assert "[llm] base_url" in proc.stdout



def test_a_model_that_cannot_be_downloaded_stops_the_start_saying_what_to_do() -> None:
    pytest.importorskip("faster_whisper")
    # A hub on a closed local port: the download fails at once, whatever network CI has.
    proc = run_cli("serve", "--asr-engine", "faster-whisper", "--asr-model", "small",
                   "--port", "0", env={"HF_ENDPOINT": "http://127.0.0.1:9",
                                       "HF_HUB_CACHE": "/nonexistent-openrealtime-cache"})
    assert proc.returncode == 2, proc
    line = one_line(proc.stderr)
    assert "'small'" in line and "Hugging Face hub" in line and "--asr-model /path/to" in line


def test_the_example_config_file_is_valid() -> None:
    example = Path(__file__).parent.parent / "examples" / "openrealtime.toml"
    s = load_settings({}, {}, config=str(example))
    assert (s.llm, s.asr, s.tts) == ("echo", "pocketsphinx", "espeak")
    assert s == Settings(llm_engine="echo", asr_engine="pocketsphinx", tts_engine="espeak")


def test_the_banner_names_every_active_engine_and_how_to_reach_a_real_model() -> None:
    text = cli.banner(load_settings({}, {}))
    for name in ("echo", "pocketsphinx", "espeak-ng", "Silero"):
        assert name in text
    assert "--llm-base-url" in text  # how to point the LLM at a real model
    text = cli.banner(load_settings({"llm_base_url": "http://llm:1/v1", "llm_model": "m",
                                     "asr_engine": "none", "tts_engine": "none"}, {}))
    assert "http://llm:1/v1" in text and "(model: m)" in text
    assert "not transcribed" in text and "text only" in text
    assert "For a real model" not in text


def test_a_key_file_without_its_certificate_is_refused() -> None:
    with pytest.raises(SettingsError, match="--ssl-keyfile needs --ssl-certfile"):
        load_settings({"ssl_keyfile": __file__}, {})


@pytest.mark.tiny_models
def test_local_engine_settings_reach_the_engines(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    from tiny_whisper import build

    from openrealtime.app import build_stt

    model = build(tmp_path / "tiny-random-whisper")
    stt = build_stt(load_settings({"asr_engine": "faster-whisper", "asr_model": str(model),
                                   "asr_device": "cpu", "asr_compute_type": "int8"}, {}))
    assert stt is not None
    whisper = stt._model.model  # type: ignore[attr-defined]  # CTranslate2's own
    # int8 runs as int8_float32 on a CPU; the model's own type here would be float32.
    assert whisper.device == "cpu" and whisper.compute_type.startswith("int8")


@pytest.mark.tiny_models
def test_llama_settings_reach_the_engine(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from tiny_gguf import write_tiny_gguf

    from openrealtime.app import build_llm

    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    llm = build_llm(load_settings({"llm_engine": "llama-cpp", "llm_model": str(path),
                                   "llm_context": "512", "llm_chat_format": "chatml"}, {}))
    llama = llm._llama  # type: ignore[attr-defined]
    assert (llama.n_ctx(), llama.chat_format) == (512, "chatml")


def test_relative_file_paths_in_a_config_file_are_read_from_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "cert.pem").write_text("x", encoding="utf-8")
    path = write(folder, 'ssl_certfile = "cert.pem"\n'
                         '[llm]\nrules = "rules.yaml"\nmodel = "org/repo/m.gguf"\n')
    monkeypatch.chdir(tmp_path)  # not the file's folder
    s = load_settings({}, {}, config=path)
    assert s.llm_rules == str(folder / "rules.yaml")
    assert s.ssl_certfile == str(folder / "cert.pem")
    assert s.llm_model == "org/repo/m.gguf"  # may be a hub name: left as written
    # On the command line a relative path stays relative to where the command runs.
    assert load_settings({"llm_rules": "rules.yaml"}, {}).llm_rules == "rules.yaml"
