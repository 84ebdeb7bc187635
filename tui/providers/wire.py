"""Picking a wire for an endpoint, and what the wires share: reading lines off a streamed
response, and turning HTTP statuses and network failures into one-line `ProviderError`s.

Every message that quotes the server goes through `redact`, so an echoed API key never reaches
the screen or a session file.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
import orjson

from tui.core.errors import ProviderError
from tui.providers import retry
from tui.providers.events import ChatRequest, Endpoint, Event, ReasoningDelta, TextDelta, WireKind

CONNECT_TIMEOUT = 5.0  # the SDKs' default
MAX_LINE = 16 * 1024 * 1024  # one event larger than this is a broken server, not a reply
ERROR_BODY_LIMIT = 64 * 1024


class StreamFunction(Protocol):
    """The signature every wire's `stream` has."""

    def __call__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        *,
        client: httpx.AsyncClient,
        read_timeout: float = 60.0,
        policy: retry.RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[Event, None]: ...


def stream_for(kind: WireKind) -> StreamFunction:
    """The stream function of a wire; each wire is imported only when first used."""
    if kind == "anthropic":
        from tui.providers import anthropic

        return anthropic.stream
    if kind == "ollama":
        from tui.providers import ollama

        return ollama.stream
    if kind == "local":
        from tui.providers import local

        return local.stream
    from tui.providers import openai

    return openai.stream


def timeout(read_timeout: float) -> httpx.Timeout:
    """A read timeout between chunks, not for the whole reply (replies may take minutes)."""
    return httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT)


@asynccontextmanager
async def opened(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    endpoint: Endpoint,
    request: ChatRequest,
    read_timeout: float,
) -> AsyncIterator[httpx.Response]:
    """A streamed POST to `base_url + path` that answered 2xx with something streamable.

    Leaving the block closes the response at once (a cancelled reply hangs up). httpx's
    errors, raised here or while the block reads, become `ProviderError`s.
    """
    url = endpoint.base_url.rstrip("/") + path
    try:
        async with client.stream(
            "POST", url, json=body, headers=headers, timeout=timeout(read_timeout)
        ) as response:
            if not response.is_success:
                raise await status_error(response, endpoint, request)
            check_stream_type(response, endpoint)
            yield response
    except httpx.HTTPError as exc:
        raise network_error(exc, endpoint, read_timeout) from None


def deadline_at(deadline: float | None) -> float | None:
    """The monotonic time after which a stream is given up, from an overall budget."""
    return None if deadline is None else time.monotonic() + deadline


def redact(text: str, endpoint: Endpoint) -> str:
    """Text with the endpoint's API key removed."""
    key = endpoint.api_key
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return text


def short(text: str, limit: int = 200) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_deadline(until: float | None, endpoint: Endpoint) -> None:
    """Give up a stream that is still going at its overall deadline."""
    if until is not None and time.monotonic() > until:
        raise ProviderError(
            f"{endpoint.provider}: no complete reply within the deadline", reason="timeout"
        )


