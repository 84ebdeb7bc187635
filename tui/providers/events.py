"""What a provider's stream yields, and what it is asked.

Providers are async generators of these events. They raise `ProviderError` on failure
(before or after the first token); they never touch the UI or the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WireKind = Literal["openai", "anthropic", "ollama", "local"]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class UsageReport:
    """The provider's own token counts. A later report replaces an earlier one."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None  # OpenRouter says what a reply cost; trust it when given


@dataclass(frozen=True)
class Finished:
    reason: str | None = None  # the provider's finish/stop reason: stop, length, ...


Event = TextDelta | ReasoningDelta | UsageReport | Finished


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one provider; built by the registry from presets and config."""

    provider: str  # the prefix of `provider:model`
    kind: WireKind
    base_url: str
    api_key: str | None = None
    api_key_env: str | None = None  # named in errors so the user knows what to fix
    headers: dict[str, str] = field(default_factory=dict)
    # The `local` wire: model files by name, n_ctx, n_threads.
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str  # without the provider prefix
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
