"""Ollama's native NDJSON wire against the loopback server."""

from __future__ import annotations

import asyncio

import httpx

from tests.server import FakeLLMServer, Reply
from tests.unit.provider_helpers import Sleeps, drain, reasoning_of, request, text_of
from tui.providers import ollama
from tui.providers.events import Endpoint, Finished, ReasoningDelta, TextDelta, UsageReport
from tui.providers.retry import RetryPolicy
from tui.providers.wire import stream_for

pytest_plugins = ["tests.unit.provider_fixtures"]


def endpoint(server: FakeLLMServer) -> Endpoint:
    return Endpoint(provider="ollama", kind="ollama", base_url=server.ollama_url)


async def test_streams_thinking_text_and_counts(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(reasoning="so", text="Hi you"))
    events, error = await drain(ollama.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert events == [
        ReasoningDelta("so"),
        TextDelta("Hi you"),
        UsageReport(prompt_tokens=11, completion_tokens=3, total_tokens=14),
        Finished("stop"),
    ]


async def test_sends_native_chat_with_options(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    chat = request(("system", "Terse."), ("user", "Hi"), max_tokens=64, temperature=0.0)
    await drain(ollama.stream(endpoint(llm_server), chat, client=http_client))
    [sent] = llm_server.requests
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "fake-model",
        "messages": [{"role": "system", "content": "Terse."}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "options": {"num_predict": 64, "temperature": 0.0},
    }


async def test_stream_for_picks_each_wire() -> None:
    from tui.providers import anthropic, local, openai

    assert stream_for("ollama") is ollama.stream
    assert stream_for("anthropic") is anthropic.stream
    assert stream_for("openai") is openai.stream
    assert stream_for("local") is local.stream


async def test_no_counts(llm_server: FakeLLMServer, http_client: httpx.AsyncClient) -> None:
    llm_server.script(Reply(tokens=1, usage="none"))
    events, _ = await drain(ollama.stream(endpoint(llm_server), request(), client=http_client))
    assert events == [TextDelta("w0 "), Finished("stop")]


async def test_multibyte_split_across_writes(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(text="ça va 👍 好", reasoning="думаю", split_multibyte=True))
    events, _ = await drain(ollama.stream(endpoint(llm_server), request(), client=http_client))
    assert (reasoning_of(events), text_of(events)) == ("думаю", "ça va 👍 好")


async def test_error_line_mid_stream(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=3, error_after=1, error_message="model runner crashed"))
    events, error = await drain(ollama.stream(endpoint(llm_server), request(), client=http_client))
    assert events == [TextDelta("w0 ")]
    assert error is not None
    assert str(error) == "ollama reported an error: model runner crashed"


async def test_404_model_not_found(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.error(404, error_message='model "qwen9" not found, try pulling it'))
    chat = request(model="qwen9")
    _, error = await drain(ollama.stream(endpoint(llm_server), chat, client=http_client))
    assert error is not None
    assert str(error) == "model not found: qwen9 at ollama; pick another (Ctrl+O)"


async def test_500_then_success(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(500), Reply(text="ok"))
    events, _ = await drain(
        ollama.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert text_of(events) == "ok"
    assert sleeps.waits == [0.5]


async def test_cut_mid_stream(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.script(Reply(tokens=4, cut_after=2))
    events, error = await drain(
        ollama.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert text_of(events) == "w0 w1 "
    assert error is not None and error.reason == "network"


async def test_stall_is_a_timeout(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=4, stall_after=1))
    _, error = await drain(
        ollama.stream(endpoint(llm_server), request(), client=http_client, read_timeout=0.2)
    )
    assert error is not None and error.reason == "timeout"


async def test_malformed_line(llm_server: FakeLLMServer, http_client: httpx.AsyncClient) -> None:
    llm_server.script(Reply(tokens=3, malformed_after=2))
    events, error = await drain(ollama.stream(endpoint(llm_server), request(), client=http_client))
    assert text_of(events) == "w0 w1 "
    assert error is not None and error.reason == "bad stream"


async def test_html_page_with_200(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.html_page())
    _, error = await drain(ollama.stream(endpoint(llm_server), request(), client=http_client))
    assert error is not None
    assert f"{llm_server.ollama_url} answered with an HTML page" in str(error)


async def test_aclose_closes_the_connection(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=1000, rate=50))
    events = ollama.stream(endpoint(llm_server), request(), client=http_client)
    first = await anext(events)  # the first read: one token or a few
    assert isinstance(first, TextDelta) and first.text.startswith("w0 ")
    await events.aclose()
    assert await asyncio.to_thread(llm_server.disconnected.wait, 5)