async def line_batches(
    response: httpx.Response, endpoint: Endpoint, until: float | None = None
) -> AsyncIterator[list[str]]:
    """The body's lines, a batch per network read (cheaper than one await per line),
    ending with an empty line.

    Bytes are decoded as UTF-8 incrementally, so a character split across reads is whole.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in response.aiter_bytes():
        check_deadline(until, endpoint)
        text = pending + decoder.decode(chunk)
        if "\n" not in text:
            if len(text) > MAX_LINE:
                raise ProviderError(
                    f"{endpoint.provider} sent one event over {MAX_LINE // 2**20} MB",
                    reason="bad stream",
                )
            pending = text
            continue
        lines = text.split("\n")
        pending = lines.pop()
        yield [line[:-1] if line.endswith("\r") else line for line in lines]
    pending += decoder.decode(b"", final=True)
    yield [pending.rstrip("\r"), ""] if pending else [""]  # "" ends an unterminated event


class Coalescer:
    """Merges the deltas of one network read into one event per run of the same kind.

    A fast server packs hundreds of tokens into one read; every layer above (retry, the
    reply engine, the app's log) then handles one event instead of hundreds. Order is kept.
    """

    def __init__(self) -> None:
        self.kind: type[TextDelta] | type[ReasoningDelta] | None = None
        self.parts: list[str] = []

    def add(self, kind: type[TextDelta] | type[ReasoningDelta], text: str) -> Event | None:
        """Buffer `text`; returns the previous run's event when the kind changes."""
        out = self.flush() if kind is not self.kind else None
        self.kind = kind
        self.parts.append(text)
        return out

    def flush(self) -> Event | None:
        if self.kind is None:
            return None
        event = self.kind("".join(self.parts))
        self.kind, self.parts = None, []
        return event


class SSEParser:
    """Server-sent events from a decoded body, read by read.

    `events(text)` returns the events that `text` completes. A fast server puts hundreds of
    one-line `data:` events in one read: those are cut out of the text whole, blank line to
    blank line, without looking at each line (a third of what reading such a reply cost).
    Anything else (CRLF, `event:` names, comments, several data lines, an event left open by
    the previous read) goes line by line through `feed`, as the SSE spec reads it.
    """

    def __init__(self) -> None:
        self.event = ""
        self.data: list[str] = []
        self.pending = ""  # the text after the last complete line (or event)
        self.not_sse: str | None = None  # a line that is not SSE, met before any event
        self._seen = False

    def events(self, text: str, *, final: bool = False) -> list[tuple[str, str]]:
        """(event name, data) of each event completed by `text`; `final` ends the body
        (an unterminated last event counts)."""
        text = self.pending + text
        out: list[tuple[str, str]] = []
        if final:
            self.pending = ""
            for line in text.split("\n"):
                self._line(line[:-1] if line.endswith("\r") else line, out)
            self._line("", out)
            return out
        cut = text.rfind("\n\n")
        if cut < 0 or self.data or self.event or "\r" in text:
            lines = text.split("\n")
            self.pending = lines.pop()
            for line in lines:
                self._line(line[:-1] if line.endswith("\r") else line, out)
            return out
        self.pending = text[cut + 2 :]
        for block in text[:cut].split("\n\n"):
            if block[:5] == "data:" and "\n" not in block:
                out.append(("", block[6:] if block[5:6] == " " else block[5:]))
                continue
            self._seen = self._seen or bool(out)
            for line in block.split("\n"):
                self._line(line, out)
            self._line("", out)
        self._seen = self._seen or bool(out)
        return out

    def _line(self, line: str, out: list[tuple[str, str]]) -> None:
        try:
            event = self.feed(line)
        except ValueError:
            if not self._seen and self.not_sse is None:
                self.not_sse = line
            return
        if event is not None:
            out.append(event)
            self._seen = True

    def feed(self, line: str) -> tuple[str, str] | None:
        """One line; returns the event a blank line completes. A line that is not a field
        raises ValueError."""
        if not line:
            return self.flush()
        if line[0] == ":":
            return None  # a comment: keep-alive or "OPENROUTER PROCESSING"
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        elif name not in ("id", "retry"):
            raise ValueError(line)
        return None

    def flush(self) -> tuple[str, str] | None:
        if not self.data and not self.event:
            return None
        done = (self.event, "\n".join(self.data))
        self.event, self.data = "", []
        return done


async def sse_batches(
    response: httpx.Response, endpoint: Endpoint, parser: SSEParser, until: float | None = None
) -> AsyncIterator[list[tuple[str, str]]]:
    """The body's server-sent events, a batch per network read (cheaper than one await per
    event). After each batch the caller looks at `parser.not_sse`: a line that is not SSE
    before the first event means the body is something else (an error page, JSON).

    Bytes are decoded as UTF-8 incrementally, so a character split across reads is whole.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for chunk in response.aiter_bytes():
        check_deadline(until, endpoint)
        events = parser.events(decoder.decode(chunk))
        if len(parser.pending) > MAX_LINE:
            raise ProviderError(
                f"{endpoint.provider} sent one event over {MAX_LINE // 2**20} MB",
                reason="bad stream",
            )
        yield events
    yield parser.events(decoder.decode(b"", final=True), final=True)


def check_stream_type(response: httpx.Response, endpoint: Endpoint) -> None:
    """Refuse an HTML page served with 200 (a login portal, a proxy, a wrong base_url)."""
    if "html" in response.headers.get("content-type", "").lower():
        raise not_a_stream(endpoint, "an HTML page")


def not_a_stream(endpoint: Endpoint, what: str) -> ProviderError:
    return ProviderError(
        f"{endpoint.base_url} answered with {what}, not an event stream: is base_url right?",
        reason="bad stream",
    )


def not_sse(line: str, endpoint: Endpoint) -> ProviderError:
    """The error for a body whose first line is not server-sent events."""
    if line.lstrip().startswith("<"):
        return not_a_stream(endpoint, "an HTML page")
    return not_a_stream(endpoint, repr(short(redact(line, endpoint), 60)))


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON object, or {} when the server sent something else."""
    return value if isinstance(value, dict) else {}


def as_int(value: Any) -> int | None:
    """A token count from JSON, or None when absent or not a count."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_json(text: str, endpoint: Endpoint) -> Any:
    """One event's JSON; a malformed event becomes a one-line error, not a traceback.

    orjson decodes an event in a third of the time `json.loads` takes (1.2 against 3.4 µs
    for an OpenAI delta): with one event a token, that was most of what reading a fast
    reply cost. What it refuses and the standard library takes (NaN, a lone surrogate)
    goes to the standard library, and strings are then made encodable: a lone surrogate
    would otherwise fail the session file's save and lose the reply.
    """
    try:
        return orjson.loads(text)
    except ValueError:
        pass
    try:
        return _encodable(json.loads(text))
    except ValueError as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ProviderError(
            f"{endpoint.provider} sent a malformed event ({problem}): "
            f"{redact(short(text, 80), endpoint)}",
            reason="bad stream",
        ) from None


def _encodable(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value


def parse_object(text: str, endpoint: Endpoint) -> dict[str, Any]:
    """One event that must be a JSON object."""
    obj = parse_json(text, endpoint)
    if not isinstance(obj, dict):
        raise ProviderError(
            f"{endpoint.provider} sent an event that is not an object: "
            f"{redact(short(text, 80), endpoint)}",
            reason="bad stream",
        )
    return obj


def empty_reply(endpoint: Endpoint) -> ProviderError:
    return ProviderError(
        f"{endpoint.provider} sent an empty reply (the prompt may exceed the model's context)",
        reason="empty reply",
    )


def error_text(obj: Any) -> str:
    """The server's own message from an error object in any of the wires' shapes."""
    if isinstance(obj, dict):
        error = obj.get("error", obj)
        if isinstance(error, str):
            return error
        if isinstance(error, dict):
            message = error.get("message") or error.get("error") or ""
            code = error.get("code")  # OpenAI's specific code; Anthropic has only a type
            if obj.get("type") == "error":
                code = error.get("type")
            if isinstance(message, str) and message:
                return f"{message} ({code})" if isinstance(code, str) and code else message
        return json.dumps(obj)[:500]
    return str(obj)


async def read_error_body(response: httpx.Response) -> str:
    """At most ERROR_BODY_LIMIT bytes of a failed response's body, as text."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    return body[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")


def body_detail(body: str) -> tuple[str, bool]:
    """(the server's message, whether the body was a JSON error object) from an error body."""
    try:
        obj = json.loads(body)
    except ValueError:
        stripped = body.lstrip()
        if stripped[:1] == "<":
            return "an HTML page", False
        return short(body) or "no details", False
    return short(error_text(obj)) or "no details", isinstance(obj, dict)


async def status_error(
    response: httpx.Response, endpoint: Endpoint, request: ChatRequest
) -> ProviderError:
    """The error for a non-2xx answer; says what to fix and whether a retry may help."""
    status = response.status_code
    body = await read_error_body(response)
    detail, is_json = body_detail(body)
    detail = redact(detail, endpoint)
    provider = endpoint.provider
    if status in (401, 403):
        if endpoint.api_key_env:
            fix = f"set {endpoint.api_key_env} to a valid key"
        else:
            fix = f"check the API key configured for {provider}"
        if endpoint.api_key:
            message = f"{provider} refused the API key ({status}: {detail}): {fix}"
        else:
            message = f"{provider} needs an API key ({status}: {detail}): {fix}"
    elif status == 404 and is_json:
        message = f"model not found: {request.model} at {provider}; pick another (Ctrl+O)"
    elif status == 404:
        message = f"{endpoint.base_url} has no such API (404: {detail}): is base_url right?"
    elif status == 402:
        message = f"{provider} says the account is out of credit (402: {detail})"
    elif 300 <= status < 400:
        where = response.headers.get("location", "elsewhere")
        message = f"{endpoint.base_url} redirects ({status}) to {where}: is base_url right?"
    else:
        message = f"{provider} answered {status}: {detail}"
    return ProviderError(
        message,
        reason=f"http {status}",
        status=status,
        retryable=retry.should_retry(status, response.headers, body),
        retry_after=retry.retry_after(response.headers),
    )


def network_error(exc: httpx.HTTPError, endpoint: Endpoint, read_timeout: float) -> ProviderError:
    """A transport failure as a one-line error; always retryable before the first token."""
    detail = redact(short(str(exc)) or type(exc).__name__, endpoint)
    if isinstance(exc, httpx.ConnectTimeout):
        message = f"cannot reach {endpoint.base_url}: no answer within {CONNECT_TIMEOUT:g} s"
        return ProviderError(message, reason="network", retryable=True)
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(
            f"cannot reach {endpoint.base_url}: {detail}", reason="network", retryable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            f"{endpoint.provider} sent nothing for {read_timeout:g} s (read timeout)",
            reason="timeout",
            retryable=True,
        )
    return ProviderError(
        f"the connection to {endpoint.base_url} was cut: {detail}",
        reason="network",
        retryable=True,
    )


def run(
    attempt: Callable[[], AsyncGenerator[Event, None]], policy: retry.RetryPolicy | None
) -> AsyncGenerator[Event, None]:
    """A wire's stream: its attempts under the retry policy."""
    return retry.retrying(policy or retry.RetryPolicy(), attempt)
