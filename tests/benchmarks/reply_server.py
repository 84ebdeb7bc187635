"""The loopback LLM server `bench_app.py` streams from, in a process of its own.

    .venv/bin/python tests/benchmarks/reply_server.py --tokens 4000 [--rate 100]

`tests/server.py`'s server (OpenAI wire and all), serving every chat request the realistic
markdown of `bench_stream.make_document(tokens)` cut into exactly `tokens` pieces of 3-5
characters (`bench_stream.tokenize`), flat out (in 64 KB writes) or at `--rate` tokens/s.

Prints on stdout, one line each:

1. the base URL, `http://127.0.0.1:PORT` (as `tests/server.py` does);
2. JSON: `{"tokens", "chars", "sha1"}` of the reply text (every reply but the warm-up);
3. then, after each reply (the `--warmup` one first, if asked for), JSON: `{"tokens",
   "bytes", "first_byte", "last_byte", "complete", "cpu_s"}`. `first_byte` and `last_byte`
   are `time.monotonic()` (CLOCK_MONOTONIC, the same clock in every process on Linux) when
   the first event was handed to the kernel and when the last byte was (the write buffer
   empty: the client could read all of it from then on).

Serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import server as fake  # noqa: E402
from tests.benchmarks.bench_stream import make_document, tokenize  # noqa: E402


@dataclass
class PiecesReply(fake.Reply):
    """A reply whose tokens are given as they are to be sent."""

    pieces: list[str] = field(default_factory=list)

    def text_tokens(self) -> list[str]:
        return self.pieces


def report(fields: dict[str, Any]) -> None:
    print(json.dumps(fields), flush=True)


class TimedSender(fake.Sender):
    """`tests/server.py`'s sender, noting when the first and the last byte went out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_byte = 0.0
        self.bytes = 0

    async def flush(self) -> None:
        size = len(self.pending)
        await super().flush()
        if size:
            self.bytes += size
            if not self.first_byte:
                self.first_byte = time.monotonic()

    async def send(self, wire: fake.Wire, model: str) -> bytes:
        cpu0 = time.process_time()
        complete = False
        try:
            result = await super().send(wire, model)
            complete = True
            return result
        finally:
            # `drain` returns while up to 64 KB still wait in the transport's buffer: the
            # last byte has gone when that buffer is empty.
            with contextlib.suppress(Exception):
                self.writer.transport.set_write_buffer_limits(0)
                await self.writer.drain()
            last_byte = time.monotonic()
            tokens = len(self.reply.text_tokens())
            report(
                {
                    "tokens": tokens,
                    "bytes": self.bytes,
                    "first_byte": self.first_byte,
                    "last_byte": last_byte,
                    "complete": complete,
                    "cpu_s": time.process_time() - cpu0,
                }
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tokens", type=int, default=4000, help="tokens in each reply")
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s; 0 = flat out")
    parser.add_argument(
        "--warmup", type=int, default=0, help="the first reply: only this many tokens, flat out"
    )
    args = parser.parse_args(argv)

    pieces = tokenize(make_document(args.tokens), args.tokens)
    text = "".join(pieces)
    reply = PiecesReply(pieces=pieces, rate=args.rate, prompt_tokens=12)
    fake.Sender = TimedSender  # type: ignore[misc]  # the server looks it up per reply
    server = fake.FakeLLMServer(port=args.port, default=reply)
    if args.warmup:
        server.script(PiecesReply(pieces=pieces[: args.warmup], prompt_tokens=12))

    def ready() -> None:
        print(server.base_url, flush=True)
        sha1 = hashlib.sha1(text.encode()).hexdigest()
        report({"tokens": len(pieces), "chars": len(text), "sha1": sha1})

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop_soon)
        await server.serve(on_ready=ready)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
