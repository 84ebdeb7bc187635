"""`liu config ...` and `liu models` run in-process through their argparse parsers."""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tui.commands import config_cmd, models
from tui.providers import registry


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("LIU_") or name.endswith("_API_KEY") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name)
    path = tmp_path / "home"
    monkeypatch.setenv("LIU_HOME", str(path))
    # never ask a real Ollama on this machine
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    registry.clear_key_cache()
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def liu(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="liu")
    sub = parser.add_subparsers()
    config_cmd.register(sub)
    models.register(sub)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def test_config_path(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert liu("config", "path") == 0
    assert capsys.readouterr().out.strip() == str(home / "config.toml")


def test_config_set_then_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert liu("config", "set", "default_model", "openai:gpt-4o") == 0
    assert liu("config", "set", "providers.lab.base_url", "http://127.0.0.1:8080/v1") == 0
    capsys.readouterr()
    assert liu("config", "show") == 0
    out = capsys.readouterr().out
    assert 'default_model = "openai:gpt-4o"' in out
    assert 'base_url = "http://127.0.0.1:8080/v1"' in out


def test_config_show_hides_env_keys(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef123456")
    monkeypatch.setenv("LIU_THEME", "nord")
    assert liu("config", "set", "providers.openai.api_key_env", "OPENAI_API_KEY") == 0
    capsys.readouterr()
    assert liu("config", "show") == 0
    out = capsys.readouterr().out
    assert "sk-live-abcdef123456" not in out
    assert 'theme = "nord"' in out  # the environment is part of the effective settings


def test_config_set_bad_value(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert liu("config", "set", "theme", "nord") == 0
    before = (home / "config.toml").read_bytes()
    capsys.readouterr()
    assert liu("config", "set", "read_timeout", "soon") == 2
    err = capsys.readouterr().err
    assert err.startswith("liu: ") and "read_timeout" in err
    assert err.count("\n") == 1
    assert (home / "config.toml").read_bytes() == before


def test_broken_config_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir()
    (home / "config.toml").write_text('theme = "nord"\n[providers\n')
    assert liu("config", "show") == 2
    err = capsys.readouterr().err
    assert err.startswith("liu: ") and "config.toml:2:" in err
    assert liu("models") == 2


def test_config_needs_an_action() -> None:
    with pytest.raises(SystemExit) as e:
        liu("config")
    assert e.value.code == 2


class _Lab(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = json.dumps({"data": [{"id": "qwen2.5-7b"}, {"id": "tiny"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def lab() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Lab)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_models_json(
    home: Path, lab: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-x")
    home.mkdir()
    (home / "config.toml").write_text(
        f'[providers.lab]\nbase_url = "{lab}"\nmodels = ["tiny"]\n'
        '[providers.far]\nbase_url = "https://far.example/v1"\napi_key_env = "FAR_KEY"\n'
        'models = ["mystery"]\n'
    )
    assert liu("models", "--json") == 0
    rows = {r["model_id"]: r for r in json.loads(capsys.readouterr().out)}
    flash = rows["deepseek:deepseek-v4-flash"]
    assert flash["key_present"] is True and flash["key_env"] == "DEEPSEEK_API_KEY"
    assert flash["input_per_million"] > 0 and flash["source"] == "preset"
    assert rows["openai:gpt-4.1"]["key_present"] is False
    assert rows["lab:tiny"]["source"] == "config"
    assert rows["lab:tiny"]["input_per_million"] == 0.0
    assert rows["lab:qwen2.5-7b"]["source"] == "discovered"
    assert rows["far:mystery"]["input_per_million"] is None
    assert set(flash) == {
        "model_id",
        "provider",
        "key_present",
        "key_env",
        "input_per_million",
        "output_per_million",
        "source",
    }


def test_models_text(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir()
    (home / "config.toml").write_text(
        'default_model = "far:mystery"\n'
        '[providers.far]\nbase_url = "https://far.example/v1"\napi_key_env = "FAR_KEY"\n'
    )
    assert liu("models") == 0
    out = capsys.readouterr().out
    assert "key: OPENAI_API_KEY missing" in out
    line = next(x for x in out.splitlines() if "far:mystery" in x)
    assert line.startswith("*") and "unpriced" in line and "FAR_KEY missing" in line


def test_models_bad_default(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir()
    (home / "config.toml").write_text('default_model = "opnai:gpt-4.1"\n')
    assert liu("models") == 2
    assert "did you mean openai" in capsys.readouterr().err
