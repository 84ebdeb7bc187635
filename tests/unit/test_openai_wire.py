"""The OpenAI-compatible wire against the loopback server: real sockets, faults on demand."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.server import FakeLLMServer, Reply
from tests.unit.provider_helpers import KEY, Sleeps, drain, reasoning_of, request, text_of
from tui.providers import openai
from tui.providers.events import (
    Endpoint,
    Finished,
    ReasoningDelta,
    TextDelta,
    UsageReport,
)
from tui.providers.retry import RetryPolicy

pytest_plugins = ["tests.unit.provider_fixtures"]


def endpoint(server: FakeLLMServer, provider: str = "lab") -> Endpoint:
    return Endpoint(
        provider=provider,
        kind="openai",
        base_url=server.openai_url,
        api_key=KEY,
        api_key_env="LAB_API_KEY",
    )


async def test_streams_reasoning_text_usage_and_finish(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(reasoning="let me think", text="Hello there, world.", cached_tokens=4))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert events == [
        ReasoningDelta("let me think"),
        TextDelta("Hello there, world."),
        UsageReport(
            prompt_tokens=11,
            completion_tokens=6,
            total_tokens=17,
            reasoning_tokens=3,
            cached_tokens=4,
        ),
        Finished("stop"),
    ]


async def test_sends_model_messages_stream_options_and_bearer_key(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    chat = request(("system", "Be brief."), ("user", "Hi"), max_tokens=50, temperature=0.2)
    await drain(openai.stream(endpoint(llm_server), chat, client=http_client))
    [sent] = llm_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.body == {
        "model": "fake-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
        "temperature": 0.2,
    }


async def test_openai_itself_gets_max_completion_tokens_and_extra_headers(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    point = Endpoint(
        provider="openai", kind="openai", base_url=llm_server.openai_url, headers={"x-a": "b"}
    )
    await drain(openai.stream(point, request(max_tokens=9), client=http_client))
    [sent] = llm_server.requests
    assert sent.body["max_completion_tokens"] == 9
    assert "max_tokens" not in sent.body
    assert "authorization" not in sent.headers  # no key, no header
    assert sent.headers["x-a"] == "b"


async def test_reads_reasoning_under_openrouters_name_and_skips_comments(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(
        Reply(
            reasoning="hmm", text="ok", reasoning_field="reasoning", comment="OPENROUTER PROCESSING"
        )
    )
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert reasoning_of(events) == "hmm"
    assert text_of(events) == "ok"


@pytest.mark.parametrize("where", ["finish", "null_choices", "no_choices", "separate"])
async def test_usage_is_read_wherever_it_comes(
    where: str, llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=3, usage=where))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert [e for e in events if isinstance(e, UsageReport)] == [
        UsageReport(11, 3, 14, reasoning_tokens=0, cached_tokens=0)
    ]
    assert events[-1] == Finished("stop")


async def test_several_usage_reports_are_each_yielded_and_the_last_is_complete(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=3, usage="repeat"))
    events, _ = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    reports = [e for e in events if isinstance(e, UsageReport)]
    assert [r.completion_tokens for r in reports] == [2, 3]
    assert events[-2:] == [reports[-1], Finished("stop")]


async def test_no_usage_at_all_still_finishes(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=2, usage="none", finish_reason="length"))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert events == [TextDelta("w0 w1 "), Finished("length")]


async def test_deepseek_cache_hits_and_openrouter_cost(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    extra = {"prompt_tokens_details": None, "prompt_cache_hit_tokens": 8, "cost": 0.00042}
    llm_server.script(Reply(tokens=1, usage_extra=extra))
    events, _ = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    [report] = [e for e in events if isinstance(e, UsageReport)]
    assert report.cached_tokens == 8
    assert report.cost_usd == 0.00042


async def test_multibyte_characters_split_across_writes_arrive_whole(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    text = "日本語のテキスト 😀 emoji ✓"
    llm_server.script(Reply(text=text, reasoning="思考中🤔", split_multibyte=True))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert text_of(events) == text
    assert reasoning_of(events) == "思考中🤔"
    assert "\ufffd" not in text_of(events)


async def test_one_megabyte_event(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=2, big_event=1_000_000))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert text_of(events) == "x" * 1_000_000 + "w0 w1 "


async def test_many_tokens_flat_out(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=20_000))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is None
    assert text_of(events) == "".join(f"w{i} " for i in range(20_000))


async def test_connection_cut_mid_stream_is_a_network_error_after_the_partial_reply(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.script(Reply(tokens=10, cut_after=3))
    events, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert events == [TextDelta("w0 w1 w2 ")]
    assert error is not None
    assert error.reason == "network"
    assert str(error).startswith(f"the connection to {llm_server.openai_url} was cut")
    assert len(llm_server.chat_requests()) == 1  # no retry after the first token


async def test_stall_longer_than_the_read_timeout_is_a_timeout(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=5, stall_after=2))
    events, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, read_timeout=0.2)
    )
    assert text_of(events) == "w0 w1 "
    assert error is not None
    assert error.reason == "timeout"
    assert str(error) == "lab sent nothing for 0.2 s (read timeout)"
    assert llm_server.disconnected.wait(5)  # the client hung up rather than wait on


async def test_overall_deadline_ends_a_slow_stream(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=200, rate=50, comment="keep-alive"))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, deadline=0.1)
    )
    assert error is not None
    assert error.reason == "timeout"
    assert "deadline" in str(error)


async def test_malformed_json_event_is_a_bad_stream_error(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=4, malformed_after=2))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert text_of(events) == "w0 w1 "
    assert error is not None
    assert error.reason == "bad stream"
    assert str(error).startswith("lab sent a malformed event (")
    assert "Traceback" not in str(error)


async def test_mid_stream_error_object(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=4, error_after=1, error_message="upstream died", error_code=502))
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert events == [TextDelta("w0 ")]
    assert error is not None
    assert str(error) == "lab reported an error: upstream died"
    assert error.reason == "http 502"


async def test_html_page_with_status_200(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.html_page())
    events, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert events == []
    assert error is not None
    assert error.reason == "bad stream"
    assert str(error) == (
        f"{llm_server.openai_url} answered with an HTML page, not an event stream: "
        "is base_url right?"
    )


async def test_plain_text_body_with_status_200_is_not_an_event_stream(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(raw_body=b"hello from a proxy\n", content_type="text/plain"))
    _, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is not None
    assert "not an event stream" in str(error)
    assert llm_server.openai_url in str(error)


async def test_empty_body_is_an_empty_reply_not_a_hang(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(raw_body=b"", content_type="text/event-stream"))
    _, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is not None
    assert error.reason == "empty reply"


async def test_401_names_the_key_variable_and_never_the_key(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.script(Reply.error(401, error_message=f"Incorrect API key provided: {KEY}"))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert (error.reason, error.status, error.retryable) == ("http 401", 401, False)
    assert str(error) == (
        "lab refused the API key (401: Incorrect API key provided: ***): "
        "set LAB_API_KEY to a valid key"
    )
    assert KEY not in str(error)
    assert len(llm_server.chat_requests()) == 1


async def test_401_without_a_key_says_one_is_needed(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.error(401, error_message="no key"))
    point = Endpoint(
        provider="lab", kind="openai", base_url=llm_server.openai_url, api_key_env="LAB_API_KEY"
    )
    _, error = await drain(openai.stream(point, request(), client=http_client))
    assert str(error) == "lab needs an API key (401: no key): set LAB_API_KEY to a valid key"


async def test_403_also_names_the_key_variable(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.error(403, error_message="forbidden"))
    _, error = await drain(openai.stream(endpoint(llm_server), request(), client=http_client))
    assert error is not None
    assert "set LAB_API_KEY to a valid key" in str(error)


async def test_404_says_model_not_found_and_how_to_pick_another(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply.error(404, error_message="The model does not exist"))
    chat = request(model="deepseek-chat")
    _, error = await drain(
        openai.stream(endpoint(llm_server, "deepseek"), chat, client=http_client)
    )
    assert error is not None
    assert str(error) == "model not found: deepseek-chat at deepseek; pick another (Ctrl+O)"
    assert (error.reason, error.retryable) == ("http 404", False)


async def test_404_without_a_json_body_points_at_the_base_url(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    point = Endpoint(provider="lab", kind="openai", base_url=llm_server.base_url)  # no /v1
    _, error = await drain(openai.stream(point, request(), client=http_client))
    assert error is not None
    assert str(error) == (
        f"{llm_server.base_url} has no such API (404: 404 page not found): is base_url right?"
    )


async def test_429_then_success_honours_retry_after(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.script(Reply.error(429, headers={"retry-after": "3"}), Reply(text="fine"))
    events, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is None
    assert text_of(events) == "fine"
    assert sleeps.waits == [3.0]
    assert len(llm_server.chat_requests()) == 2


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_twice_then_success(
    status: int,
    llm_server: FakeLLMServer,
    http_client: httpx.AsyncClient,
    policy: RetryPolicy,
    sleeps: Sleeps,
) -> None:
    llm_server.script(Reply.error(status), Reply.error(status), Reply(text="at last"))
    events, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is None
    assert text_of(events) == "at last"
    assert sleeps.waits == [0.5, 1.0]


async def test_503_always_gives_up_after_two_retries_with_the_servers_message(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    llm_server.always(Reply.error(503, error_message="Server overloaded"))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert str(error) == "lab answered 503: Server overloaded (after 2 retries)"
    assert (error.reason, error.status) == ("http 503", 503)
    assert len(llm_server.chat_requests()) == 3
    assert len(sleeps.waits) == 2


async def test_429_after_retries_names_status_and_message(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    llm_server.always(Reply.error(429, error_message="Rate limit reached"))
    _, error = await drain(
        openai.stream(endpoint(llm_server), request(), client=http_client, policy=policy)
    )
    assert error is not None
    assert str(error) == "lab answered 429: Rate limit reached (after 2 retries)"


async def test_unreachable_server(http_client: httpx.AsyncClient, policy: RetryPolicy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    point = Endpoint(provider="lab", kind="openai", base_url=url, api_key=KEY)
    _, error = await drain(openai.stream(point, request(), client=http_client, policy=policy))
    assert error is not None
    assert error.reason == "network"
    assert str(error).startswith(f"cannot reach {url}: ")
    assert str(error).endswith("(after 2 retries)")
    assert KEY not in str(error)


async def test_aclose_closes_the_connection_at_once(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=1000, rate=50))
    events = openai.stream(endpoint(llm_server), request(), client=http_client)
    first = await anext(events)  # the first read: one token or a few
    assert isinstance(first, TextDelta) and first.text.startswith("w0 ")
    await events.aclose()
    assert await asyncio.to_thread(llm_server.disconnected.wait, 5)


async def test_cancelling_the_consumer_closes_the_connection(
    llm_server: FakeLLMServer, http_client: httpx.AsyncClient
) -> None:
    llm_server.script(Reply(tokens=1000, rate=50))
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in openai.stream(endpoint(llm_server), request(), client=http_client):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(llm_server.disconnected.wait, 5)


async def test_a_character_split_between_two_reads_is_decoded_whole() -> None:
    """The same fault without a socket, so the split is certain to reach the decoder."""
    event = 'data: {"choices":[{"delta":{"content":"😀é"}}]}\n\ndata: [DONE]\n\n'.encode()
    cut = event.index("😀".encode()) + 2

    async def body() -> AsyncIterator[bytes]:
        yield event[:cut]
        yield event[cut:]

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        point = Endpoint(provider="lab", kind="openai", base_url="http://127.0.0.1:9/v1")
        events, error = await drain(openai.stream(point, request(), client=client))
    assert error is None
    assert events == [TextDelta("😀é"), Finished(None)]


async def test_the_server_runs_as_its_own_process(
    http_client: httpx.AsyncClient, policy: RetryPolicy, sleeps: Sleeps
) -> None:
    script = Path(__file__).parents[1] / "server.py"
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "--port", "0", "--tokens", "3", "--key", KEY,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        point = Endpoint(provider="lab", kind="openai", base_url=base + "/v1", api_key=KEY)
        queued = await http_client.post(base + "/_script", json=[{"status": 503}])
        assert queued.json() == {"queued": 1}
        events, error = await drain(
            openai.stream(point, request(), client=http_client, policy=policy)
        )
        assert (error, text_of(events), sleeps.waits) == (None, "w0 w1 w2 ", [0.5])
        seen = (await http_client.get(base + "/_requests")).json()
        assert [r["path"] for r in seen] == ["/v1/chat/completions"] * 2
        assert seen[0]["headers"]["authorization"] == f"Bearer {KEY}"
    finally:
        process.terminate()
        await process.wait()
