"""The retry policy: what is retried, how long it waits, and never after the first token."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from email.utils import formatdate

import httpx
import pytest

from tests.server import FakeLLMServer, Reply
from tests.unit.provider_helpers import KEY, Sleeps, drain, request, text_of
from tui.core.errors import ProviderError
from tui.providers import anthropic, openai
from tui.providers.events import Endpoint, Event, TextDelta
from tui.providers.retry import RetryPolicy, retry_after, retrying, should_retry

pytest_plugins = ["tests.unit.provider_fixtures"]


def endpoint(server: FakeLLMServer, provider: str = "deepseek") -> Endpoint:
    return Endpoint(
        provider=provider,
        kind="openai",
        base_url=server.openai_url,
        api_key=KEY,
        api_key_env="DEEPSEEK_API_KEY",
    )


# -- the decisions, without a network ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        *[(408, True), (409, True), (429, True), (500, True), (503, True), (529, True)],
        *[(400, False), (401, False), (402, False), (403, False), (404, False), (413, False)],
    ],
)
def test_which_statuses_are_retried(status: int, expected: bool) -> None:
    assert should_retry(status, {}) is expected


def test_x_should_retry_overrides_the_status() -> None:
    assert should_retry(400, {"X-Should-Retry": "true"}) is True
    assert should_retry(503, {"x-should-retry": "false"}) is False


def test_no_credit_is_never_retried() -> None:
    quota = '{"error": {"code": "insufficient_quota"}}'
    spend = '{"type": "error", "error": {"message": "enforced_spend_limit_reached"}}'
    assert should_retry(429, {}, quota) is False
    assert should_retry(429, {"x-should-retry": "true"}, quota) is False
    assert should_retry(429, {}, spend) is False
    assert should_retry(402, {"x-should-retry": "true"}) is False


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert retry_after({"retry-after": formatdate(now + 30, usegmt=True)}, now=now) == 30.0


def test_backoff_doubles_up_to_eight_seconds_with_jitter_off_the_top() -> None:
    policy = RetryPolicy(random=lambda: 0.0, max_retries=10)
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    jittery = RetryPolicy(random=lambda: 1.0)
    assert jittery.backoff(0) == 0.375
    assert jittery.backoff(5) == 6.0


def test_wait_before_retry() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    busy = ProviderError("busy", reason="http 503", retryable=True)
    assert policy.wait_before_retry(busy, 0) == 0.5
    assert policy.wait_before_retry(busy, 1) == 1.0
    assert policy.wait_before_retry(busy, 2) is None  # two retries by default
    asked = ProviderError("slow down", reason="http 429", retryable=True, retry_after=20)
    assert policy.wait_before_retry(asked, 0) == 20
    too_long = ProviderError("later", reason="http 429", retryable=True, retry_after=121)
    assert policy.wait_before_retry(too_long, 0) is None
    zero = ProviderError("now", reason="http 429", retryable=True, retry_after=0)
    assert policy.wait_before_retry(zero, 0) == 0.5
    final = ProviderError("no", reason="http 400")
    assert policy.wait_before_retry(final, 0) is None


async def test_retrying_never_retries_after_the_first_event(sleeps: Sleeps) -> None:
    calls = 0

    async def attempt() -> AsyncGenerator[Event, None]:
        nonlocal calls
        calls += 1
        yield TextDelta("partial")
        raise ProviderError("cut", reason="network", retryable=True)

    events, error = await drain(retrying(RetryPolicy(sleep=sleeps), attempt))
    assert events == [TextDelta("partial")]
    assert error is not None and str(error) == "cut"
    assert (calls, sleeps.waits) == (1, [])


async def test_on_retry_is_told_each_wait(sleeps: Sleeps) -> None:
    told: list[tuple[str, float, int]] = []
    calls: list[int] = []

    async def attempt() -> AsyncGenerator[Event, None]:
        calls.append(1)
        if calls:
            raise ProviderError("busy", reason="http 503", retryable=True)
        yield TextDelta("never")

    policy = RetryPolicy(
        sleep=sleeps, random=lambda: 0.0, on_retry=lambda e, w, n: told.append((str(e), w, n))
    )
    _, error = await drain(retrying(policy, attempt))
    assert told == [("busy", 0.5, 1), ("busy", 1.0, 2)]
    assert str(error) == "busy (after 2 retries)"
    assert len(calls) == 3


# -- against the loopback server ---------------------------------------------------------------


async def test_429_with_retry_after_then_success(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(429, headers={"Retry-After": "2"}), Reply(text="ok"))
    events, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert (error, text_of(events)) == (None, "ok")
    assert sleeps.waits == [2.0]


async def test_retry_after_ms_is_honoured(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    headers = {"retry-after-ms": "250", "retry-after": "1"}
    llm_server.script(Reply.error(429, headers=headers), Reply(text="ok"))
    await drain(openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy))
    assert sleeps.waits == [0.25]


async def test_retry_after_over_two_minutes_means_no_retry(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(429, headers={"retry-after": "600"}, error_message="slow"))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert str(error) == "deepseek answered 429: slow (the server asks to wait 600 s)"
    assert error.retry_after == 600
    assert sleeps.waits == []
    assert len(llm_server.chat_requests()) == 1


async def test_x_should_retry_false_stops_a_retry(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(503, headers={"x-should-retry": "false"}))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None and error.status == 503
    assert sleeps.waits == []


async def test_x_should_retry_true_retries_a_400(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(400, headers={"x-should-retry": "true"}), Reply(text="ok"))
    events, _ = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert text_of(events) == "ok"
    assert sleeps.waits == [0.5]


async def test_insufficient_quota_is_not_retried(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(
        Reply.error(429, error_code="insufficient_quota", error_message="You exceeded your quota")
    )
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert str(error) == "deepseek answered 429: You exceeded your quota (insufficient_quota)"
    assert (error.retryable, sleeps.waits) == (False, [])


async def test_402_insufficient_balance_is_not_retried(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(402, error_message="Insufficient Balance"))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert str(error) == "deepseek says the account is out of credit (402: Insufficient Balance)"
    assert (error.reason, sleeps.waits) == ("http 402", [])


async def test_anthropic_spend_limit_is_not_retried(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(429, error_message="enforced_spend_limit_reached"))
    point = Endpoint(provider="anthropic", kind="anthropic", base_url=llm_server.anthropic_url)
    _, error = await drain(anthropic.stream(point, request(), client=http_client, policy=policy))
    assert error is not None and error.status == 429
    assert sleeps.waits == []


async def test_retries_are_configurable(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    llm_server.always(Reply.error(500))
    policy = RetryPolicy(sleep=sleeps, max_retries=0)
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None and str(error) == "deepseek answered 500: injected fault"
    assert len(llm_server.chat_requests()) == 1


async def test_a_stall_before_the_first_token_is_retried(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply(stall_after=0), Reply(text="second time lucky"))
    events, error = await drain(
        openai.stream(
            endpoint(llm_server), request(), client=http_client, policy=policy, read_timeout=0.1
        )
    )
    assert (error, text_of(events)) == (None, "second time lucky")
    assert sleeps.waits == [0.5]


async def test_no_retry_after_the_first_token(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply(tokens=5, cut_after=2), Reply(text="must not be asked for"))
    events, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert events == [TextDelta("w0 w1 ")]
    assert error is not None and error.reason == "network"
    assert (len(llm_server.chat_requests()), sleeps.waits) == (1, [])
