"""The app's httpx transport, which reads response bodies on a thread (tui/providers/threaded.py).

The wire tests run over it as well (the `http_client` fixture): faults, timeouts, cut
connections and cancellation are covered there. Here: what is its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import FLUSH_BYTES, FakeLLMServer, Reply
from tests.unit.provider_helpers import drain, request, text_of
from tui.providers import openai, threaded
from tui.providers.events import Endpoint

pytest_plugins = ["tests.unit.provider_fixtures"]


def endpoint(server: FakeLLMServer) -> Endpoint:
    return Endpoint(provider="lab", kind="openai", base_url=server.openai_url)


def chat(client: httpx.AsyncClient, server: FakeLLMServer) -> Any:
    """A streamed chat request, as a context manager giving the response."""
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    return client.stream("POST", server.openai_url + "/chat/completions", json=body)


def body_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "liu-http-body"]


async def test_a_paced_stream_arrives_whole_in_fewer_batches_than_events(
    llm_server: FakeLLMServer,
) -> None:
    llm_server.script(Reply(tokens=200, rate=1000))
    batches = 0
    body = b""
    async with threaded.async_client() as client, chat(client, llm_server) as response:
        async for chunk in response.aiter_raw():
            batches += 1
            body += chunk
    assert body.count(b"data: ") >= 200  # every event, each its own HTTP chunk
    assert body.rstrip().endswith(b"data: [DONE]")
    assert batches < 50  # 1 ms apart, collected per BATCH_WINDOW (100 ms)


async def test_a_dripping_stream_wakes_the_loop_about_ten_times_a_second(
    llm_server: FakeLLMServer,
) -> None:
    """Each batch costs the loop a wake-up and a pass through every layer: 100 ms apart,
    `liu ask` alone spent a third less CPU on a reply at 100 tokens/s than at 40 ms."""
    llm_server.script(Reply(tokens=100, rate=200))  # half a second of drips
    arrivals: list[float] = []
    async with threaded.async_client() as client, chat(client, llm_server) as response:
        async for _chunk in response.aiter_raw():
            arrivals.append(time.monotonic())
    elapsed = arrivals[-1] - arrivals[0]
    # Ten a second, and some slack for a batch taken at once because it had arrived
    # while the last one was being handled; 40 ms apart would be 25 a second.
    assert len(arrivals) <= 2 + 15 * elapsed, (len(arrivals), elapsed)


async def test_a_dripping_stream_is_read_a_few_tokens_at_a_time(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threaded, "READ_GAP", 0.3)  # a bound far above the drip's 0.2 s
    llm_server.script(Reply(tokens=20, rate=100))
    reads = 0
    body = b""
    async with threaded.async_client() as client, chat(client, llm_server) as response:
        network = response.extensions["network_stream"]
        read = network.read

        def counting_read(*args: Any) -> bytes:
            nonlocal reads
            reads += 1
            data: bytes = read(*args)
            return data

        network.read = counting_read
        async for chunk in response.aiter_raw():
            body += chunk
        assert body.count(b"data: ") >= 20 and body.rstrip().endswith(b"data: [DONE]")
        assert reads <= 5  # 20 writes 10 ms apart: the first read, then the rest at once
        assert network.read is counting_read  # as it was: the connection goes back to the pool


async def test_the_reply_read_over_it_is_the_reply_sent(llm_server: FakeLLMServer) -> None:
    reply = Reply(text="流れ " * 40 + "end", split_multibyte=True)
    llm_server.script(reply)
    async with threaded.async_client() as client:
        events, error = await drain(openai.stream(endpoint(llm_server), request(), client=client))
    assert error is None
    assert text_of(events) == reply.expected_text()


async def test_closing_mid_stream_hangs_up_and_ends_the_reading_thread(
    llm_server: FakeLLMServer,
) -> None:
    llm_server.script(Reply(tokens=1000, rate=20))
    async with threaded.async_client() as client:
        events = openai.stream(endpoint(llm_server), request(), client=client)
        await anext(events)
        assert body_threads()
        await events.aclose()
    assert await asyncio.to_thread(llm_server.disconnected.wait, 5)
    await threads_ended()


async def threads_ended() -> None:
    """Wait (a bound, not a timing assertion) until no thread reads a body."""
    for _ in range(500):
        if not body_threads():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still reading: {body_threads()}")


async def test_cancelling_while_the_headers_are_awaited_returns_at_once() -> None:
    """A server that takes the request and never answers: the caller is not held."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/chat/completions"
        async with threaded.async_client(timeout=httpx.Timeout(5.0)) as client:
            task = asyncio.create_task(client.post(url, json={}))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 2)


