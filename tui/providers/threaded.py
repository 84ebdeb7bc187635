"""An httpx transport that does the network reading on a thread, for the event loop's sake.

A reply streamed at 100 tokens/s is 100 HTTP chunks a second. Read on the event loop, each
chunk costs two turns of the loop, an anyio cancel scope and an await per layer (httpcore,
httpx, the wire, the engine): about 0.6 ms of CPU a chunk, as much as everything else the
app does per token. Here httpx's own synchronous transport reads on a thread (about 0.3 ms
a chunk), and the loop collects what arrived at most once per BATCH_WINDOW, as one chunk:
one wake-up and one pass through the layers per batch instead of per token.

Everything else stays httpx's: the client, timeouts (the thread's socket has them), errors
(`httpx.ReadTimeout` and friends, raised on the loop side), content decoding, pooling.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx

BATCH_WINDOW = 0.1
"""Longest the loop waits, after taking a batch, to collect the next one. Each batch wakes
the loop and passes through every layer (httpx, the wire, the engine) once: at 100 tokens/s
and 40 ms, `liu ask` alone cost 0.23-0.27 CPU-s per 1,000 tokens, at 100 ms 0.15-0.16. The
screen shows a streaming reply 4 to 8 times a second: a token waits at most this much more,
less than one update of the screen. The body's end is handed over at once."""

MAX_BATCH = 64 * 1024
"""Most bytes handed over at once: a server that sends faster than the reply is drawn gets
read in pieces of this size (as httpx's own reads), so the loop keeps turning."""

MAX_BUFFERED = 1024 * 1024
"""Most bytes the thread reads ahead of the loop; then it waits, and TCP slows the server."""

READ_GAP = 0.05
"""Least time between two reads of the socket while the server sends in drips. A reply at
100 tokens/s comes as 100 small writes a second; each read costs the thread ~0.3 ms of CPU
(waking up, taking the GIL, the syscalls) and each HTTP chunk ~0.03 ms more. Read every
50 ms, the kernel hands over five or so at once: the reader used 0.38 CPU-s for a 4,000
token reply at 100 tokens/s, against 0.71 s at 20 ms and about 1.2 s reading each as it
came. A token shows at most this much later (the reply is drawn four times a second; the
last token's lag went from ~70 to ~95 ms), and a server sending flat out is read without
pause."""

DRIP = 4096
"""A read of fewer bytes than this means the server sends slower than we read."""

T = TypeVar("T")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _wake(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any) -> None:
    """Settle `future` from another thread; a loop already closed (the app quit) is fine."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, None)


async def _in_thread(function: Callable[[], T], orphan: Callable[[T], None] | None = None) -> T:
    """`function()` on a daemon thread (a hung connect must not keep the app from quitting,
    as an executor's thread would); if the caller is cancelled first, `orphan` gets what
    the call returned."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.cancelled():
            if orphan is not None and error is None:
                orphan(result)
            return
        _settle(future, result, error)

    def run() -> None:
        try:
            result: Any = function()
        except BaseException as error:  # handed to the awaiting task
            outcome: tuple[Any, BaseException | None] = (None, error)
        else:
            outcome = (result, None)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="liu-http", daemon=True).start()
    return await future


