"""A loopback LLM server for tests and benchmarks, with faults on demand.

It speaks the three wires liu reads, over real sockets on 127.0.0.1:

- OpenAI SSE: `POST /v1/chat/completions`, `GET /v1/models`
- Anthropic SSE: `POST /v1/messages`
- Ollama NDJSON: `POST /api/chat`, `GET /api/tags`

Each chat request takes the next `Reply` from the script queue (`script(...)`), or the default
(`always(...)`). A `Reply` says what to send (text, reasoning, token count, rate, usage) and
which fault to inject. Every request received is recorded (`requests`), and a client hanging
up mid-reply is noticed (`disconnected`, `disconnects`).

In tests::

    with running_server() as server:
        server.script(Reply.error(429, headers={"retry-after": "1"}), Reply(text="hi"))
        ... stream from server.openai_url ...

From another process::

    python tests/server.py --port 0 --tokens 100000 --rate 0 [--reply '{"stall_after": 5}']

prints `http://127.0.0.1:PORT` on its first line, then serves until killed. There,
`POST /_script` with a JSON list of Reply fields queues replies, and `GET /_requests` returns
the requests received.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
FLUSH_BYTES = 64 * 1024  # at rate 0, events are batched into writes of about this size

STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    b"<body><h1>Please sign in to the captive portal</h1></body></html>\n"
)


@dataclass
class Reply:
    """One scripted answer: what to send and which fault to inject."""

    text: str | None = None  # the reply; None = `tokens` generated words "w0 w1 ..."
    tokens: int = 5
    reasoning: str = ""  # sent before the text (reasoning_content / thinking)
    rate: float = 0.0  # tokens per second; 0 = as fast as possible, in batched writes
    usage: str = "separate"  # separate | finish | null_choices | no_choices | repeat | none
    usage_extra: dict[str, Any] = field(default_factory=dict)  # merged into OpenAI usage
    prompt_tokens: int = 11
    cached_tokens: int = 0
    finish_reason: str = "stop"
    reasoning_field: str = "reasoning_content"  # OpenAI wire: or "reasoning" (OpenRouter)
    comment: str | None = None  # an SSE comment line sent first, like ": keep-alive"
    # faults
    status: int = 200  # != 200: an error answer with the wire's error body
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "injected fault"
    error_code: str | int | None = None  # OpenAI `error.code`, e.g. "insufficient_quota"
    error_type: str | None = None  # Anthropic `error.type`, e.g. "overloaded_error"
    raw_body: bytes | None = None  # sent as is with `status` and `content_type`
    content_type: str = "text/html"
    cut_after: int | None = None  # tokens sent, then the connection is cut
    stall_after: int | None = None  # tokens sent, then silence for `stall_seconds`
    stall_seconds: float = 30.0
    malformed_after: int | None = None  # tokens sent, then an event that is not JSON
    error_after: int | None = None  # tokens sent, then an error event in the stream
    split_multibyte: bool = False  # each non-ASCII event goes in two writes, mid-character
    big_event: int = 0  # bytes of one extra text event sent first (a 1 MB event)

    @classmethod
    def error(cls, status: int, **kwargs: Any) -> Reply:
        return cls(status=status, **kwargs)

    @classmethod
    def html_page(cls, status: int = 200) -> Reply:
        return cls(status=status, raw_body=HTML_PAGE, content_type="text/html; charset=utf-8")

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Reply:
        """A reply from JSON (for another process): `raw_body` may be given as text."""
        fields = dict(fields)
        if isinstance(fields.get("raw_body"), str):
            fields["raw_body"] = fields["raw_body"].encode()
        return cls(**fields)

    def text_tokens(self) -> list[str]:
        if self.text is None:
            return [f"w{i} " for i in range(self.tokens)]
        return split_tokens(self.text)

    def reasoning_tokens(self) -> list[str]:
        return split_tokens(self.reasoning)

    def expected_text(self) -> str:
        """The text a client should assemble from this reply (without faults)."""
        big = "x" * self.big_event
        return big + "".join(self.text_tokens())


def split_tokens(text: str) -> list[str]:
    """Tokens that join back to `text`: words with their trailing space, CJK one a char."""
    return re.findall(r"[\u3000-\u9fff\uac00-\ud7af]|[^\s\u3000-\u9fff\uac00-\ud7af]+\s*|\s+", text)


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    raw: bytes


class ClientGone(Exception):
    """The client closed the connection while a reply was being sent."""


class Cut(Exception):
    """A scripted fault ended the connection."""


class Ended(Exception):
    """A scripted error event ended the reply; the connection serves the next request, as
    an API's would (closing it right after a complete response raced a client reusing it)."""


