"""Settings: file + environment, all-or-nothing loading, `config set`, secrets never shown."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tui import config
from tui.config import Settings, load_settings, parse_value, set_value, show_settings
from tui.core.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("LIU_") or name.endswith("_API_KEY") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("LIU_HOME", str(home))
    return home


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    return path


def test_missing_file_gives_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.default_model == ""
    assert s.theme == "textual-dark"
    assert s.read_timeout == 60.0
    assert s.mouse is True and s.low_bandwidth is False
    general = s.assistant("general-assistant")
    assert general is not None
    assert general.system_prompt == "You are a helpful assistant."


def test_broken_toml_names_file_and_line(clean_env: Path) -> None:
    write(clean_env, 'theme = "nord"\nmouse = true\nread_timeout = = 3\n')
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "config.toml:3:" in str(e.value)


def test_unknown_key_suggests_the_right_one(clean_env: Path) -> None:
    write(clean_env, 'defualt_model = "openai:gpt-4.1"\n')
    with pytest.raises(ConfigError) as e:
        load_settings()
    msg = str(e.value)
    assert "config.toml" in msg and "defualt_model" in msg
    assert "did you mean default_model?" in msg


def test_unknown_nested_key_suggests(clean_env: Path) -> None:
    write(clean_env, '[providers.lab]\nbase_ur = "http://127.0.0.1:1/v1"\n')
    with pytest.raises(ConfigError, match=r"providers\.lab\.base_ur.*did you mean base_url\?"):
        load_settings()


def test_bad_value_names_key_and_never_half_loads(clean_env: Path) -> None:
    write(clean_env, 'theme = "nord"\nread_timeout = "soon"\n')
    with pytest.raises(ConfigError, match="read_timeout"):
        load_settings()


def test_api_key_in_file_is_refused_without_echo(clean_env: Path) -> None:
    write(clean_env, '[providers.openai]\napi_key = "sk-very-secret"\n')
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "environment" in str(e.value)
    assert "sk-very-secret" not in str(e.value)


def test_pasted_key_in_api_key_env_is_not_echoed(clean_env: Path) -> None:
    write(clean_env, '[providers.openai]\napi_key_env = "sk-proj-abc123"\n')
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "api_key_env" in str(e.value)
    assert "sk-proj-abc123" not in str(e.value)


def test_env_overrides_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        clean_env, 'theme = "nord"\nread_timeout = 5\n[providers.lab]\nbase_url = "http://a/v1"\n'
    )
    monkeypatch.setenv("LIU_THEME", "gruvbox")
    monkeypatch.setenv("LIU_LOW_BANDWIDTH", "true")
    monkeypatch.setenv("LIU_PROVIDERS__LAB__MODELS", '["m1"]')
    s = load_settings()
    assert s.theme == "gruvbox"
    assert s.low_bandwidth is True
    assert s.read_timeout == 5.0  # the file still counts where the env says nothing
    assert s.providers["lab"].base_url == "http://a/v1"
    assert s.providers["lab"].models == ["m1"]


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIU_READ_TIMEOUT", "abc")
    with pytest.raises(ConfigError, match="LIU_READ_TIMEOUT"):
        load_settings()


def test_general_assistant_always_exists(clean_env: Path) -> None:
    write(clean_env, '[[assistants]]\nid = "coder"\nsystem_prompt = "Write code."\n')
    s = load_settings()
    assert [a.id for a in s.assistants] == ["general-assistant", "coder"]
    coder = s.assistant("coder")
    assert coder is not None and coder.name == "coder"


def test_config_may_redefine_general_assistant(clean_env: Path) -> None:
    write(clean_env, '[[assistants]]\nid = "general-assistant"\nsystem_prompt = "Be brief."\n')
    s = load_settings()
    assert len(s.assistants) == 1
    assert s.assistants[0].system_prompt == "Be brief."


def test_unknown_default_assistant(clean_env: Path) -> None:
    write(clean_env, 'default_assistant = "general-asistant"\n')
    with pytest.raises(ConfigError, match="did you mean general-assistant"):
        load_settings()


def test_default_model_must_name_provider(clean_env: Path) -> None:
    write(clean_env, 'default_model = "gpt-4.1"\n')
    with pytest.raises(ConfigError, match="provider:model"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("3", 3),
        ("2.5", 2.5),
        ('["a", "b"]', ["a", "b"]),
        ("openai:gpt-4o", "openai:gpt-4o"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ('"quoted"', "quoted"),
        ("", ""),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_set_keeps_other_settings(clean_env: Path) -> None:
    path = write(
        clean_env,
        '# my settings\ntheme = "nord"  # dark\n\n[providers.lab]\n'
        'base_url = "http://127.0.0.1:8080/v1"\nmodels = ["q"]\n\n'
        '[[assistants]]\nid = "coder"\nsystem_prompt = "Write code."\n',
    )
    set_value("default_model", "openai:gpt-4o")
    set_value("providers.lab.api_key_env", "LAB_KEY")
    set_value("mouse", "false")
    set_value("read_timeout", "30")
    s = load_settings(path)
    assert s.default_model == "openai:gpt-4o"
    assert s.theme == "nord"
    assert s.mouse is False
    assert s.read_timeout == 30.0
    assert s.providers["lab"].base_url == "http://127.0.0.1:8080/v1"
    assert s.providers["lab"].models == ["q"]
    assert s.providers["lab"].api_key_env == "LAB_KEY"
    assert s.assistant("coder") is not None


def test_set_new_provider(clean_env: Path) -> None:
    set_value("providers.lab.base_url", "http://127.0.0.1:9/v1")
    assert load_settings().providers["lab"].base_url == "http://127.0.0.1:9/v1"


def test_set_price_with_dotted_model(clean_env: Path) -> None:
    set_value("prices.lab:qwen2.5-7b", "{ input = 0.1, output = 0.2 }")
    set_value('prices."lab:qwen2.5-7b".cached_input', "0.05")
    price = load_settings().prices["lab:qwen2.5-7b"]
    assert (price.input, price.output, price.cached_input) == (0.1, 0.2, 0.05)


def test_number_like_text_stays_text(clean_env: Path) -> None:
    set_value("theme", "2024")
    assert load_settings().theme == "2024"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("read_timeout", "soon"),
        ("mouse", "maybe"),
        ("defualt_model", "openai:gpt-4o"),
        ("default_model", "gpt-4o"),
        ("providers.lab.base_url", "ftp://x"),
        ("theme.sub", "x"),
    ],
)
def test_bad_set_leaves_file_untouched(clean_env: Path, key: str, value: str) -> None:
    path = write(clean_env, '# keep me\ntheme = "nord"\n')
    before = path.read_bytes()
    with pytest.raises(ConfigError):
        set_value(key, value)
    assert path.read_bytes() == before


def test_bad_set_message_names_the_key(clean_env: Path) -> None:
    with pytest.raises(ConfigError) as e:
        set_value("defualt_model", "openai:gpt-4o")
    assert "did you mean default_model" in str(e.value)
    assert "unchanged" in str(e.value)
    assert not (clean_env / "config.toml").exists()


def test_set_validates_the_file_not_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIU_READ_TIMEOUT", "1")
    with pytest.raises(ConfigError):
        set_value("read_timeout", "-5")


def test_written_file_is_private(clean_env: Path) -> None:
    assert not clean_env.exists()
    set_value("theme", "nord")
    path = clean_env / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(clean_env.stat().st_mode) == 0o700
    path.chmod(0o644)
    set_value("theme", "gruvbox")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in clean_env.iterdir() if p.name != "config.toml"]  # no temp left


def test_save_settings_round_trip(clean_env: Path) -> None:
    s = Settings.model_validate(
        {"theme": "nord", "providers": {"lab": {"base_url": "http://127.0.0.1:1/v1"}}}
    )
    path = config.save_settings(s)
    text = path.read_text()
    assert "general-assistant" not in text  # implied, not frozen into the file
    again = load_settings(path)
    assert again.theme == "nord"
    assert again.providers["lab"].base_url == "http://127.0.0.1:1/v1"


def test_show_never_shows_secrets(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    write(
        clean_env,
        '[providers.lab]\nbase_url = "http://127.0.0.1:1/v1"\napi_key_env = "OPENAI_API_KEY"\n'
        '[providers.lab.headers]\nAuthorization = "Bearer abc-def-secret"\n'
        'X-Note = "sk-test-0123456789"\n',
    )
    text = show_settings(load_settings())
    assert "sk-test-0123456789" not in text
    assert "abc-def-secret" not in text
    assert "OPENAI_API_KEY" in text  # the variable's name is not a secret
    assert 'theme = "textual-dark"' in text


def test_show_keeps_key_bindings(clean_env: Path) -> None:
    write(clean_env, '[keys]\nquit = "ctrl+q"\n')
    assert 'quit = "ctrl+q"' in show_settings(load_settings())


def test_set_writes_through_a_symlink(clean_env: Path, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "liu.toml"
    real.parent.mkdir()
    real.write_text('theme = "nord"\n')
    clean_env.mkdir()
    (clean_env / "config.toml").symlink_to(real)
    set_value("mouse", "false")
    assert (clean_env / "config.toml").is_symlink()
    assert 'theme = "nord"' in real.read_text() and "mouse = false" in real.read_text()


@pytest.mark.parametrize("key", ["", ".theme", "theme.", "providers..lab"])
def test_bad_key_path(key: str) -> None:
    with pytest.raises(ConfigError, match="bad key"):
        set_value(key, "x")
