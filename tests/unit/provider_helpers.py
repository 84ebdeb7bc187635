"""Helpers for the provider wire tests (the fixtures are in provider_fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tui.core.errors import ProviderError
from tui.providers.events import ChatMessage, ChatRequest, Event, ReasoningDelta, TextDelta

KEY = "sk-test-SECRET-0123456789abcdef"  # must never appear in an error message


async def drain(events: AsyncIterator[Event]) -> tuple[list[Event], ProviderError | None]:
    """All events of a stream, and the error that ended it, if any."""
    seen: list[Event] = []
    try:
        async for event in events:
            seen.append(event)
    except ProviderError as error:
        return merged(seen), error
    return merged(seen), None


def merged(events: list[Event]) -> list[Event]:
    """Runs of text (or reasoning) deltas as one: how a wire batches them is not behaviour."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, TextDelta | ReasoningDelta) and out and type(out[-1]) is type(event):
            out[-1] = type(event)(out[-1].text + event.text)  # type: ignore[union-attr]
        else:
            out.append(event)
    return out


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def request(*messages: tuple[str, str], **kwargs: Any) -> ChatRequest:
    """A ChatRequest for model `fake-model` from (role, content) pairs."""
    pairs = messages or (("user", "hello"),)
    chat = tuple(ChatMessage(role, content) for role, content in pairs)  # type: ignore[arg-type]
    return ChatRequest(model=kwargs.pop("model", "fake-model"), messages=chat, **kwargs)


class Sleeps:
    """An injected `sleep` that records the waits asked for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
