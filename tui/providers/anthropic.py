"""The Anthropic Messages wire, streamed as named server-sent events.

System messages go in the top-level `system` field; `max_tokens` is required. Usage is held
from `message_start` and reported once at `message_delta`, whose `output_tokens` is already
cumulative, so nothing is yielded before the first token and an early `overloaded_error` can
still be retried.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

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
from tui.providers.retry import RetryPolicy

API_VERSION = "2023-06-01"  # 2026-10-21 rejects temperature, top_p and top_k
DEFAULT_MAX_TOKENS = 4096


def stream(
    endpoint: Endpoint,
    request: ChatRequest,
    *,
    client: httpx.AsyncClient,
    read_timeout: float = 60.0,
    policy: RetryPolicy | None = None,
    deadline: float | None = None,
) -> AsyncGenerator[Event, None]:
    """The reply's events; `read_timeout` is per chunk, `deadline` bounds the whole reply."""
    until = wire.deadline_at(deadline)
    return wire.run(lambda: _attempt(endpoint, request, client, read_timeout, until), policy)


def request_body(request: ChatRequest) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [
            {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
        ],
        "stream": True,
    }
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"accept": "text/event-stream", "anthropic-version": API_VERSION}
    if endpoint.api_key:
        headers["x-api-key"] = endpoint.api_key
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
        "/messages",
        request_body(request),
        request_headers(endpoint),
        endpoint=endpoint,
        request=request,
        read_timeout=read_timeout,
    ) as response:
        parser = wire.SSEParser()
        seen = False
        start_usage: dict[str, Any] = {}
        stop: str | None = None
        async for events in wire.sse_batches(response, endpoint, parser, until):
            if parser.not_sse is not None:
                raise wire.not_sse(parser.not_sse, endpoint)
            for sse in events:
                seen = True
                event = wire.parse_object(sse[1], endpoint)
                kind = event.get("type") or sse[0]
                if kind == "content_block_delta":
                    delta = wire.as_dict(event.get("delta"))
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield TextDelta(str(delta["text"]))
                    elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                        yield ReasoningDelta(str(delta["thinking"]))
                elif kind == "message_start":
                    start_usage = wire.as_dict(wire.as_dict(event.get("message")).get("usage"))
                elif kind == "message_delta":
                    usage = event.get("usage")
                    if isinstance(usage, dict):
                        yield usage_report({**start_usage, **usage})
                    reason = wire.as_dict(event.get("delta")).get("stop_reason")
                    stop = reason if isinstance(reason, str) else stop
                elif kind == "message_stop":
                    yield Finished(stop)
                    return
                elif kind == "error":
                    raise _stream_error(event, endpoint)
        if not seen:
            raise wire.empty_reply(endpoint)
        yield Finished(stop)  # the stream ended without message_stop


def usage_report(usage: dict[str, Any]) -> UsageReport:
    """OpenAI-shaped counts: the prompt includes cache reads and writes, as elsewhere."""
    fresh = wire.as_int(usage.get("input_tokens"))
    read = wire.as_int(usage.get("cache_read_input_tokens"))
    written = wire.as_int(usage.get("cache_creation_input_tokens"))
    output = wire.as_int(usage.get("output_tokens"))
    prompt = None if fresh is None else fresh + (read or 0) + (written or 0)
    return UsageReport(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=None if prompt is None or output is None else prompt + output,
        cached_tokens=read,
    )


def _stream_error(event: dict[str, Any], endpoint: Endpoint) -> ProviderError:
    """A mid-stream `error` event; an overload before the first token may be retried."""
    error = event.get("error") or {}
    kind = error.get("type") if isinstance(error, dict) else None
    text = wire.redact(wire.short(wire.error_text(event)), endpoint)
    overloaded = kind == "overloaded_error"
    return ProviderError(
        f"{endpoint.provider} reported an error: {text}",
        reason="overloaded" if overloaded else "provider error",
        status=529 if overloaded else None,
        retryable=overloaded,
    )
