"""The OpenAI-compatible Chat Completions wire, streamed as server-sent events.

One reader for OpenAI, DeepSeek, OpenRouter, Gemini, Ollama's /v1 and llama.cpp: it takes
reasoning under both names, usage wherever it comes (the last report wins), and reads on after
`finish_reason` for the usage chunk.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, NoReturn

import httpx
import orjson

from tui.core.errors import ProviderError
from tui.providers import wire
from tui.providers.events import (
    ChatRequest,
    Endpoint,
    Event,
    Finished,
    ReasoningDelta,
    TextDelta,
    UsageReport,
)
from tui.providers.retry import RetryPolicy, should_retry


def stream(
    endpoint: Endpoint,
    request: ChatRequest,
    *,
    client: httpx.AsyncClient,
    read_timeout: float = 60.0,
    policy: RetryPolicy | None = None,
    deadline: float | None = None,
) -> AsyncGenerator[Event, None]:
    """The reply's events. `read_timeout` is per chunk; `deadline` bounds the whole reply
    (DeepSeek's keep-alives defeat a read timeout while it queues a request)."""
    until = wire.deadline_at(deadline)
    return wire.run(lambda: _attempt(endpoint, request, client, read_timeout, until), policy)


def request_body(endpoint: Endpoint, request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.max_tokens is not None:
        # OpenAI's reasoning models refuse the old name; compatible servers know only it.
        name = "max_completion_tokens" if endpoint.provider == "openai" else "max_tokens"
        body[name] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"accept": "text/event-stream"}
    if endpoint.api_key:
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers


async def _attempt(
    endpoint: Endpoint,
    request: ChatRequest,
    client: httpx.AsyncClient,
    read_timeout: float,
    until: float | None,
) -> AsyncGenerator[Event, None]:
    async with wire.opened(
        client,
        "/chat/completions",
        request_body(endpoint, request),
        request_headers(endpoint),
        endpoint=endpoint,
        request=request,
        read_timeout=read_timeout,
    ) as response:
        parser = wire.SSEParser()
        merged = wire.Coalescer()
        chunks = 0
        finish: str | None = None
        try:
            async for events in wire.sse_batches(response, endpoint, parser, until):
                if parser.not_sse is not None:
                    _raise_not_sse(parser.not_sse, endpoint)
                for _, data in events:
                    if data == "[DONE]":
                        if (event := merged.flush()) is not None:
                            yield event
                        yield Finished(finish)
                        return
                    chunks += 1
                    try:
                        chunk = orjson.loads(data)  # what `wire.parse_object` does first
                    except ValueError:
                        chunk = None
                    if type(chunk) is not dict:
                        chunk = wire.parse_object(data, endpoint)  # or its one-line error
                    if chunk.get("error"):
                        if (event := merged.flush()) is not None:
                            yield event
                        raise _stream_error(chunk, endpoint)
                    choices = chunk.get("choices")
                    if choices and type(choices) is list and type(choices[0]) is dict:
                        choice = choices[0]
                        delta = choice.get("delta")
                        if type(delta) is dict:
                            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                            if (
                                reasoning
                                and type(reasoning) is str
                                and (event := merged.add(ReasoningDelta, reasoning))
                            ):
                                yield event
                            content = delta.get("content")
                            if (
                                content
                                and type(content) is str
                                and (event := merged.add(TextDelta, content))
                            ):
                                yield event
                        reason = choice.get("finish_reason")
                        if reason and type(reason) is str:
                            finish = reason
                    usage = chunk.get("usage")
                    if type(usage) is dict:
                        if (event := merged.flush()) is not None:
                            yield event
                        yield usage_report(usage)
                if (event := merged.flush()) is not None:
                    yield event
        except (ProviderError, httpx.HTTPError):
            # What arrived before the failure is part of the reply: hand it on first.
            if (event := merged.flush()) is not None:
                yield event
            raise
        if not chunks:
            raise wire.empty_reply(endpoint)
        yield Finished(finish)


def usage_report(usage: dict[str, Any]) -> UsageReport:
    """A report from an OpenAI-shaped `usage`, with DeepSeek's and OpenRouter's additions."""
    prompt_details = wire.as_dict(usage.get("prompt_tokens_details"))
    completion_details = wire.as_dict(usage.get("completion_tokens_details"))
    cached = wire.as_int(prompt_details.get("cached_tokens"))
    if cached is None:
        cached = wire.as_int(usage.get("prompt_cache_hit_tokens"))  # DeepSeek
    cost = usage.get("cost")  # OpenRouter, USD
    return UsageReport(
        prompt_tokens=wire.as_int(usage.get("prompt_tokens")),
        completion_tokens=wire.as_int(usage.get("completion_tokens")),
        total_tokens=wire.as_int(usage.get("total_tokens")),
        reasoning_tokens=wire.as_int(completion_details.get("reasoning_tokens")),
        cached_tokens=cached,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


def _raise_not_sse(line: str, endpoint: Endpoint) -> NoReturn:
    """A body that is not SSE: a JSON error served with 200, an HTML page, or anything else."""
    if line.lstrip().startswith("{"):
        try:
            obj = wire.parse_json(line, endpoint)
        except ProviderError:
            obj = None
        if isinstance(obj, dict) and obj.get("error"):
            raise _stream_error(obj, endpoint)
    raise wire.not_sse(line, endpoint)


def _stream_error(chunk: dict[str, Any], endpoint: Endpoint) -> ProviderError:
    """An error object inside a 200 stream (OpenAI, OpenRouter); retryable like its status."""
    error = chunk.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 100 <= code < 600 else None
    text = wire.redact(wire.short(wire.error_text(chunk)), endpoint)
    return ProviderError(
        f"{endpoint.provider} reported an error: {text}",
        reason=f"http {status}" if status else "provider error",
        status=status,
        retryable=status is not None and should_retry(status, {}, str(chunk)),
    )
