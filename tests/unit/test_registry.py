"""Provider presets, config overrides, model ids, keys and model discovery."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tui.config import Settings
from tui.core.errors import ConfigError
from tui.providers import registry
from tui.providers.events import Endpoint
from tui.providers.registry import (
    configured_models,
    discover_models,
    endpoint_for,
    has_key,
    ollama_base_url,
    parse_model_id,
    providers,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LIU_") or name.endswith("_API_KEY") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name)
    monkeypatch.setenv("LIU_HOME", str(tmp_path / "home"))
    registry.clear_key_cache()


def settings(**data: object) -> Settings:
    return Settings.model_validate(data)


def py_cmd(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


# ------------------------------------------------------------------ presets and ids


def test_presets() -> None:
    p = providers()
    assert p["openai"].base_url == "https://api.openai.com/v1"
    assert p["anthropic"].kind == "anthropic"
    assert p["anthropic"].api_key_env == "ANTHROPIC_API_KEY"
    assert p["deepseek"].base_url == "https://api.deepseek.com"
    assert "deepseek-v4-flash" in p["deepseek"].models
    assert p["gemini"].base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert p["openrouter"].base_url == "https://openrouter.ai/api/v1"
    assert p["groq"].base_url == "https://api.groq.com/openai/v1"
    assert p["mistral"].api_key_env == "MISTRAL_API_KEY"
    assert p["xai"].base_url == "https://api.x.ai/v1"
    assert p["ollama"].base_url == "http://127.0.0.1:11434/v1"
    assert p["ollama"].api_key_env is None
    assert p["ollama"].local and p["ollama"].lists_models
    assert not p["openai"].local


def test_parse_model_id() -> None:
    assert parse_model_id("deepseek:deepseek-chat") == ("deepseek", "deepseek-chat")
    assert parse_model_id("ollama:llama3.2:3b") == ("ollama", "llama3.2:3b")


@pytest.mark.parametrize("bad", ["gpt-4.1", "openai:", ":gpt-4.1", ""])
def test_malformed_model_id(bad: str) -> None:
    with pytest.raises(ConfigError, match="provider:model"):
        parse_model_id(bad)


def test_bare_model_suggests_its_provider() -> None:
    with pytest.raises(ConfigError, match=r"did you mean openai:gpt-4\.1"):
        parse_model_id("gpt-4.1")


def test_unknown_provider_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean deepseek"):
        parse_model_id("deepseak:deepseek-chat")


def test_config_provider_is_known() -> None:
    s = settings(providers={"lab": {"base_url": "http://127.0.0.1:8080/v1"}})
    assert parse_model_id("lab:qwen", s) == ("lab", "qwen")
    with pytest.raises(ConfigError):
        parse_model_id("lab:qwen")  # presets only


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("", "http://127.0.0.1:11434/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("gpu-box:9000", "http://gpu-box:9000/v1"),
        ("10.0.0.5:11500", "http://10.0.0.5:11500/v1"),
        ("http://gpu-box:9000", "http://gpu-box:9000/v1"),
        ("http://gpu-box:9000/", "http://gpu-box:9000/v1"),
        ("https://ollama.example.com", "https://ollama.example.com:443/v1"),
        ("http://gpu-box", "http://gpu-box:80/v1"),
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434/v1"),
        (":9000", "http://127.0.0.1:9000/v1"),
        ("[::1]:9000", "http://[::1]:9000/v1"),
        ("http://proxy:8000/ollama", "http://proxy:8000/ollama/v1"),
        ("  gpu-box  ", "http://gpu-box:11434/v1"),
    ],
)
def test_ollama_host_forms(host: str, url: str) -> None:
    assert ollama_base_url(host) == url


def test_ollama_preset_follows_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:9000")
    assert endpoint_for("ollama:llama3.2").base_url == "http://gpu-box:9000/v1"


def test_config_overrides_preset_fields() -> None:
    s = settings(providers={"deepseek": {"base_url": "https://proxy.example/v1", "models": ["x"]}})
    p = providers(s)["deepseek"]
    assert p.base_url == "https://proxy.example/v1"
    assert p.api_key_env == "DEEPSEEK_API_KEY"  # kept from the preset
    assert p.models == ("x",)
    assert p.kind == "openai"


def test_native_ollama_kind_drops_v1() -> None:
    p = providers(settings(providers={"ollama": {"kind": "ollama"}}))["ollama"]
    assert p.kind == "ollama" and p.base_url == "http://127.0.0.1:11434"


def test_new_provider_defaults_to_openai_kind() -> None:
    s = settings(providers={"lab": {"base_url": "http://127.0.0.1:8080/v1", "models": ["q"]}})
    p = providers(s)["lab"]
    assert p.kind == "openai" and p.local and p.api_key_env is None
    e = endpoint_for("lab:q", s)
    assert e == Endpoint(provider="lab", kind="openai", base_url="http://127.0.0.1:8080/v1")


def test_new_provider_needs_base_url() -> None:
    with pytest.raises(ConfigError, match=r"providers\.lab.*base_url"):
        providers(settings(providers={"lab": {"models": ["q"]}}))


# ------------------------------------------------------------------ keys


def test_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    e = endpoint_for("openai:gpt-4.1")
    assert e.api_key == "sk-env"
    assert e.api_key_env == "OPENAI_API_KEY"
    assert has_key("openai")


def test_missing_key_is_named_not_raised() -> None:
    e = endpoint_for("openai:gpt-4.1")
    assert e.api_key is None and e.api_key_env == "OPENAI_API_KEY"
    assert not has_key("openai")
    assert has_key("ollama")


def test_api_key_cmd() -> None:
    cmd = py_cmd("print('  sk-from-cmd  ')")
    s = settings(providers={"openai": {"api_key_cmd": cmd}})
    assert has_key("openai", s)
    e = endpoint_for("openai:gpt-4.1", s)
    assert e.api_key == "sk-from-cmd"


def test_env_key_wins_over_cmd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_KEY", "from-env")
    s = settings(
        providers={
            "lab": {
                "base_url": "https://lab.example/v1",
                "api_key_env": "LAB_KEY",
                "api_key_cmd": py_cmd("raise SystemExit(1)"),
            }
        }
    )
    assert endpoint_for("lab:m", s).api_key == "from-env"


def test_failing_api_key_cmd_names_command_not_output() -> None:
    cmd = py_cmd("print('SECRET' + '-OUT'); import sys; sys.exit(3)")
    s = settings(providers={"openai": {"api_key_cmd": cmd}})
    with pytest.raises(ConfigError) as e:
        endpoint_for("openai:gpt-4.1", s)
    msg = str(e.value)
    assert "api_key_cmd" in msg and "exit status 3" in msg and sys.executable in msg
    assert "SECRET-OUT" not in msg


def test_missing_api_key_cmd_program() -> None:
    s = settings(providers={"openai": {"api_key_cmd": "no-such-program-liu --get key"}})
    with pytest.raises(ConfigError, match="not found"):
        endpoint_for("openai:gpt-4.1", s)


def test_silent_api_key_cmd() -> None:
    s = settings(providers={"openai": {"api_key_cmd": py_cmd("pass")}})
    with pytest.raises(ConfigError, match="printed nothing"):
        endpoint_for("openai:gpt-4.1", s)


# ------------------------------------------------------------------ listing


def test_configured_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-x")
    s = settings(
        default_model="openai:gpt-3.5-turbo",
        providers={"lab": {"base_url": "http://127.0.0.1:8080/v1", "models": ["q"]}},
    )
    by_id = {m.model_id: m for m in configured_models(s)}
    flash = by_id["deepseek:deepseek-v4-flash"]
    assert flash.key_present and flash.key_env == "DEEPSEEK_API_KEY" and not flash.local
    assert flash.source == "preset"
    assert not by_id["openai:gpt-4.1"].key_present
    lab = by_id["lab:q"]
    assert lab.local and lab.key_present and lab.key_env is None and lab.source == "config"
    assert by_id["openai:gpt-3.5-turbo"].source == "config"  # the default, not in any list


# ------------------------------------------------------------------ discovery


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/v1/models":
            body = json.dumps({"object": "list", "data": [{"id": "qwen"}, {"id": "llama"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = "not json"
            self.send_response(200)
        data = body.encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_discover_models(server: str) -> None:
    endpoint = Endpoint("lab", "openai", f"{server}/v1")
    async with httpx.AsyncClient() as client:
        assert await discover_models(endpoint, client) == ["llama", "qwen"]


async def test_discover_models_odd_answer(server: str) -> None:
    endpoint = Endpoint("lab", "openai", f"{server}/other")
    async with httpx.AsyncClient() as client:
        assert await discover_models(endpoint, client) == []


async def test_discover_models_closed_port() -> None:
    endpoint = Endpoint("lab", "openai", f"http://127.0.0.1:{closed_port()}/v1")
    async with httpx.AsyncClient() as client:
        assert await discover_models(endpoint, client, timeout=1.0) == []


def test_discoverable() -> None:
    s = settings(
        providers={
            "lab": {"base_url": "http://localhost:8080/v1"},
            "far": {"base_url": "https://far.example/v1"},
        }
    )
    names = {p.name for p in registry.discoverable(s)}
    assert names == {"ollama", "lab"}
