"""Ollama's native chat wire: `POST /api/chat`, one JSON object a line (NDJSON).

Native rather than /v1 because it reports exact token counts and thinking on every server
version. `endpoint.base_url` is the server root, such as http://127.0.0.1:11434.
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
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
    }
    options: dict[str, Any] = {}
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if options:
        body["options"] = options
    return body


def request_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"accept": "application/x-ndjson"}
    if endpoint.api_key:  # plain Ollama ignores it; a proxy in front may want it
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
        "/api/chat",
        request_body(request),
        request_headers(endpoint),
        endpoint=endpoint,
        request=request,
        read_timeout=read_timeout,
    ) as response:
        seen = False
        async for lines in wire.line_batches(response, endpoint, until):
            for line in lines:
                if not line.strip():
                    continue
                if not seen and line.lstrip().startswith("<"):
                    raise wire.not_a_stream(endpoint, "an HTML page")
                seen = True
                obj = wire.parse_object(line, endpoint)
                if obj.get("error"):
                    text = wire.redact(wire.short(wire.error_text(obj)), endpoint)
                    raise ProviderError(
                        f"{endpoint.provider} reported an error: {text}",
                        reason="provider error",
                    )
                message = wire.as_dict(obj.get("message"))
                thinking = message.get("thinking")
                if thinking and isinstance(thinking, str):
                    yield ReasoningDelta(thinking)
                content = message.get("content")
                if content and isinstance(content, str):
                    yield TextDelta(content)
                if obj.get("done"):
                    if "prompt_eval_count" in obj or "eval_count" in obj:
                        yield usage_report(obj)
                    reason = obj.get("done_reason")
                    yield Finished(reason if isinstance(reason, str) else None)
                    return
        if not seen:
            raise wire.empty_reply(endpoint)
        yield Finished(None)  # the stream ended without a `done` line


def usage_report(final: dict[str, Any]) -> UsageReport:
    prompt = wire.as_int(final.get("prompt_eval_count"))
    output = wire.as_int(final.get("eval_count"))
    return UsageReport(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=None if prompt is None or output is None else prompt + output,
    )