class FakeLLMServer:
    """The server; `start()` runs it in a thread with its own event loop, `stop()` ends it."""

    def __init__(self, port: int = 0, default: Reply | None = None) -> None:
        self.port = port
        self.default = default or Reply()
        self.models = ["fake-model", "fake-reasoner"]
        self.require_key: str | None = None  # when set, requests without it get 401
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self.disconnected = threading.Event()
        self._queue: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the script ---------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies: each chat request takes the next; then the default is used."""
        with self._lock:
            self._queue.extend(replies)

    def always(self, reply: Reply) -> None:
        """The reply for every request once the queue is empty."""
        self.default = reply

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
        self.default = Reply()
        self.requests.clear()
        self.disconnects = 0
        self.disconnected.clear()

    def next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def openai_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def ollama_url(self) -> str:
        return self.base_url

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    # -- running ------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._run_thread, name="fake-llm", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake LLM server did not start")
        return self

    def stop_soon(self) -> None:
        """Ask the serving loop to end (from its own thread: a signal handler)."""
        if self._stopping is not None:
            self._stopping.set()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run_thread(self) -> None:
        asyncio.run(self.serve())

    async def serve(self, on_ready: Any = None) -> None:
        """Serve until `stop()` (or, from the command line, a signal)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, HOST, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        if on_ready is not None:
            on_ready()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            first = b""
            while True:
                request = await read_request(reader, first)
                if request is None:
                    break
                if not request.path.startswith("/_"):
                    self.requests.append(request)  # the control paths are not the client's
                first = await self._answer(request, reader, writer)
        except ClientGone:
            self.disconnects += 1
            self.disconnected.set()
        except (Cut, ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(
        self, request: Recorded, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes:
        """Answer one request; returns the first byte of the next one if it was read."""
        path = request.path.split("?")[0]
        if request.method == "POST" and path == "/_script":  # scripting from another process
            self.script(*(Reply.from_dict(fields) for fields in request.body or []))
            await send_json(writer, 200, {"queued": len(request.body or [])})
            return b""
        if request.method == "GET" and path == "/_requests":
            seen = [
                {"method": r.method, "path": r.path, "headers": r.headers, "body": r.body}
                for r in self.requests
            ]
            await send_json(writer, 200, seen)
            return b""
        if self.require_key is not None and not has_key(request, self.require_key):
            body = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
            await send_json(writer, 401, body)
            return b""
        if request.method == "GET" and path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
            await send_json(writer, 200, {"object": "list", "data": data})
            return b""
        if request.method == "GET" and path == "/api/tags":
            await send_json(writer, 200, {"models": [{"name": m, "model": m} for m in self.models]})
            return b""
        wire: Wire
        if request.method == "POST" and path == "/v1/chat/completions":
            wire = OpenAIWire()
        elif request.method == "POST" and path == "/v1/messages":
            wire = AnthropicWire()
        elif request.method == "POST" and path == "/api/chat":
            wire = OllamaWire()
        else:
            await send_raw(writer, 404, b"404 page not found\n", "text/plain", {})
            return b""
        reply = self.next_reply()
        model = request.body.get("model", "") if isinstance(request.body, dict) else ""
        if reply.raw_body is not None:
            await send_raw(writer, reply.status, reply.raw_body, reply.content_type, reply.headers)
        elif reply.status != 200:
            await send_json(writer, reply.status, wire.error_body(reply), reply.headers)
        else:
            return await Sender(reader, writer, reply).send(wire, model)
        return b""


def has_key(request: Recorded, key: str) -> bool:
    return key in (request.headers.get("authorization", "") + request.headers.get("x-api-key", ""))


# -- HTTP/1.1, just enough -------------------------------------------------------------------


async def read_request(reader: asyncio.StreamReader, first: bytes = b"") -> Recorded | None:
    """One request; `first` is a byte of it already read (by a reply's hang-up watch)."""
    line = first + await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return Recorded(method, target, headers, body, raw)


def head(status: int, content_type: str, headers: dict[str, str], length: int | None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Status')}",
        f"content-type: {content_type}",
    ]
    if length is None:
        lines.append("transfer-encoding: chunked")
    else:
        lines.append(f"content-length: {length}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send_raw(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
) -> None:
    writer.write(head(status, content_type, headers, len(body)) + body)
    await writer.drain()


async def send_json(
    writer: asyncio.StreamWriter, status: int, obj: Any, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(obj, ensure_ascii=False).encode()
    await send_raw(writer, status, body, "application/json", headers or {})


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


# -- the wires --------------------------------------------------------------------------------


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Wire:
    """What a reply looks like on one wire: a stream of (bytes, is it a token?)."""

    content_type = "text/event-stream"

    def events(self, reply: Reply, model: str) -> Iterator[tuple[bytes, bool]]:
        raise NotImplementedError

    def error_body(self, reply: Reply) -> Any:
        raise NotImplementedError

    def error_event(self, reply: Reply) -> bytes:
        raise NotImplementedError

    def malformed_event(self) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "oops"\n\n'


class OpenAIWire(Wire):
    def error_body(self, reply: Reply) -> Any:
        error_type = reply.error_type or ("rate_limit_error" if reply.status == 429 else "error")
        return {
            "error": {
                "message": reply.error_message,
                "type": error_type,
                "code": reply.error_code,
                "param": None,
            }
        }

    def error_event(self, reply: Reply) -> bytes:
        code = reply.error_code if reply.error_code is not None else 502
        return (
            f"data: {dumps({'error': {'message': reply.error_message, 'code': code}})}\n\n".encode()
        )

    def usage(self, reply: Reply, completion: int, reasoning: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": reply.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
        usage.update(reply.usage_extra)
        return usage

    def events(self, reply: Reply, model: str) -> Iterator[tuple[bytes, bool]]:
        head = '{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,'
        head += f'"model":{dumps(model)},'
        if reply.comment is not None:
            yield f": {reply.comment}\n\n".encode(), False
        choice = '"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]'
        yield f"data: {head}{choice}}}\n\n".encode(), False
        if reply.big_event:
            yield self.delta(head, "content", "x" * reply.big_event), True
        reasoning = reply.reasoning_tokens()
        for token in reasoning:
            yield self.delta(head, reply.reasoning_field, token), True
        text = reply.text_tokens()
        for token in text:
            yield self.delta(head, "content", token), True
        completion = len(text) + len(reasoning) + (1 if reply.big_event else 0)
        usage = self.usage(reply, completion, len(reasoning))
        finish: dict[str, Any] = {
            "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]
        }
        if reply.usage == "finish":
            finish["usage"] = usage
        if reply.usage == "repeat":
            finish["usage"] = self.usage(reply, max(completion - 1, 0), len(reasoning))
        yield f"data: {head}{dumps(finish)[1:]}\n\n".encode(), False
        if reply.usage in ("separate", "repeat"):
            yield f"data: {head}{dumps({'choices': [], 'usage': usage})[1:]}\n\n".encode(), False
        elif reply.usage == "null_choices":
            yield f"data: {head}{dumps({'choices': None, 'usage': usage})[1:]}\n\n".encode(), False
        elif reply.usage == "no_choices":
            yield f"data: {head}{dumps({'usage': usage})[1:]}\n\n".encode(), False
        yield b"data: [DONE]\n\n", False

    @staticmethod
    def delta(head: str, name: str, token: str) -> bytes:
        delta = (
            f'"choices":[{{"index":0,"delta":{{"{name}":{dumps(token)}}},"finish_reason":null}}]'
        )
        return f"data: {head}{delta}}}\n\n".encode()


class AnthropicWire(Wire):
    def error_body(self, reply: Reply) -> Any:
        default = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}
        kind = reply.error_type or default.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.error_message}}

    def error_event(self, reply: Reply) -> bytes:
        body = {
            "type": "error",
            "error": {
                "type": reply.error_type or "overloaded_error",
                "message": reply.error_message,
            },
        }
        return f"event: error\ndata: {dumps(body)}\n\n".encode()

    def malformed_event(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n'

    @staticmethod
    def event(name: str, obj: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {dumps({'type': name, **obj})}\n\n".encode()

    def events(self, reply: Reply, model: str) -> Iterator[tuple[bytes, bool]]:
        usage: dict[str, Any] = {
            "input_tokens": reply.prompt_tokens - reply.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
            "output_tokens": 1,
        }
        message: dict[str, Any] = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if reply.usage != "none":
            message["usage"] = usage
        if reply.comment is not None:
            yield f": {reply.comment}\n\n".encode(), False
        yield self.event("message_start", {"message": message}), False
        index = 0
        reasoning = reply.reasoning_tokens()
        if reasoning:
            block = {"type": "thinking", "thinking": ""}
            yield self.event("content_block_start", {"index": 0, "content_block": block}), False
            for token in reasoning:
                delta = {"type": "thinking_delta", "thinking": token}
                yield self.event("content_block_delta", {"index": 0, "delta": delta}), True
            delta = {"type": "signature_delta", "signature": "c2lnbmF0dXJl"}
            yield self.event("content_block_delta", {"index": 0, "delta": delta}), False
            yield self.event("content_block_stop", {"index": 0}), False
            index = 1
        yield self.event("ping", {}), False
        block = {"type": "text", "text": ""}
        yield self.event("content_block_start", {"index": index, "content_block": block}), False
        text = reply.text_tokens()
        if reply.big_event:
            text = ["x" * reply.big_event, *text]
        for token in text:
            delta = {"type": "text_delta", "text": token}
            yield self.event("content_block_delta", {"index": index, "delta": delta}), True
        yield self.event("content_block_stop", {"index": index}), False
        stop = {"stop": "end_turn", "length": "max_tokens"}.get(
            reply.finish_reason, reply.finish_reason
        )
        end: dict[str, Any] = {"delta": {"stop_reason": stop, "stop_sequence": None}}
        if reply.usage != "none":
            end["usage"] = {"output_tokens": len(text) + len(reasoning)}
        yield self.event("message_delta", end), False
        yield self.event("message_stop", {}), False


class OllamaWire(Wire):
    content_type = "application/x-ndjson"

    def error_body(self, reply: Reply) -> Any:
        return {"error": reply.error_message}

    def error_event(self, reply: Reply) -> bytes:
        return f"{dumps({'error': reply.error_message})}\n".encode()

    def malformed_event(self) -> bytes:
        return b'{"message": {"role": "assistant", "content": "oops"\n'

    def events(self, reply: Reply, model: str) -> Iterator[tuple[bytes, bool]]:
        head = f'{{"model":{dumps(model)},"created_at":"2026-11-01T00:00:00Z","message":'
        if reply.big_event:
            yield self.line(head, "content", "x" * reply.big_event), True
        reasoning = reply.reasoning_tokens()
        for token in reasoning:
            yield self.line(head, "thinking", token), True
        text = reply.text_tokens()
        for token in text:
            yield self.line(head, "content", token), True
        final: dict[str, Any] = {
            "model": model,
            "created_at": "2026-11-01T00:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": reply.finish_reason,
            "total_duration": 1_000_000,
        }
        if reply.usage != "none":
            final["prompt_eval_count"] = reply.prompt_tokens
            final["eval_count"] = len(text) + len(reasoning) + (1 if reply.big_event else 0)
        yield f"{dumps(final)}\n".encode(), False

    @staticmethod
    def line(head: str, name: str, token: str) -> bytes:
        message = f'{{"role":"assistant","content":"","{name}":{dumps(token)}}}'
        if name == "content":
            message = f'{{"role":"assistant","content":{dumps(token)}}}'
        return f'{head}{message},"done":false}}\n'.encode()


# -- sending a reply, faults included -----------------------------------------------------------


class Sender:
    """Writes one streamed reply as chunked HTTP, pacing it and injecting the faults."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.reply = reply
        self.pending = bytearray()
        self.watch: asyncio.Task[bytes] | None = None

    async def send(self, wire: Wire, model: str) -> bytes:
        """Write the reply; returns the next request's first byte if the watch read it."""
        reply = self.reply
        self.watch = asyncio.ensure_future(self.reader.read(1))  # b"" when the client leaves
        try:
            self.writer.write(head(200, wire.content_type, reply.headers, None))
            loop = asyncio.get_running_loop()
            started = loop.time()
            sent = 0
            for payload, is_token in wire.events(reply, model):
                if is_token:
                    try:
                        await self.before_token(wire, sent)
                    except Ended:
                        break
                    if reply.rate > 0:
                        await self.flush()
                        await self.pause(started + sent / reply.rate - loop.time())
                    sent += 1
                if reply.split_multibyte and max(payload, default=0) >= 0x80:
                    await self.split_write(payload)
                    continue
                self.pending += payload
                if len(self.pending) >= FLUSH_BYTES:
                    await self.flush()
            else:
                await self.flush()
                self.writer.write(b"0\r\n\r\n")
                await self.drain()
        finally:
            if not self.watch.done():
                self.watch.cancel()
            # Wait for the cancel to land before the connection reads its next request. A
            # client that hangs up with bytes unread resets the connection: the watch's
            # ConnectionResetError must not hide the ClientGone raised for it.
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self.watch
        if self.watch.cancelled() or self.watch.exception() is not None:
            return b""
        return self.watch.result()

    async def before_token(self, wire: Wire, sent: int) -> None:
        """Inject the fault scripted for this point: `sent` tokens are out."""
        reply = self.reply
        if sent == reply.cut_after:
            await self.flush()
            self.writer.transport.abort()
            raise Cut
        if sent == reply.stall_after:
            await self.flush()
            await self.pause(reply.stall_seconds)
        if sent == reply.malformed_after:
            self.pending += wire.malformed_event()
        if sent == reply.error_after:
            self.pending += wire.error_event(reply)
            await self.flush()
            self.writer.write(b"0\r\n\r\n")
            await self.drain()
            raise Ended

    async def split_write(self, payload: bytes) -> None:
        """Two chunks, two TCP writes, the cut inside the first multibyte character."""
        await self.flush()
        cut = next(i for i, byte in enumerate(payload) if byte >= 0x80) + 1
        for part in (payload[:cut], payload[cut:]):
            self.writer.write(chunk(part))
            await self.drain()
            await self.pause(0.005)

    async def flush(self) -> None:
        if self.pending:
            self.writer.write(chunk(bytes(self.pending)))
            self.pending.clear()
            await self.drain()

    async def drain(self) -> None:
        if self.watch is not None and self.watch.done():
            raise ClientGone
        try:
            await self.writer.drain()
        except ConnectionError:
            raise ClientGone from None

    async def pause(self, seconds: float) -> None:
        """Sleep, but stop at once if the client hangs up meanwhile."""
        if seconds <= 0:
            return
        assert self.watch is not None
        done, _ = await asyncio.wait({self.watch}, timeout=seconds)
        if done:
            raise ClientGone


@contextlib.contextmanager
def running_server(default: Reply | None = None) -> Iterator[FakeLLMServer]:
    """A started server, stopped on exit."""
    server = FakeLLMServer(default=default).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback LLM server with fault injection.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tokens", type=int, default=50, help="tokens in each reply")
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s; 0 = flat out")
    parser.add_argument("--text", default=None, help="the reply text (instead of --tokens)")
    parser.add_argument("--reasoning", default="", help="reasoning sent before the text")
    parser.add_argument("--no-usage", action="store_true", help="send no token counts")
    parser.add_argument("--key", default=None, help="require this API key")
    parser.add_argument(
        "--reply", default="{}", help="more Reply fields as JSON, e.g. '{\"cut_after\": 3}'"
    )
    parser.add_argument(
        "--script", default="[]", help="replies (JSON list of Reply fields) served first, in turn"
    )
    args = parser.parse_args(argv)
    fields = {
        "text": args.text,
        "tokens": args.tokens,
        "rate": args.rate,
        "reasoning": args.reasoning,
        "usage": "none" if args.no_usage else "separate",
        **json.loads(args.reply),
    }
    server = FakeLLMServer(port=args.port, default=Reply.from_dict(fields))
    server.script(*(Reply.from_dict(f) for f in json.loads(args.script)))
    server.require_key = args.key

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop_soon)
        await server.serve(on_ready=lambda: print(server.base_url, flush=True))

    asyncio.run(serve())


if __name__ == "__main__":
    main()
