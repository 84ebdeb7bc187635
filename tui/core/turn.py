"""One exchange with a model: the reply engine shared by the app and `liu ask`.

The user's message is saved before the request goes out. The reply is written into the
session file about once a second while it streams, marked `interrupted / crash` until it
finishes, so a process killed mid-reply leaves a file that says exactly what happened. On
finish the trailers (usage, cost, model) replace the mark; on failure or cancel the partial
stays with a status saying why.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui.core.errors import LiuError, ProviderError
from tui.core.session import Message, Role, Session, Status, Usage, now

if TYPE_CHECKING:
    import httpx

    from tui.config import Settings
    from tui.core.store import SessionStore
    from tui.providers.events import ChatMessage, Endpoint, UsageReport
    from tui.providers.retry import RetryPolicy

CRASH = Status("interrupted", "crash")  # what the file says while a reply is still streaming
CHECKPOINT_SHARE = 0.04  # at most this share of the streaming time goes to checkpoints


# ---------------------------------------------------------------- what a turn reports


@dataclass(frozen=True)
class ReplyText:
    text: str


@dataclass(frozen=True)
class ReplyReasoning:
    text: str


@dataclass(frozen=True)
class ReplyUsage:
    """The provider's own counts, as they arrive (they replace any estimate)."""

    usage: Usage


@dataclass(frozen=True)
class ReplyFinished:
    message: Message
    session: Session


@dataclass(frozen=True)
class ReplyFailed:
    """The reply ended early; `message` is the saved partial, None if nothing arrived."""

    error: LiuError
    message: Message | None
    session: Session | None


TurnEvent = ReplyText | ReplyReasoning | ReplyUsage | ReplyFinished | ReplyFailed


_NARROW_RUNS = re.compile("[\x00-\u2e7f]+")
"""Runs of characters before the CJK blocks: what is left once they are removed is wide."""


@dataclass
class TokenEstimate:
    """A running estimate, so a live footer costs the new text, not the whole reply."""

    chars: int = 0
    wide: int = 0

    def add(self, text: str) -> TokenEstimate:
        """Counted in C: a loop over the characters took 23 ms for a 100k-token reply."""
        self.chars += len(text)
        if not text.isascii():
            self.wide += len(_NARROW_RUNS.sub("", text))
        return self

    @property
    def tokens(self) -> int:
        """About four characters a token for English, about one a token for CJK."""
        return (self.chars - self.wide + 3) // 4 + self.wide


def estimate_tokens(text: str) -> int:
    return TokenEstimate().add(text).tokens


