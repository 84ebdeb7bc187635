"""The Anthropic Messages wire against the loopback server."""

from __future__ import annotations

import asyncio

import httpx

from tests.server import FakeLLMServer, Reply
from tests.unit.provider_helpers import KEY, Sleeps, drain, reasoning_of, request, text_of
from tui.providers import anthropic
from tui.providers.events import Endpoint, Finished, ReasoningDelta, TextDelta, UsageReport
from tui.providers.retry import RetryPolicy

pytest_plugins = ["tests.unit.provider_fixtures"]


def endpoint(server: FakeLLMServer) -> Endpoint:
    return Endpoint(
        provider="anthropic",
        kind="anthropic",
        base_url=server.anthropic_url,
        api_key=KEY,
        api_key_env="ANTHROPIC_API_KEY",
    )


async def test_streams_thinking_text_usage_and_stop_reason(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(reasoning="hmm, well", text="Hi there", cached_tokens=5))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client)
    )
    assert error is None
    assert events == [
        ReasoningDelta("hmm, well"),
        TextDelta("Hi there"),
        # input 6 + cache read 5; output_tokens is cumulative (message_start said 1): taken
        UsageReport(prompt_tokens=11, completion_tokens=4, total_tokens=15, cached_tokens=5),
        Finished("end_turn"),
    ]


async def test_sends_key_version_system_and_default_max_tokens(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    chat = request(("system", "Be brief."), ("system", "Be kind."), ("user", "Hi"))
    await drain(anthropic.stream(endpoint(llm_server), chat, client=http_client))
    [sent] = llm_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "fake-model",
        "max_tokens": 4096,
        "system": "Be brief.\n\nBe kind.",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }


async def test_max_tokens_and_temperature_are_passed(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    chat = request(max_tokens=100, temperature=0.5)
    await drain(anthropic.stream(endpoint(llm_server), chat, client=http_client))
    [sent] = llm_server.requests
    assert (sent.body["max_tokens"], sent.body["temperature"]) == (100, 0.5)
    assert "system" not in sent.body


async def test_no_usage(llm_server: FakeLLMServer, http_client: httpx.AsyncClient) -> None:
    llm_server.script(Reply(tokens=2, usage="none", finish_reason="length"))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client)
    )
    assert error is None
    assert events == [TextDelta("w0 w1 "), Finished("max_tokens")]


async def test_multibyte_split_across_writes(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    text = "中文回复 🎉 done"
    llm_server.script(Reply(text=text, split_multibyte=True))
    events, _ = await drain(anthropic.stream(endpoint(llm_server), request(), client=http_client))
    assert text_of(events) == text


async def test_one_megabyte_event(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=1, big_event=1_000_000))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client)
    )
    assert error is None
    assert text_of(events) == "x" * 1_000_000 + "w0 "


async def test_overloaded_before_the_first_token_is_retried(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply(error_after=0, error_type="overloaded_error"), Reply(text="ok"))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert (error, text_of(events)) == (None, "ok")
    assert sleeps.waits == [0.5]


async def test_overloaded_after_tokens_is_an_error(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.script(
        Reply(tokens=4, error_after=2, error_type="overloaded_error", error_message="Overloaded")
    )
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert text_of(events) == "w0 w1 "
    assert error is not None
    assert str(error) == "anthropic reported an error: Overloaded (overloaded_error)"
    assert error.reason == "overloaded"
    assert len(llm_server.chat_requests()) == 1


async def test_529_is_retried(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(529, error_message="Overloaded"), Reply(text="ok"))
    events, _ = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert text_of(events) == "ok"
    assert sleeps.waits == [0.5]


async def test_529_always_names_the_status(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.always(Reply.error(529, error_message="Overloaded"))
    _, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert str(error) == "anthropic answered 529: Overloaded (overloaded_error) (after 2 retries)"


async def test_401_names_the_variable_and_hides_the_key(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.error(401, error_message=f"invalid x-api-key {KEY}"))
    _, error = await drain(anthropic.stream(endpoint(llm_server), request(), client=http_client))
    assert error is not None
    assert str(error) == (
        "anthropic refused the API key (401: invalid x-api-key *** (authentication_error)): "
        "set ANTHROPIC_API_KEY to a valid key"
    )
    assert KEY not in str(error)


async def test_404_model_not_found(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.error(404, error_type="not_found_error", error_message="model: x"))
    chat = request(model="claude-old")
    _, error = await drain(anthropic.stream(endpoint(llm_server), chat, client=http_client))
    assert error is not None
    assert str(error) == "model not found: claude-old at anthropic; pick another (Ctrl+O)"


async def test_cut_mid_stream(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.script(Reply(tokens=5, reasoning="a b", cut_after=3))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert (reasoning_of(events), text_of(events)) == ("a b", "w0 ")
    assert error is not None and error.reason == "network"


async def test_stall_is_a_timeout(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=5, stall_after=1))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client, read_timeout=0.2)
    )
    assert text_of(events) == "w0 "
    assert error is not None and error.reason == "timeout"


async def test_malformed_event(llm_server: FakeLLMServer, http_client: httpx.AsyncClient) -> None:
    llm_server.script(Reply(tokens=3, malformed_after=1))
    events, error = await drain(
        anthropic.stream(endpoint(llm_server), request(), client=http_client)
    )
    assert text_of(events) == "w0 "
    assert error is not None and error.reason == "bad stream"
    assert str(error).startswith("anthropic sent a malformed event (")


async def test_html_page_with_200(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.html_page())
    _, error = await drain(anthropic.stream(endpoint(llm_server), request(), client=http_client))
    assert error is not None
    assert str(error) == (
        f"{llm_server.anthropic_url} answered with an HTML page, not an event stream: "
        "is base_url right?"
    )


async def test_aclose_closes_the_connection(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=1000, rate=50))
    events = anthropic.stream(endpoint(llm_server), request(), client=http_client)
    first = await anext(events)  # the first read: one token or a few
    assert isinstance(first, TextDelta) and first.text.startswith("w0 ")
    await events.aclose()
    assert await asyncio.to_thread(llm_server.disconnected.wait, 5)