def async_client(**options: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (with `options`) whose requests go through `ThreadedTransport`."""
    return httpx.AsyncClient(transport=ThreadedTransport(), **options)


class ThreadedTransport(httpx.AsyncBaseTransport):
    """`httpx.HTTPTransport`, driven from the event loop: see the module's docstring."""

    def __init__(self, **options: Any) -> None:
        self._transport = httpx.HTTPTransport(**options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sync_request = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=body,
            extensions=request.extensions,
        )
        response = await _in_thread(
            lambda: self._transport.handle_request(sync_request), orphan=httpx.Response.close
        )
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=ThreadedStream(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        self._transport.close()


class ThreadedStream(httpx.AsyncByteStream):
    """A response body read by a thread of its own and collected in batches."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)  # the loop took some: read on
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._error: BaseException | None = None
        self._done = False
        self._closing = False
        self._waiter: asyncio.Future[None] | None = None  # the loop waits on it
        self._gathering = False  # ... for the batch window to pass, or the body to end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False  # the thread may still read the socket (under the lock)

    def _start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._reading = True
        threading.Thread(target=self._pump, name="liu-http-body", daemon=True).start()

    def _pump(self) -> None:
        """The thread: read chunks until the body ends, fails, or the stream is closed."""
        assert self._loop is not None
        stream = self._response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        error: BaseException | None = None
        unpace = self._pace_reads()
        try:
            for chunk in stream:
                with self._lock:
                    if self._closing:
                        break
                    self._chunks.append(chunk)
                    self._buffered += len(chunk)
                    full = self._buffered > MAX_BUFFERED
                    if full or not self._gathering:
                        self._wake_loop()
                    while self._buffered > MAX_BUFFERED and not self._closing:
                        self._drained.wait()
        except Exception as exc:  # raised on the loop side
            error = exc
        finally:
            with self._lock:
                # From here the socket is not ours to shut down: closing the stream may
                # hand the connection back to the pool, and the next request may use it.
                self._reading = False
            unpace()
            with contextlib.suppress(Exception):
                stream.close()
            with self._lock:
                self._error = None if self._closing else error
                self._done = True
                self._wake_loop()

    def _pace_reads(self) -> Callable[[], None]:
        """Space the socket reads READ_GAP apart while they come in drips; returns what
        undoes it (the connection goes back to the pool as it was). httpcore reads the
        socket only when its parser has used up what it read before, so a pause here never
        holds back data already received."""
        network = self._response.extensions.get("network_stream")
        read = getattr(network, "read", None)
        if network is None or read is None:
            return lambda: None
        own_read = vars(network).get("read")  # set on the object itself, not its class
        last_drip = 0.0

        def paced_read(max_bytes: int, timeout: float | None = None) -> bytes:
            nonlocal last_drip
            wait = last_drip + READ_GAP - time.monotonic()
            if wait > 0 and not self._closing:
                time.sleep(wait)
            data: bytes = read(max_bytes, timeout)
            last_drip = time.monotonic() if len(data) < DRIP else 0.0
            return data

        network.read = paced_read

        def unpace() -> None:
            if own_read is not None:
                network.read = own_read
            else:
                with contextlib.suppress(AttributeError):
                    del network.read

        return unpace

    def _wake_loop(self) -> None:
        """Under the lock: settle the future the loop waits on, if it waits."""
        if self._waiter is not None and self._loop is not None:
            _wake(self._loop, self._waiter, None)
            self._waiter = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._start()
        assert self._loop is not None
        handed = 0.0  # when the last batch was handed over
        while True:
            with self._lock:
                if self._chunks:
                    data = self._take()
                elif self._done:
                    if self._error is not None:
                        raise self._error
                    return
                else:
                    data = b""
                    wait = BATCH_WINDOW - (time.monotonic() - handed)
                    waiter = self._waiter = self._loop.create_future()
                    # Gathering, new data does not wake the loop; the body's end does.
                    self._gathering = wait > 0
            if data:
                yield data
                handed = time.monotonic()
                continue
            timer = self._loop.call_later(wait, _settle, waiter, None, None) if wait > 0 else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None

    def _take(self) -> bytes:
        """Up to MAX_BATCH bytes of what was read (at least one chunk), under the lock."""
        taken, size = 0, 0
        for chunk in self._chunks:
            if taken and size + len(chunk) > MAX_BATCH:
                break
            taken += 1
            size += len(chunk)
        data = b"".join(self._chunks[:taken])
        del self._chunks[:taken]
        self._buffered -= size
        self._drained.notify()
        return data

    async def aclose(self) -> None:
        """Stop reading: wake a thread blocked on the socket; it closes the response.

        Nothing here waits: a reply abandoned mid-stream (Esc, a closed pipe) is closed by
        generators unwinding, and one that suspended while closing would be closed again
        from the outside (asyncio's shutdown), which raises."""
        with self._lock:
            self._closing = True
            self._drained.notify()
            started = self._loop is not None
            if self._reading:  # under the lock: the thread has not let go of the socket
                self._interrupt()
        if not started:
            self._response.close()  # never read: give the connection back (or close it)

    def _interrupt(self) -> None:
        """Shut the socket down under a blocked read (closing alone would not wake it)."""
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