def normalise_text(text: str) -> str:
    """What the file format can hold exactly: LF line ends, no blank lines at either end."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


# ---------------------------------------------------------------- building the request


def chat_messages(session: Session, system_prompt: str | None) -> list[ChatMessage]:
    """The history as the provider sees it: no reasoning, no empty partials."""
    from tui.providers.events import ChatMessage

    out: list[ChatMessage] = []
    if system_prompt:
        out.append(ChatMessage("system", system_prompt))
    for m in session.messages:
        if not m.text.strip():
            continue
        role = {"User": "user", "Assistant": "assistant", "System": "system"}[m.role.value]
        out.append(ChatMessage(role, m.text))  # type: ignore[arg-type]
    return out


@dataclass
class TurnSpec:
    """What to do: send a prompt, continue after a partial, or regenerate the last reply."""

    session_id: str
    model_id: str
    prompt: str | None = None
    regenerate: bool = False
    system_prompt: str | None = None
    checkpoint_interval: float = 1.0
    read_timeout: float = 60.0
    clock: Callable[[], float] = field(default=time.monotonic)
    # Told of each retry before the first token (error, seconds to wait, retry number).
    on_retry: Callable[[ProviderError, float, int], None] | None = None
    # The finished reply's file is written before ReplyFinished either way; True leaves
    # re-indexing it to the caller (`store.announce()`), once the reply is on screen.
    index_later: bool = False


def append_user_message(store: SessionStore, session_id: str, prompt: str, model_id: str) -> None:
    """Saved before anything is sent: a prompt is never lost, whatever happens next."""
    text = normalise_text(prompt)

    def change(s: Session) -> None:
        s.messages.append(Message(Role.USER, now(), text))
        s.model_id = model_id
        if not s.title:
            s.title = s.default_title()

    store.update(session_id, change)


def _drop_last_reply(s: Session) -> None:
    while s.messages and s.messages[-1].role is Role.ASSISTANT:
        s.messages.pop()


# ---------------------------------------------------------------- the engine


class _Reply:
    """The reply being streamed and where it sits in the session."""

    def __init__(self, model_id: str) -> None:
        self.message = Message(Role.ASSISTANT, now(), model=model_id)
        self.index: int | None = None
        self.text: list[str] = []
        self.reasoning: list[str] = []

    def place(self, s: Session) -> Message:
        if self.index is None or self.index >= len(s.messages):
            s.messages.append(self.message)
            self.index = len(s.messages) - 1
        target = s.messages[self.index]
        target.text = normalise_text("".join(self.text))
        target.reasoning = "".join(self.reasoning) or None
        target.model = self.message.model
        return target


async def run_turn(
    store: SessionStore,
    settings: Settings,
    spec: TurnSpec,
    *,
    client: httpx.AsyncClient,
    endpoint: Endpoint | None = None,
    policy: RetryPolicy | None = None,
) -> AsyncIterator[TurnEvent]:
    """Stream one reply into the session, yielding what happens as it happens.

    Closing the generator (the consumer stops, or its task is cancelled) ends the HTTP stream
    at once and saves the partial marked `cancelled`.
    """
    from tui.core import pricing
    from tui.providers import registry
    from tui.providers.events import ChatRequest, ReasoningDelta, TextDelta, UsageReport
    from tui.providers.retry import RetryPolicy
    from tui.providers.wire import stream_for

    with store.reply_lock(spec.session_id):
        if spec.prompt is not None:
            append_user_message(store, spec.session_id, spec.prompt, spec.model_id)
        elif spec.regenerate:
            store.update(spec.session_id, _drop_last_reply)
        session = store.update(spec.session_id, lambda s: None)

        try:
            if endpoint is None:
                endpoint = registry.endpoint_for(spec.model_id, settings)
            provider = registry.get_provider(endpoint.provider, settings)
            if endpoint.api_key is None and endpoint.api_key_env:
                raise ProviderError(
                    f"no API key for {endpoint.provider}: set {endpoint.api_key_env} "
                    f"(export {endpoint.api_key_env}=...) or pick another model",
                    reason="no key",
                )
            _, model_name = registry.parse_model_id(spec.model_id, settings)
        except LiuError as e:
            yield ReplyFailed(e, None, session)
            return

        history = chat_messages(session, spec.system_prompt)
        request = ChatRequest(model=model_name, messages=tuple(history))
        prompt_estimate = sum(estimate_tokens(m.content) for m in history)
        if policy is None:
            policy = RetryPolicy(on_retry=spec.on_retry)

        reply: _Reply | None = None
        usage: UsageReport | None = None
        last_checkpoint = spec.clock()

        def save(status: Status | None, *, notify: bool = True) -> Session:
            def change(s: Session) -> None:
                if reply is not None:
                    reply.place(s).status = status

            return store.update(spec.session_id, change, notify=notify)

        checkpoint_interval = spec.checkpoint_interval

        def timed_save() -> float:
            started = time.thread_time()
            save(CRASH, notify=False)
            return time.thread_time() - started

        async def checkpoint() -> None:
            """Save the partial reply off the event loop, not re-indexed, and no more than
            CHECKPOINT_SHARE of the time: a 2 MB session takes ~40 ms to write. What the
            save costs is its CPU time: on a busy machine its wall time also counts the
            waits for a core, and the checkpoints spaced out just when a crash is likelier."""
            nonlocal checkpoint_interval
            took = await asyncio.to_thread(timed_save)
            checkpoint_interval = max(spec.checkpoint_interval, took / CHECKPOINT_SHARE)

        stream = stream_for(endpoint.kind)(
            endpoint, request, client=client, read_timeout=spec.read_timeout, policy=policy
        )
        try:
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, TextDelta | ReasoningDelta):
                        if reply is None:
                            reply = _Reply(spec.model_id)
                        if isinstance(event, TextDelta):
                            reply.text.append(event.text)
                            yield ReplyText(event.text)
                        else:
                            reply.reasoning.append(event.text)
                            yield ReplyReasoning(event.text)
                        if spec.clock() - last_checkpoint >= checkpoint_interval:
                            await checkpoint()
                            last_checkpoint = spec.clock()
                    elif isinstance(event, UsageReport):
                        usage = event
                        yield ReplyUsage(_usage(event))
        except ProviderError as e:
            if reply is None:
                yield ReplyFailed(e, None, session)
                return
            saved = save(Status("interrupted", e.reason))
            yield ReplyFailed(e, saved.messages[-1 if reply.index is None else reply.index], saved)
            return
        except (GeneratorExit, BaseException) as e:
            # Cancelled, or the consumer went away: keep what arrived and say why.
            if reply is not None:
                cancelled = (
                    isinstance(e, GeneratorExit | KeyboardInterrupt)
                    or type(e).__name__ == "CancelledError"
                )
                save(Status("interrupted", "cancelled" if cancelled else "error"))
            raise

        if reply is None or not "".join(reply.text).strip():
            if reply is not None:  # reasoning only: keep it, but it is not an answer
                save(Status("interrupted", "empty reply"))
            err = ProviderError(
                f"{spec.model_id} sent an empty reply (is the prompt longer than its context?)",
                reason="empty reply",
            )
            yield ReplyFailed(err, None, session)
            return
        body = normalise_text("".join(reply.text))
        final_usage = _usage(usage) if usage is not None else _estimated(prompt_estimate, body)
        cost = None
        # Estimated counts never make a stored cost, except for a free local model.
        free_local = provider.local and spec.model_id not in settings.prices
        if usage is not None or free_local:
            cost = pricing.price_reply(
                spec.model_id,
                final_usage,
                settings.prices,
                reported_cost_usd=usage.cost_usd if usage else None,
                base_url=endpoint.base_url,
            )
        finished_reply = reply

        def finish(s: Session) -> None:
            target = finished_reply.place(s)
            target.status = None
            target.usage = final_usage
            target.cost = cost
            s.model_id = spec.model_id
            if not s.title:
                s.title = s.default_title()

        saved = store.update(spec.session_id, finish, notify="later" if spec.index_later else True)
        yield ReplyFinished(
            saved.messages[-1 if finished_reply.index is None else finished_reply.index], saved
        )


def _usage(report: UsageReport) -> Usage:
    return Usage(
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        total_tokens=report.total_tokens,
        reasoning_tokens=report.reasoning_tokens,
        cached_tokens=report.cached_tokens,
    )


def _estimated(prompt_tokens: int, body: str) -> Usage:
    """The provider sent no counts: estimate, and say so in the trailer."""
    completion = estimate_tokens(body)
    return Usage(prompt_tokens, completion, prompt_tokens + completion, extra={"estimated": True})
