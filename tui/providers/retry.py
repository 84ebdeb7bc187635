"""One retry policy for every provider, the official SDKs' policy (see PROVIDERS.md).

A failed request is tried again only before the first event reached the caller: once a token
is on screen, a retry would show it twice. What is retryable is decided where the failure is
seen (`should_retry`, `retry_after`, stored on the `ProviderError`); how long to wait and how
often is decided here, by `RetryPolicy`, whose `sleep` tests replace.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from tui.core.errors import ProviderError
from tui.providers.events import Event

# Body markers of failures that waiting cannot fix: no credit, or a spend limit reached.
NO_RETRY_MARKERS = ("insufficient_quota", "enforced_spend_limit_reached")


def should_retry(status: int, headers: Mapping[str, str], body: str = "") -> bool:
    """Whether an HTTP failure may be tried again (before the first token)."""
    if status == 402 or any(marker in body for marker in NO_RETRY_MARKERS):
        return False
    lowered = {key.lower(): value for key, value in headers.items()}
    override = lowered.get("x-should-retry", "").strip().lower()
    if override in ("true", "false"):
        return override == "true"
    return status in (408, 409, 429) or status >= 500  # 5xx includes Anthropic's 529


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait in seconds the server asks for: `retry-after-ms`, else `Retry-After`."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() - (time.time() if now is None else now)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait. `sleep` is injectable so tests never wait."""

    max_retries: int = 2
    max_wait: float = 120.0  # a server asking for a longer wait gets no retry
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = random.random
    on_retry: Callable[[ProviderError, float, int], None] | None = None  # error, wait, retry no.

    def backoff(self, retries_done: int) -> float:
        """Exponential backoff with jitter, as the SDKs: 0.5 s, 1 s, 2 s ... capped at 8 s."""
        return min(0.5 * 2.0**retries_done, 8.0) * (1 - 0.25 * self.random())

    def wait_before_retry(self, error: ProviderError, retries_done: int) -> float | None:
        """Seconds to wait before trying again, or None for no retry."""
        if not error.retryable or retries_done >= self.max_retries:
            return None
        asked = error.retry_after
        if asked is not None and asked > self.max_wait:
            return None
        if asked is not None and asked > 0:
            return asked
        return self.backoff(retries_done)


async def retrying(
    policy: RetryPolicy, attempt: Callable[[], AsyncGenerator[Event, None]]
) -> AsyncGenerator[Event, None]:
    """Run `attempt` until it succeeds, retrying failures that happen before the first event."""
    retries = 0
    while True:
        started = False
        try:
            async with aclosing(attempt()) as events:
                async for event in events:
                    started = True
                    yield event
            return
        except ProviderError as error:
            wait = None if started else policy.wait_before_retry(error, retries)
            if wait is None:
                raise _explained(error, retries, policy) from None
            retries += 1
            if policy.on_retry is not None:
                policy.on_retry(error, wait, retries)
            await policy.sleep(wait)


def _explained(error: ProviderError, retries: int, policy: RetryPolicy) -> ProviderError:
    """The final error, saying how many retries were made or why there was none."""
    notes = []
    if retries:
        notes.append(f"after {retries} {'retry' if retries == 1 else 'retries'}")
    if error.retryable and error.retry_after is not None and error.retry_after > policy.max_wait:
        notes.append(f"the server asks to wait {error.retry_after:.0f} s")
    if not notes:
        return error
    return ProviderError(
        f"{error} ({'; '.join(notes)})",
        reason=error.reason,
        status=error.status,
        retryable=error.retryable,
        retry_after=error.retry_after,
    )
