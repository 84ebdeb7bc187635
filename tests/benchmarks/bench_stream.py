"""Streaming cost of the message log, headless at 120x40 (a script, not a test).

    .venv/bin/python tests/benchmarks/bench_stream.py --tokens 20000
    .venv/bin/python tests/benchmarks/bench_stream.py --tokens 1000 --rate 100

Streams a reply of realistic markdown (paragraphs, lists, tables, fences including one of 300
lines, CJK) into a MessageLog, token by token, as fast as possible or at --rate tokens/s, and
prints CPU seconds per 1,000 tokens, wall time, peak RSS, screen refreshes and flushes.

Headless Textual renders each screen update but writes nothing; the bench turns every update
into the bytes a real terminal would get (256 colours, as over SSH), so `bytes` and the CPU
figures include that cost. `first frame` is the time from the first token to the first frame
after it, `frames while streaming` how many frames came before the last token. `lag` is the
time from the last token arriving to the frame that shows the finished reply; `stall` is the
longest the event loop was blocked (how long the UI could not react to a key); `finish` is how
long `ReplyView.finish` took. "As fast as possible" is what the real worker sees from a
loopback server: --burst tokens per turn of the event loop, --token-cost-us each.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rich.console import Console
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult
from textual.screen import Screen

from tui.app.widgets.message_log import MessageLog
from tui.core.session import Cost, Message, Role, Usage

_WORD_TEXT = (
    "the stream renders each finished block once and only the growing tail again so a long "
    "reply costs no more per token than a short one while the eye sees about twenty frames "
    "a second which is plenty for reading text as it arrives from the model"
)
WORDS = _WORD_TEXT.split()
CJK = "流式渲染只更新最后一个块，完成的块只渲染一次。长回复的每个令牌成本不应增加。"


def _para(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        w = rng.choice(WORDS)
        if i % 17 == 5:
            w = f"**{w}**"
        elif i % 23 == 7:
            w = f"`{w}()`"
        out.append(w)
    return " ".join(out).capitalize() + "."


def _code(lines: int, lang: str = "python") -> str:
    body = []
    for i in range(lines):
        body.append(f"    total_{i % 7} = compute(value={i}, name='item {i}')  # step {i}")
    return f"```{lang}\ndef run():\n" + "\n".join(body) + "\n```"


def make_document(tokens: int, seed: int = 1) -> str:
    """Markdown long enough to give `tokens` tokens (about 4 characters a token).

    Every kind of block comes early (paragraphs, lists, tables, fences, CJK, quotes); the
    one 300-line fence (~4,500 tokens by itself) only in documents of 12,000 tokens or
    more, past the first third, so a 4,000-token reply is not mostly one code block.
    """
    rng = random.Random(seed)
    sections: list[str] = []
    n = 0
    size = 0
    big_fence_done = tokens < 12_000
    while size < tokens * 4:
        n += 1
        sections.append(f"## Section {n}")
        sections.append(_para(rng, rng.randint(30, 80)))
        kind = n % 5
        if kind == 0:
            sections.append("\n".join(f"- {_para(rng, rng.randint(5, 15))}" for _ in range(8)))
        elif kind == 1:
            rows = ["| name | value | note |", "|---|---|---|"]
            rows += [f"| row {i} | {i * 3} | {rng.choice(WORDS)} |" for i in range(10)]
            sections.append("\n".join(rows))
        elif kind == 2:
            big = not big_fence_done and size > tokens * 4 / 3
            big_fence_done = big_fence_done or big
            sections.append(_code(300 if big else rng.randint(8, 30)))
        elif kind == 3:
            sections.append(CJK * rng.randint(2, 5))
            sections.append(
                "\n".join(f"{i}. {_para(rng, rng.randint(4, 10))}" for i in range(1, 6))
            )
        else:
            sections.append("> " + _para(rng, 25))
        size = sum(len(s) for s in sections)
    return "\n\n".join(sections) + "\n"


def tokenize(text: str, count: int) -> list[str]:
    """Cut the text into `count` pieces of about 4 characters, as a model would send them."""
    out: list[str] = []
    i = 0
    while i < len(text) and len(out) < count:
        size = 3 + (len(out) % 3)
        out.append(text[i : i + size])
        i += size
    return out


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MessageLog()


async def run(
    tokens: int,
    rate: float | None,
    *,
    burst: int = 200,
    token_cost: float = 15e-6,
    frames_log: list[str] | None = None,
) -> dict[str, float]:
    app = BenchApp()
    doc = make_document(tokens)
    pieces = tokenize(doc, tokens)
    refreshes = 0
    sent = 0
    shown_at = 0.0
    terminal = Console(
        color_system="256", force_terminal=True, width=120, height=40, legacy_windows=False
    )
    original_display = app._display

    def display(screen: Screen[object], renderable: object) -> None:
        """Count what a real terminal would receive."""
        nonlocal refreshes, sent, shown_at, first_frame
        if isinstance(renderable, CompositorUpdate):
            refreshes += 1
            size = len(renderable.render_segments(terminal).encode())
            sent += size
            shown_at = time.perf_counter()
            if first_frame == 0.0 and started:
                first_frame = shown_at
            if frames_log is not None:
                frames_log.append(
                    f"{shown_at - wall0 if wall0 else 0:8.3f} {type(renderable).__name__:14}"
                    f" {size:7d} B"
                )
        original_display(screen, renderable)  # type: ignore[arg-type]

    app._display = display  # type: ignore[method-assign]
    stall = 0.0
    ticking = True
    started = False
    first_frame = 0.0
    wall0 = 0.0

    async def ticker() -> None:
        """The longest the event loop went without running a 10 ms tick."""
        nonlocal stall
        last = time.perf_counter()
        while ticking:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            stall = max(stall, now - last - 0.01)
            last = now

    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        prompt = Message(role=Role.USER, created_at=datetime.now(), text="Write it all.")
        await log.add_message(prompt)
        await pilot.pause()
        reply = await log.begin_reply("bench:model")
        await pilot.pause()
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        started = True
        first_token_seen = wall0
        sent0 = sent
        refreshes0 = refreshes
        tick = asyncio.create_task(ticker())
        if rate:
            interval = 1 / rate
            for k, piece in enumerate(pieces):
                target = wall0 + k * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                reply.append_text(piece)
        else:
            # As fast as a loopback server delivers, the way the real worker sees it: a read
            # of the socket brings `burst` tokens, each costs the worker `token_cost` (SSE
            # parsing, bookkeeping), and the loop gets a turn only between reads.
            for k, piece in enumerate(pieces):
                reply.append_text(piece)
                if token_cost:
                    spin = time.perf_counter() + token_cost
                    while time.perf_counter() < spin:
                        pass
                if k % burst == burst - 1:
                    await asyncio.sleep(0)
        last_token = time.perf_counter()
        frames_streaming = refreshes - refreshes0
        final = Message(
            role=Role.ASSISTANT,
            created_at=datetime.now(),
            text="".join(pieces),
            model="bench:model",
            usage=Usage(prompt_tokens=12, completion_tokens=len(pieces)),
            cost=Cost(total_cost=0.0123),
        )
        await reply.finish(final)
        finish_s = time.perf_counter() - last_token
        finished = time.perf_counter()
        while shown_at < finished:  # the frame that shows the finished reply
            await asyncio.sleep(0.001)
        lag = shown_at - last_token
        await pilot.pause()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        ticking = False
        await tick
        assert log.following
        assert not reply.pending
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "tokens": len(pieces),
        "cpu_s": cpu,
        "cpu_per_1k": cpu / len(pieces) * 1000,
        "wall_s": wall,
        "finish_s": finish_s,
        "lag_s": lag,
        "stall_s": stall,
        "bytes": sent - sent0,
        "rss_mb": rss_kb / 1024,
        "refreshes": refreshes,
        "flushes": reply.flush_count,
        "first_frame_s": (first_frame - first_token_seen) if first_frame else -1.0,
        "frames_streaming": frames_streaming,
    }


async def first_paint(count: int) -> float:
    """Seconds from `show_session` of `count` messages to the first frame showing them."""
    messages = [
        Message(
            role=Role.USER if i % 2 == 0 else Role.ASSISTANT,
            created_at=datetime.now(),
            text=make_document(150, seed=i) if i % 2 else f"question {i}?",
            model="bench:model" if i % 2 else None,
        )
        for i in range(count)
    ]
    app = BenchApp()
    shown: list[float] = []
    original_display = app._display

    def display(screen: Screen[object], renderable: object) -> None:
        if isinstance(renderable, CompositorUpdate):
            shown.append(time.perf_counter())
        original_display(screen, renderable)  # type: ignore[arg-type]

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        await pilot.pause()
        start = time.perf_counter()
        await log.show_session(messages, session_model="bench:model")
        while not shown or shown[-1] < start:
            await asyncio.sleep(0.001)
        return min(t for t in shown if t >= start) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s; 0 = as fast as possible")
    parser.add_argument(
        "--burst", type=int, default=200, help="fast mode: tokens per socket read (loop turn)"
    )
    parser.add_argument(
        "--token-cost-us", type=float, default=15.0, help="fast mode: worker CPU per token"
    )
    parser.add_argument("--frames", action="store_true", help="print every frame's size")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the run")
    parser.add_argument(
        "--session", type=int, default=0, help="time the first paint of a session of N messages"
    )
    args = parser.parse_args()
    if args.session:
        paint = asyncio.run(first_paint(args.session))
        print(f"{args.session}-message session: first paint {paint * 1000:.0f} ms")
        return
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    frames: list[str] | None = [] if args.frames else None
    result = asyncio.run(
        run(
            args.tokens,
            args.rate or None,
            burst=max(1, args.burst),
            token_cost=args.token_cost_us / 1e6,
            frames_log=frames,
        )
    )
    if frames is not None:
        print("\n".join(frames))
    if args.profile:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    mode = f"{args.rate:g} tok/s" if args.rate else "fast"
    print(
        f"{result['tokens']} tokens ({mode}): {result['cpu_per_1k']:.3f} CPU-s/1k tokens, "
        f"cpu {result['cpu_s']:.2f} s, wall {result['wall_s']:.2f} s, "
        f"finish {result['finish_s'] * 1000:.0f} ms, lag {result['lag_s'] * 1000:.0f} ms, "
        f"stall {result['stall_s'] * 1000:.0f} ms, peak RSS {result['rss_mb']:.0f} MB, "
        f"{result['refreshes']:.0f} frames, {result['bytes'] / 1e6:.2f} MB sent, "
        f"{result['flushes']:.0f} flushes, first frame {result['first_frame_s'] * 1000:.0f} ms, "
        f"{result['frames_streaming']:.0f} frames while streaming"
    )


if __name__ == "__main__":
    main()