async def test_a_read_timeout_is_httpx_s_own_error(llm_server: FakeLLMServer) -> None:
    llm_server.script(Reply(tokens=10, stall_after=2, stall_seconds=5))
    timeout = httpx.Timeout(5.0, read=0.3)
    async with threaded.async_client(timeout=timeout) as client, chat(client, llm_server) as reply:
        with pytest.raises(httpx.ReadTimeout):
            async for _ in reply.aiter_raw():
                pass
    await threads_ended()


async def test_a_server_faster_than_the_reader_is_read_in_pieces_and_held_back(
    llm_server: FakeLLMServer,
) -> None:
    """Flat out, 100,000 tokens (~15 MB of events): batches of at most MAX_BATCH (plus one
    write), and while the reader pauses the thread reads at most MAX_BUFFERED ahead."""
    llm_server.script(Reply(tokens=100_000))
    largest = total = 0
    async with threaded.async_client() as client, chat(client, llm_server) as response:
        stream = response.stream._stream  # type: ignore[attr-defined]  # httpx's wrapper
        assert isinstance(stream, threaded.ThreadedStream)
        async for chunk in response.aiter_raw():
            if not total:
                await asyncio.sleep(0.5)  # the server keeps sending meanwhile
                assert stream._buffered <= threaded.MAX_BUFFERED + FLUSH_BYTES
            largest = max(largest, len(chunk))
            total += len(chunk)
    assert total > 10 * threaded.MAX_BUFFERED
    assert largest <= threaded.MAX_BATCH + FLUSH_BYTES


async def test_the_end_of_the_body_is_handed_over_without_waiting_for_the_batch(
    llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply's last bytes are not held back for the rest of a batch window: with a window
    of a minute, a reply of five tokens still ends at once."""
    monkeypatch.setattr(threaded, "BATCH_WINDOW", 60.0)
    llm_server.script(Reply(tokens=5, rate=50))

    async def read_all() -> bytes:
        async with threaded.async_client() as client, chat(client, llm_server) as response:
            return b"".join([chunk async for chunk in response.aiter_raw()])

    body = await asyncio.wait_for(read_all(), 20)
    assert body.rstrip().endswith(b"data: [DONE]")


TLS = Path(__file__).resolve().parent.parent / "data" / "tls"


async def test_over_tls_a_stream_reads_whole_and_closing_a_silent_one_ends_the_read() -> None:
    """Every real provider is HTTPS: the thread reads through an SSL socket, and closing
    shuts that socket down under a read that is waiting for a silent server."""
    release = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            for index in range(40):
                event = f"data: {index}\n\n".encode()
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
                if request.startswith(b"GET /silent") and index == 2:
                    await release.wait()  # a server that stops sending mid-reply
                    break
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    client_context = ssl.create_default_context(cafile=str(TLS / "cert.pem"))
    transport = threaded.ThreadedTransport(verify=client_context)
    try:
        timeout = httpx.Timeout(5.0, read=60.0)  # longer than the wait below
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            async with client.stream("GET", url + "whole") as response:
                body = b"".join([chunk async for chunk in response.aiter_bytes()])
            assert body == b"".join(f"data: {index}\n\n".encode() for index in range(40))
            async with client.stream("GET", url + "silent") as response:
                async for _ in response.aiter_bytes():
                    break
            await threads_ended()  # without the shutdown, the read waits for the server
    finally:
        release.set()
        server.close()
