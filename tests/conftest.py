"""Every test runs with its own LIU_HOME and a clean environment: no real keys, no user
config, no colour settings from the developer's shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parent.parent.parent / "shared" / "seed-session.md"
SEED_COPY = Path(__file__).resolve().parent / "data" / "seed-session.md"

_ENV_TO_CLEAR = (
    "NO_COLOR",
    "TEXTUAL_THEME",
    "TEXTUAL_COLOR_SYSTEM",
    "COLORTERM",
    "LIU_CONFIG",
    "OLLAMA_HOST",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPSEEK_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "XAI_API_KEY",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
)


@pytest.fixture(autouse=True)
def liu_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "liu-home"
    monkeypatch.setenv("LIU_HOME", str(home))
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("LIU_") and name != "LIU_HOME":
            monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def seed_text() -> str:
    """The real session written by the system liu grew from (a copy ships with the tests)."""
    return SEED_COPY.read_text(encoding="utf-8")
