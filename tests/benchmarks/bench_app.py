"""The whole app, headless at 120x40, against a loopback LLM server (a script, not a test).

    .venv/bin/python tests/benchmarks/bench_app.py               # every case, 3 runs each
    .venv/bin/python tests/benchmarks/bench_app.py --quick       # 1 run, no 100k, no cold start
    .venv/bin/python tests/benchmarks/bench_app.py --cases fast-4k,start-10k --reps 5 --json r.json
    LIU_BENCH_PROFILE=FILE ... --cases paced-4k --reps 1   # pyinstrument: tree and self times
    LIU_BENCH_ALL=1 LIU_BENCH_PROFILE=FILE ...             # the tree with library frames too
    LIU_BENCH_FRAMES=FILE ... --cases paced-4k --reps 1    # per screen update: CPU, kind, paints
    LIU_BENCH_ACCOUNT=FILE ... --cases paced-4k --reps 1   # CPU by where it went (no profiler)
    LIU_BENCH_FLOOR=none|plain ... --cases paced-4k        # the reply not drawn, or drawn plain

Drives the real `LiuApp` with `App.run_test(size=(120, 40))`. Every run is a fresh Python
process (its CPU and peak RSS are that case's alone); the LLM server (`reply_server.py`,
`tests/server.py`'s server serving `bench_stream.make_document(N)` as exactly N tokens) is
another process, so its CPU is not counted. Headless Textual composes every frame but writes
nothing: here each frame is turned into the bytes a 256-colour terminal would get (as Textual
does for a real one), so the CPU includes that cost, and the frame's time is noted.

Cases (`--cases`, comma-separated; default all but the last, in this order):

    fast-4k, fast-20k, fast-100k   a reply of 4,000 / 20,000 / 100,000 tokens, sent flat out
    paced-4k                       4,000 tokens at 100 tokens/s (40 s a run)
    start-empty                    start-up with no sessions (a baseline for the others)
    start-500                      start in a 500-message, 2 MB session (`liu --session ID`)
    open-500                       start in a new session, then pick the 500-message session
                                   from the session list
    start-10k-cold                 start-up with 10,000 sessions and no index (it is built,
                                   ~15-25 s); one run whatever --reps says
    start-10k                      start-up with 10,000 sessions, index built (warm)
    paced-4k-long                  (only when named) paced-4k, but into a copy of the
                                   500-message session: the engine's checkpoints rewrite and
                                   re-index the whole 2 MB session every second

Each figure is `median (min–max)` over the runs. In a streaming run the app starts in a new
session (paced-4k-long: in the long one), sends a short prompt whose 20-token reply it waits
for (the first request of a process imports httpx and the provider's wire: one-off costs,
not per-token ones), then the prompt measured. The text (`make_document`): paragraphs,
bullet and numbered lists, tables, fences, CJK and quotes from the start; the one 300-line
fence comes in the 20k and 100k replies only (it is ~4,500 tokens by itself).

Streaming columns:

    CPU s/1k tok    CPU time (user+system, `time.process_time`) of the app's process from
                    Enter (the key event posted) to the frame that shows the finished reply,
                    per 1,000 tokens the server sent
    wall s          Enter to that frame
    lag: last token from the server's last byte (`time.monotonic`, CLOCK_MONOTONIC: one
                    clock for every process; the byte handed to the kernel) to the first frame
                    painted once every character was in the reply view (none buffered, its
                    blocks mounted) or the reply was finished
    lag: finished   from the server's last byte to the first frame painted after
                    `ReplyView.finish` returned (the final render of the whole message): the
                    figure the targets use
    lag = read + save + finish + paint   that lag in turn (medians): the app reading and
                    parsing what was already sent (the worker hands the last token to the
                    view); the engine's last save and bookkeeping until `finish` starts;
                    `ReplyView.finish`; waiting for the next frame
    peak RSS MB     ru_maxrss of the app's process (interpreter, imports and all)
    frames          frames painted from Enter to the finished frame (the whole screen's)
    MB to terminal  those frames as a 256-colour terminal would receive them

Start-up columns, from just before `load_settings()` + `Library.open()` (what
`tui.app.app.run` does first; the app is constructed right after) to:

    Library.open s  opening the store and syncing its index (building it, when cold)
    first frame s   the first frame painted, whatever it shows
    log painted s   the first frame in which the log shows the session's newest message (its
                    last line inside the log's region); for a new session, as input ready
    input ready s   the first frame in which, as well, the prompt has the focus
    from launch s   input ready, counted from the parent's clock just before it spawned the
                    process: interpreter start and imports included
    peak RSS MB     as above

For open-500, the second row times from posting `SessionList.Selected` (what choosing the
session in the list does) to the frames showing it. The stores are made once in
--store-cache (default /tmp/liu-bench-app): 10,000 sessions by `bench_store.py`'s generator
(~100 MB) and one session of 500 messages (paragraphs, fences, lists, tables, CJK; 2 MB).
The machine, the load average, the state of tui/ (commit, uncommitted changes) and the time
a fixed piece of pure-Python work took at the start and the end come with the table: other
processes on a 2-core machine move every figure, and the machine's speed moves from day to
day (compare figures from different days only next to that reference).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import itertools
import json
import os
import platform
import queue
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

    from tui.app.app import LiuApp
    from tui.app.screens.chat import ChatScreen
    from tui.app.widgets.message_view import ReplyView
    from tui.core.session import Message

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SIZE = (120, 40)
PROMPT = "Write the whole report, with tables and code."
STORE_VERSION = 1  # bump when the generated stores change
LONG_SESSION_MESSAGES = 500
LONG_SESSION_BYTES = 2_000_000
MANY_SESSIONS = 10_000
WARMUP_TOKENS = 20  # the reply to the prompt sent before the one measured


# ============================================================================ the cases


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "stream" | "start" | "open"
    label: str
    tokens: int = 0
    rate: float = 0.0
    store: str = ""  # "" (an empty home), "session-500" or "sessions-10k"
    cold: bool = False
    runs: int | None = None  # fixed number of runs, whatever --reps says
    extra: bool = False  # run only when named in --cases


CASES: tuple[Case, ...] = (
    Case("fast-4k", "stream", "4,000 tokens, flat out", tokens=4_000),
    Case("fast-20k", "stream", "20,000 tokens, flat out", tokens=20_000),
    Case("fast-100k", "stream", "100,000 tokens, flat out", tokens=100_000),
    Case("paced-4k", "stream", "4,000 tokens at 100 tokens/s", tokens=4_000, rate=100.0),
    Case(
        "paced-4k-long",
        "stream",
        "4,000 tokens at 100 tokens/s, into the 500-message session",
        tokens=4_000,
        rate=100.0,
        store="session-500",
        extra=True,
    ),
    Case("start-empty", "start", "start-up, empty store (a baseline)"),
    Case("start-500", "start", "start in a 500-message session", store="session-500"),
    Case("open-500", "open", "open a 500-message session from the list", store="session-500"),
    Case(
        "start-10k-cold",
        "start",
        "start-up, 10,000 sessions, no index",
        store="sessions-10k",
        cold=True,
        runs=1,
    ),
    Case("start-10k", "start", "start-up, 10,000 sessions, warm index", store="sessions-10k"),
)
QUICK_SKIP = {"fast-100k", "start-10k-cold"}


def lab_config(port: int) -> str:
    """The provider `lab` on the loopback server (as tests/ui/conftest.py configures it)."""
    return f"""
default_model = "lab:fake-model"
theme = "liu-ink"

[providers.lab]
base_url = "http://127.0.0.1:{port}/v1"
models = ["fake-model", "fake-reasoner"]

[prices."lab:fake-model"]
input = 1.0
output = 2.0
"""


# ============================================================================ in the app's process


@dataclass
class Moment:
    """The first frame at which `check()` held: its time, the CPU used by then, its number."""

    name: str
    check: Callable[[], bool]
    at: float | None = None
    cpu: float = 0.0
    frame: int = -1
    error: str | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self, timeout: float) -> float:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            raise RuntimeError(f"no frame showed {self.name!r} within {timeout:.0f} s") from None
        if self.error is not None:
            raise RuntimeError(f"checking {self.name!r}: {self.error}")
        assert self.at is not None
        return self.at


class Frames:
    """Every frame the app paints: its time and the bytes a 256-colour terminal would get.

    Wraps `App._display`, where Textual turns each screen update into terminal output (the
    headless driver makes it return early: here the same work is done, as for a real
    terminal, and the output is measured and thrown away).
    """

    def __init__(self, app: App[Any]) -> None:
        from rich.console import Console
        from rich.control import Control
        from textual._compositor import CompositorUpdate

        self.times: list[float] = []
        self.sizes: list[int] = []
        self.moments: list[Moment] = []
        console = Console(
            color_system="256",
            force_terminal=True,
            width=SIZE[0],
            height=SIZE[1],
            legacy_windows=False,
            file=io.StringIO(),
        )
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None and not app._batch_count and app._running:
                if isinstance(renderable, CompositorUpdate):
                    cursor = app.screen.outer_size.clamp_offset(app.cursor_position)
                    output = renderable.render_segments(console)
                    output += Control.move_to(*cursor).segment.text
                else:
                    output = console._render_buffer(console.render(renderable))
                size = len(output.encode("utf-8"))
                now = time.monotonic()
                self.times.append(now)
                self.sizes.append(size)
                self._check(now)
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    def watch(self, name: str, check: Callable[[], bool]) -> Moment:
        moment = Moment(name, check)
        self.moments.append(moment)
        return moment

    def _check(self, now: float) -> None:
        for moment in self.moments:
            if moment.at is not None or moment.error is not None:
                continue
            try:
                hit = moment.check()
            except Exception as e:  # a broken check must not take the app down with it
                moment.error = repr(e)
                moment.event.set()
                continue
            if hit:
                moment.at, moment.cpu, moment.frame = now, time.process_time(), len(self.times)
                moment.event.set()

    def log(self, start: float, end: float) -> list[tuple[float, int]]:
        """(seconds from `start`, bytes) of each frame in [start, end]."""
        return [
            (round(t - start, 4), size)
            for t, size in zip(self.times, self.sizes, strict=True)
            if start <= t <= end
        ]

    def between(self, start: float, end: float) -> tuple[int, int, float]:
        """(frames, bytes, longest gap between frames) painted in [start, end]."""
        picked = [(t, s) for t, s in zip(self.times, self.sizes, strict=True) if start <= t <= end]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(picked)]
        return len(picked), sum(s for _, s in picked), max(gaps, default=0.0)


class ReplyProbe:
    """Notes, on `ReplyView`, the text handed to it and when `finish` returned."""

    def __init__(self) -> None:
        from tui.app.widgets.message_view import ReplyView

        self.reset()
        append_text, finish = ReplyView.append_text, ReplyView.finish
        probe = self

        def counting_append_text(self: ReplyView, text: str) -> None:
            now = time.monotonic()
            if not probe.chars:
                probe.first_text_at = now
            probe.view = self
            probe.chars += len(text)
            probe.last_text_at = now
            append_text(self, text)

        async def timed_finish(self: ReplyView, message: Message) -> None:
            probe.finish_started = time.monotonic()
            await finish(self, message)
            probe.finished_at = time.monotonic()

        ReplyView.append_text = counting_append_text  # type: ignore[method-assign]
        ReplyView.finish = timed_finish  # type: ignore[method-assign]

    def reset(self) -> None:
        self.view: ReplyView | None = None
        self.chars = 0
        self.first_text_at = 0.0
        self.last_text_at = 0.0
        self.finish_started = 0.0
        self.finished_at: float | None = None

    def all_text_shown(self, chars: int) -> bool:
        """Every character is in the view's DOM: none buffered, its blocks mounted."""
        view = self.view
        if view is None or self.chars < chars:
            return False
        return not view.streaming or not view.pending


def chat_on_top(app: LiuApp) -> ChatScreen | None:
    from tui.app.screens.chat import ChatScreen

    try:
        screen = app.screen
    except Exception:
        return None
    return screen if isinstance(screen, ChatScreen) and screen.is_mounted else None


def input_ready(app: LiuApp) -> bool:
    """The chat screen is on top and the prompt has the focus."""
    from tui.app.widgets.input_bar import InputBar

    chat = chat_on_top(app)
    return chat is not None and isinstance(chat.focused, InputBar)


def log_shows_newest(app: LiuApp, session_id: str | None = None) -> bool:
    """The log shows the session's newest message, its last line inside the log."""
    from textual.css.query import NoMatches

    chat = chat_on_top(app)
    if chat is None or (session_id is not None and chat.session.session_id != session_id):
        return False
    messages = chat.session.messages
    if not messages:
        return False
    try:
        log = chat.log_widget
    except NoMatches:
        return False
    views = log.views
    if not views or views[-1].message is not messages[-1]:
        return False
    shown, area = views[-1].region, log.region
    return bool(shown) and area.y < shown.bottom <= area.bottom


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_app() -> float:
    """Import what `liu` imports to start the app; returns how long that took."""
    import importlib

    start = time.monotonic()
    for module in ("textual.app", "tui.app.app", "tui.config", "tui.core.library"):
        importlib.import_module(module)
    return time.monotonic() - start


def make_app(**kwargs: Any) -> tuple[LiuApp, float, float]:
    """What `tui.app.app.run` does: settings, the library, the app. (app, t0, library done)."""
    from tui.app.app import LiuApp
    from tui.config import load_settings
    from tui.core.library import Library

    t0 = time.monotonic()
    settings = load_settings()
    library = Library.open()
    opened = time.monotonic()
    return LiuApp(settings, library=library, **kwargs), t0, opened


class FrameCensus:
    """With LIU_BENCH_FRAMES=FILE: for every screen update of the measured reply, one line:
    its CPU time in all, whether it laid out the screen (who asked, how many widgets were
    placed, what Textual's reflow cost), and for each paint in it, what the paint cost,
    which widget classes it rendered (lines each) and the dirty regions. The last line: the
    CPU each widget class spent rendering lines, over the whole reply."""

    def __init__(self) -> None:
        import textual._compositor as compositor
        import textual._styles_cache as styles_cache
        from textual.screen import Screen

        from tui.app import message_reflow, partial_paint

        partial_paint.paint_changed_rows_only()  # the app's own paint, which the census wraps
        self.lines: list[str] = []
        self.render_ms: dict[str, float] = {}  # render_widget's CPU by widget class
        self.recording = False
        rendered: dict[str, int] = {}
        render_widget = styles_cache.StylesCache.render_widget
        partial_update = compositor.Compositor.render_partial_update

        def counting_render_widget(cache: Any, widget: Any, crop: Any) -> Any:
            name = type(widget).__name__
            rendered[name] = rendered.get(name, 0) + crop.height
            start = time.thread_time()
            try:
                return render_widget(cache, widget, crop)
            finally:
                if self.recording:
                    ms = (time.thread_time() - start) * 1000
                    self.render_ms[name] = self.render_ms.get(name, 0.0) + ms

        painted: list[str] = []  # the paints of the screen update under way
        in_update = [False]

        def timed_partial_update(comp: Any) -> Any:
            regions = [tuple(region) for region in comp._dirty_regions]
            start = time.thread_time()
            update = partial_update(comp)
            ms = (time.thread_time() - start) * 1000
            if self.recording:
                widgets = sorted(rendered.items(), key=lambda item: -item[1])
                line = f"paint {ms:5.1f} ms  {widgets}  dirty={regions}"
                if in_update[0]:
                    painted.append(line)
                else:  # deferred out of a batch update: after its screen update
                    self.lines.append(f"{ms:6.1f} ms later   {line}")
            rendered.clear()
            return update

        def timed_screen_update(screen: Any) -> None:
            layout, scroll = screen._layout_required, screen._scroll_required
            kind = "layout" if layout else "scroll" if scroll else "paint"
            asked = sorted({type(w).__name__ for ws in screen._layout_widgets.values() for w in ws})
            start = time.thread_time()
            in_update[0] = True
            try:
                screen_update(screen)
            finally:
                in_update[0] = False
            ms = (time.thread_time() - start) * 1000
            if self.recording:
                placed = len(screen._compositor._full_map)
                of = "the message alone" if alone[0] else f"{placed} widgets"
                by = (
                    f" by {','.join(asked)} ({of} placed, reflow {reflow_ms[0]:.1f} ms)"
                    if layout
                    else ""
                )
                self.lines.append(
                    f"{ms:6.1f} ms {kind:6}{by}  " + ("; ".join(painted) or "nothing")
                )
            reflow_ms[0] = 0.0
            alone[0] = False
            painted.clear()

        screen_update = Screen._on_timer_update
        reflow, reflow_view = message_reflow.reflow, message_reflow._reflow_view
        reflow_ms = [0.0]
        alone = [False]

        def timed_reflow(comp: Any, parent: Any, size: Any) -> Any:
            start = time.thread_time()
            try:
                return reflow(comp, parent, size)
            finally:
                reflow_ms[0] += (time.thread_time() - start) * 1000

        def noted_reflow_view(*args: Any) -> Any:
            result = reflow_view(*args)
            alone[0] = result is not None
            return result

        message_reflow.reflow = timed_reflow  # type: ignore[assignment]
        message_reflow._reflow_view = noted_reflow_view  # type: ignore[assignment]
        styles_cache.StylesCache.render_widget = counting_render_widget  # type: ignore[method-assign]
        compositor.Compositor.render_partial_update = timed_partial_update  # type: ignore[method-assign]
        Screen._on_timer_update = timed_screen_update  # type: ignore[method-assign]

    @classmethod
    def from_env(cls) -> FrameCensus | None:
        return cls() if os.environ.get("LIU_BENCH_FRAMES") else None

    def write(self) -> None:
        by_class = sorted(self.render_ms.items(), key=lambda item: -item[1])
        self.lines.append("render ms by class: " + ", ".join(f"{k} {v:.0f}" for k, v in by_class))
        Path(os.environ["LIU_BENCH_FRAMES"]).write_text("\n".join(self.lines) + "\n")


class CpuAccount:
    """With LIU_BENCH_ACCOUNT=FILE: the measured reply's CPU by where it went, without a
    profiler's overhead: thread CPU time around the screen update (layout and paint), the
    reply view's flushes, the garbage collector (inside the others), and on threads of their
    own the engine's checkpoints of the session file, the session list's look for others'
    changes and the socket reader; the rest of the main thread is the reply worker (SSE,
    JSON, the engine) and Textual's message pumping and timers."""

    def __init__(self) -> None:
        import gc

        from textual.screen import Screen

        from tui.app.widgets.message_view import ReplyView
        from tui.core.store import SessionStore
        from tui.providers import threaded

        self.spent: dict[str, float] = dict.fromkeys(
            (
                "screen update",
                "reply flush",
                "session saves",
                "gc",
                "reader thread",
                "index sync",
            ),
            0.0,
        )
        self.counts: dict[str, int] = dict.fromkeys(self.spent, 0)
        self.gc_ms = [0.0, 0.0, 0.0]  # by generation collected
        self.gc_counts = [0, 0, 0]
        self.recording = False
        self._start = (0.0, 0.0)
        self._timed(Screen, "_on_timer_update", "screen update")
        self._timed(ReplyView, "_flush", "reply flush")
        self._timed(threaded.ThreadedStream, "_pump", "reader thread")
        self._timed(SessionStore, "update", "session saves")
        from tui.core.index import SessionIndex

        self._timed(SessionIndex, "sync", "index sync")
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_started[0] = time.thread_time()
            elif self.recording:
                took = time.thread_time() - gc_started[0]
                self.spent["gc"] += took
                self.counts["gc"] += 1
                self.gc_ms[info["generation"]] += took * 1000
                self.gc_counts[info["generation"]] += 1

        gc.callbacks.append(on_gc)

    def _timed(self, owner: type, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                if self.recording:
                    self.spent[label] += time.thread_time() - started
                    self.counts[label] += 1

        setattr(owner, name, timed)

    @classmethod
    def from_env(cls) -> CpuAccount | None:
        return cls() if os.environ.get("LIU_BENCH_ACCOUNT") else None

    def start(self) -> None:
        self.recording = True
        self._start = (time.process_time(), time.thread_time())

    def write(self, tokens: int) -> None:
        self.recording = False
        process = time.process_time() - self._start[0]
        main = time.thread_time() - self._start[1]
        rows = dict(self.spent)
        spent = self.spent
        rows["other main thread"] = main - spent["screen update"] - spent["reply flush"]
        on_threads = spent["reader thread"] + spent["index sync"] + spent["session saves"]
        rows["other threads"] = process - main - on_threads
        lines = [f"process CPU {process:.3f} s = {process / tokens * 1000:.3f} s/1k tokens"]
        for label, seconds in rows.items():
            count = self.counts.get(label)
            calls = f" in {count} calls" if count else ""
            lines.append(f"  {label:18} {seconds:7.3f} s  {seconds / process:6.1%}{calls}")
            if label == "gc":
                lines.extend(
                    f"    generation {n}: {self.gc_counts[n]} in {self.gc_ms[n]:.0f} ms"
                    for n in range(3)
                )
        Path(os.environ["LIU_BENCH_ACCOUNT"]).write_text("\n".join(lines) + "\n")


def draw_floor() -> None:
    """With LIU_BENCH_FLOOR: what a streaming reply costs below its markdown display, for
    comparison. `none`: the text is buffered, counted and saved but not drawn until the
    reply ends (what reading, the engine, the footer and Textual cost alone). `plain`:
    the newest 3,000 characters in one `Static`, updated in place as the reply grows (what
    the simplest display costs). The end of the reply is drawn as usual."""
    mode = os.environ.get("LIU_BENCH_FLOOR")
    if not mode:
        return
    from textual.content import Content
    from textual.widgets import Static

    from tui.app.widgets import message_view
    from tui.app.widgets.message_view import ReplyView

    draw = ReplyView._render_blocks_now
    shown: dict[ReplyView, Static] = {}

    def floor(self: ReplyView, *, final: bool, pending: list[Any]) -> None:
        if final:
            if (static := shown.pop(self, None)) is not None:
                pending.append(static.remove())
            draw(self, final=final, pending=pending)
        elif mode == "plain":
            text = Content(self.text[-3000:])
            static = shown.get(self)
            if static is None:
                static = shown[self] = Static(text)
                message_view._grow_in_steps(static)
                pending.append(self.body.mount(static))
                self._mounting.append(static)
            else:
                message_view._update_keeping_layout(static, text)

    ReplyView._render_blocks_now = floor  # type: ignore[method-assign]


def _profiler() -> Any:
    """With LIU_BENCH_PROFILE=FILE, pyinstrument samples the measured reply (not the warm-up)
    and writes its call tree and its top self times to FILE: the app's process alone."""
    if not os.environ.get("LIU_BENCH_PROFILE"):
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    return profiler


async def child_stream(args: argparse.Namespace) -> dict[str, Any]:
    """Send one prompt; wait for the frame that shows the finished reply."""
    from textual import events

    import_app()
    census = FrameCensus.from_env()
    account = CpuAccount.from_env()
    draw_floor()
    app, _, _ = make_app(session=args.session or None, new=not args.session)
    frames = Frames(app)
    probe = ReplyProbe()
    ready = frames.watch("input ready", lambda: input_ready(app))
    timeout = 120 + args.tokens / 1000 * 10 + (args.tokens / args.rate if args.rate else 0)

    def press_enter() -> None:
        """What `Pilot.press` does, without waiting for the screen to have nothing to do."""
        driver = app._driver
        assert driver is not None
        enter = events.Key("enter", "\r")
        enter.set_sender(app)
        driver.send_message(enter)

    async with app.run_test(size=SIZE) as pilot:
        await ready.wait(120)
        chat = app.chat
        # The first prompt of a run pays one-off costs (httpx and the provider's wire are
        # imported when first used): a short exchange first, then the one measured.
        warmed = frames.watch("warm-up reply", lambda: probe.finished_at is not None)
        chat.input_bar.set_draft("Hello?")
        await pilot.pause()
        warm_t0 = time.monotonic()
        press_enter()
        await warmed.wait(120)
        warm_first_text = probe.first_text_at - warm_t0
        await app.workers.wait_for_complete()
        await pilot.pause()
        probe.reset()
        chat.input_bar.set_draft(PROMPT)
        await pilot.pause()
        shown = frames.watch("last token", lambda: probe.all_text_shown(args.chars))
        final = frames.watch("finished reply", lambda: probe.finished_at is not None)
        profiler = _profiler()
        if census is not None:
            census.recording = True
        if account is not None:
            account.start()
        cpu0, t0 = time.process_time(), time.monotonic()
        press_enter()
        await final.wait(timeout)
        if census is not None:
            census.recording = False
            census.write()
        if account is not None:
            account.write(args.tokens)
        if profiler is not None:
            profiler.stop()
            # The tree hides library frames, where most of the time goes (Textual's
            # compositor): the flat list of self times after it shows them.
            Path(os.environ["LIU_BENCH_PROFILE"]).write_text(
                profiler.output_text(unicode=True, show_all=bool(os.environ.get("LIU_BENCH_ALL")))
                + "\n".join(profiler.output_text(flat=True).splitlines()[:60]),
                encoding="utf-8",
            )
        await shown.wait(1)
        assert final.at is not None and shown.at is not None
        await app.workers.wait_for_complete()
        await pilot.pause()
        settled_cpu = time.process_time() - cpu0
        view = probe.view
        assert view is not None, "no text reached a ReplyView"
        text = view.message.text
        flushes = view.flush_count
    frame_count, sent, gap = frames.between(t0, final.at)
    return {
        "warmup_first_text_s": warm_first_text,
        "first_text_s": probe.first_text_at - t0,
        "submitted_at": t0,
        "shown_at": shown.at,
        "final_at": final.at,
        "first_text_at": probe.first_text_at,
        "last_text_at": probe.last_text_at,
        "finish_started_at": probe.finish_started,
        "finished_at": probe.finished_at,
        "cpu_s": final.cpu - cpu0,
        "cpu_settled_s": settled_cpu,
        "frames": frame_count,
        "terminal_bytes": sent,
        "max_frame_gap_s": gap,
        "flushes": flushes,
        "chars": len(text),
        "frame_log": frames.log(t0, final.at + 0.5),
        "text_ok": hashlib.sha1(text.encode()).hexdigest() == args.sha1,
        "rss_mb": peak_rss_mb(),
    }


async def child_start(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    """Start the app; for open-500, then pick the long session from the list."""
    from tui.app.widgets.session_list import SessionList

    imported = import_app()
    target = args.session or None
    open_from_list = case.kind == "open"
    cpu0 = time.process_time()
    if open_from_list:
        app, t0, opened = make_app(new=True)
    else:
        app, t0, opened = make_app(session=target)
    frames = Frames(app)
    first = frames.watch("first frame", lambda: True)
    if open_from_list or not case.store:  # a new session: an empty log
        log = frames.watch("log painted", lambda: input_ready(app))
    else:
        log = frames.watch("log painted", lambda: log_shows_newest(app))
    ready = frames.watch("input ready", lambda: log.at is not None and input_ready(app))
    result: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        await ready.wait(600)
        await first.wait(1)
        await log.wait(1)
        assert first.at is not None and log.at is not None and ready.at is not None
        result.update(
            start_at=t0,
            imports_s=imported,
            library_s=opened - t0,
            first_frame_s=first.at - t0,
            log_s=log.at - t0,
            log_cpu_s=log.cpu - cpu0,  # the CPU to that frame: steadier than wall time
            ready_s=ready.at - t0,
            launch_to_ready_s=ready.at - args.spawned_at,
            frames_to_ready=ready.frame,
        )
        if open_from_list:
            assert target is not None
            picked_log = frames.watch(
                "picked session painted", lambda: log_shows_newest(app, target)
            )
            picked_ready = frames.watch(
                "picked session ready", lambda: picked_log.at is not None and input_ready(app)
            )
            await pilot.pause()
            t1 = time.monotonic()
            app.chat.session_list.post_message(SessionList.Selected(target))
            await picked_ready.wait(120)
            await picked_log.wait(1)
            assert picked_log.at is not None and picked_ready.at is not None
            result.update(open_log_s=picked_log.at - t1, open_ready_s=picked_ready.at - t1)
        await pilot.pause()
        chat = app.chat
        result.update(
            messages=len(chat.session.messages),
            mounted=len(chat.log_widget.views),
            sessions_listed=len(chat.session_list.rows),
        )
    result["rss_mb"] = peak_rss_mb()
    return result


def child_main(args: argparse.Namespace) -> int:
    case = next(c for c in CASES if c.name == args.child)
    if case.kind == "stream":
        result = asyncio.run(child_stream(args))
    else:
        result = asyncio.run(child_start(case, args))
    print(json.dumps(result), flush=True)
    return 0


# ============================================================================ the stores


def _bench_store() -> Any:
    from tests.benchmarks import bench_store

    return bench_store


def long_session(messages: int, size: int) -> Any:
    """One session of `messages` messages, about `size` bytes of markdown: questions, some
    with code, and replies of paragraphs, lists, fences, tables and some CJK."""
    from tui.core.session import Cost, Message, Role, Session, Usage

    store = _bench_store()
    rng = random.Random(5_000)
    tm = store.TextMaker(rng)
    exchanges = messages // 2
    when = datetime(2026, 1, 5, 9, 0)
    out: list[Message] = []
    for i in range(exchanges):
        ask = tm.paragraph() if i else "Let us go through the whole deployment, step by step."
        if rng.random() < 0.2:
            ask += "\n\n" + tm._code()
        out.append(Message(Role.USER, when, ask))
        when += timedelta(seconds=rng.randint(5, 60))
        reply = tm.text(max(500, size // exchanges - len(ask.encode()) - 300))
        prompt, completion = 2_000 + 300 * i, len(reply) // 4
        out.append(
            Message(
                Role.ASSISTANT,
                when,
                reply,
                usage=Usage(prompt, completion, prompt + completion, None),
                cost=Cost(prompt * 2.5e-6, completion * 1e-5, prompt * 2.5e-6 + completion * 1e-5),
            )
        )
        when += timedelta(minutes=rng.randint(1, 30))
    return Session(
        title="A long session: 500 messages", created_at=datetime(2026, 1, 5, 9, 0),
        model_id="lab:fake-model", messages=out,
    )  # fmt: skip


def ensure_long_session(cache: Path) -> tuple[Path, str, int]:
    """(home, session id, file size) of the 500-message session, made if missing."""
    from tui.core.library import Library

    home = cache / "session-500"
    meta_file = home / "bench-meta.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        meta = json.loads(meta_file.read_text())
        if meta["version"] == STORE_VERSION and (home / "sessions" / meta["file"]).exists():
            return home, meta["session_id"], int(meta["bytes"])
    shutil.rmtree(home, ignore_errors=True)
    log(f"writing a {LONG_SESSION_MESSAGES}-message session in {home} ...")
    session = long_session(LONG_SESSION_MESSAGES, LONG_SESSION_BYTES)
    lib = Library.open(home)
    path = lib.store.create(session)
    lib.close()
    size = path.stat().st_size
    meta = {"version": STORE_VERSION, "session_id": session.session_id, "file": path.name}
    meta_file.write_text(json.dumps({**meta, "bytes": size}))
    return home, session.session_id, size


def index_files(home: Path) -> list[Path]:
    db = home / "index.sqlite3"
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")]


def ensure_many_sessions(cache: Path, *, index: bool) -> Path:
    """The home with 10,000 sessions (made if missing); with `index`, its index built."""
    from tui.core.library import Library

    home = cache / "sessions-10k"
    sessions = home / "sessions"
    have = len(list(sessions.glob("*.md"))) if sessions.exists() else 0
    if have != MANY_SESSIONS:
        shutil.rmtree(home, ignore_errors=True)
        log(f"generating {MANY_SESSIONS:,} sessions in {home} (once; about a minute) ...")
        total, secs = _bench_store().generate(home, MANY_SESSIONS)
        log(f"  {total / 1e6:.0f} MB in {secs:.0f} s")
    if index and not index_files(home)[0].exists():
        log("building its index (once; about 20 s) ...")
        Library.open(home).close()
    return home


# ============================================================================ one run


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class ReplyServer:
    """`reply_server.py` in a process of its own: its URL, the reply's facts, its reports."""

    def __init__(self, tokens: int, rate: float, warmup: int, folder: Path) -> None:
        self.errors = folder / "server.err"
        with self.errors.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "reply_server.py"), "--tokens", str(tokens),
                 "--rate", str(rate), "--warmup", str(warmup)],
                stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO,
            )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            url = self.next_line(60)
            self.port = int(url.rsplit(":", 1)[1])
            self.meta: dict[str, Any] = json.loads(self.next_line(10))
        except Exception:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout).strip()
        except queue.Empty:
            raise RuntimeError(
                f"the reply server said nothing in {timeout:.0f} s: "
                f"{self.errors.read_text()[-2000:]}"
            ) from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def compile_bytecode() -> None:
    """Write the app's bytecode, as installing it does. Where PYTHONDONTWRITEBYTECODE is set
    (some containers and sandboxes) every run would compile tui's modules from source again:
    about 30 ms of start-up on this machine that an installed app never pays."""
    import compileall

    compileall.compile_dir(REPO / "tui", quiet=1)


def run_once(case: Case, cache: Path) -> dict[str, Any]:
    """One run of a case in a fresh process, with a fresh server; the figures it gave."""
    extra: list[str] = []
    home: Path | None = None
    if case.store == "session-500":
        home, session_id, _ = ensure_long_session(cache)
        extra = ["--session", session_id]
    elif case.store == "sessions-10k":
        home = ensure_many_sessions(cache, index=not case.cold)
        if case.cold:
            for path in index_files(home):
                path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="liu-bench-app-") as tmp:
        folder = Path(tmp)
        if case.kind == "stream" and home is not None:  # the reply is written into a copy
            home = Path(shutil.copytree(home, folder / "home"))
        server = ReplyServer(case.tokens or 10, case.rate, WARMUP_TOKENS, folder)
        try:
            config = folder / "config.toml"
            config.write_text(lab_config(server.port), encoding="utf-8")
            env = {
                **os.environ,
                "LIU_HOME": str(home or folder / "home"),
                "LIU_CONFIG": str(config),
            }
            if case.kind == "stream":
                meta = server.meta
                extra += ["--tokens", str(meta["tokens"]), "--rate", str(case.rate),
                          "--chars", str(meta["chars"]), "--sha1", meta["sha1"]]  # fmt: skip
            load = os.getloadavg()[0]
            timeout = 1800 if case.tokens >= 100_000 or case.cold else 600
            spawned = time.monotonic()
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", case.name,
                 "--spawned-at", repr(spawned), *extra],
                env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
            if proc.returncode != 0 or not proc.stdout.strip():
                raise RuntimeError(
                    f"{case.name}: the app's process exited {proc.returncode}:\n"
                    f"{proc.stderr[-3000:]}"
                )
            result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
            result["load1"] = load
            if case.kind == "stream":
                server.next_line(30)  # the warm-up reply
                sent = json.loads(server.next_line(30))
                result.update(derived_stream(result, sent))
            return result
        finally:
            server.stop()


def derived_stream(app: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """The streaming figures: the app's clock readings against the server's."""
    tokens = int(sent["tokens"])
    return {
        "tokens": tokens,
        "server_complete": bool(sent["complete"]),
        "server_bytes": sent["bytes"],
        "server_stream_s": sent["last_byte"] - sent["first_byte"],
        "server_first_byte": sent["first_byte"],
        "server_last_byte": sent["last_byte"],
        "server_cpu_s": sent["cpu_s"],
        "cpu_per_1k": app["cpu_s"] / tokens * 1000,
        "wall_s": app["final_at"] - app["submitted_at"],
        "lag_text_s": app["shown_at"] - sent["last_byte"],
        "lag_s": app["final_at"] - sent["last_byte"],
        # The lag, in turn: the app reading and parsing what was already sent; the engine's
        # last save and bookkeeping; `ReplyView.finish`; the next frame.
        "read_s": app["last_text_at"] - sent["last_byte"],
        "save_s": app["finish_started_at"] - app["last_text_at"],
        "finish_s": app["finished_at"] - app["finish_started_at"],
        "paint_s": app["final_at"] - app["finished_at"],
    }


# ============================================================================ the report


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """`median (min–max)`; a single run is just its value."""
    if not values:
        return "–"
    v = [x * scale for x in values]
    med = f"{statistics.median(v):,.{digits}f}"
    if len(v) == 1:
        return med
    return f"{med} ({min(v):,.{digits}f}–{max(v):,.{digits}f})"


def lag_split(runs: list[dict[str, Any]]) -> str:
    """The medians of the lag's parts, in turn."""
    parts = [median(runs, key) for key in ("read_s", "save_s", "finish_s", "paint_s")]
    return " + ".join(f"{p:.3f}" if p is not None else "–" for p in parts)


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def machine_facts() -> dict[str, Any]:
    from importlib.metadata import version

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
            return out.stdout.strip()
        return ""

    # Someone may be changing the app while this runs: say what exactly was measured.
    changed = git("diff", "--name-only", "HEAD", "--", "tui").splitlines()
    changed += git("ls-files", "--others", "--exclude-standard", "--", "tui").splitlines()
    diff = hashlib.sha1(git("diff", "HEAD", "--", "tui").encode())
    for name in changed:
        with contextlib.suppress(OSError):
            diff.update((REPO / name).read_bytes())
    return {
        "python": sys.version.split()[0],
        "textual": version("textual"),
        "rich": version("rich"),
        "platform": platform.platform(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "commit": git("rev-parse", "--short", "HEAD") or "? (not a git checkout)",
        "tui_changed": changed,
        "tui_diff_sha1": diff.hexdigest()[:12] if changed else "",
    }


def reference_seconds() -> float:
    """CPU seconds of a fixed piece of pure-Python work (strings, a dict, a sort), the least
    of five: how fast the machine is today. The same commit measured 20-30% slower one day
    than the day before, at the same load average; figures from different days compare
    only next to this."""

    def work() -> int:
        words = [f"word{i % 977}" for i in range(240_000)]
        counts: dict[str, int] = {}
        for word in words:
            counts[word] = counts.get(word, 0) + len(word)
        return len(sorted(words)) + sum(counts.values())

    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def report(
    results: dict[str, list[dict[str, Any]]],
    facts: dict[str, Any],
    loads: tuple[tuple[float, ...], tuple[float, ...]],
    notes: list[str],
) -> str:
    out: list[str] = []
    (l1, l5, l15), (e1, e5, e15) = loads
    changed = facts["tui_changed"]
    dirty = (
        f" + uncommitted changes to {', '.join(changed)} (diff sha1 {facts['tui_diff_sha1']})"
        if changed
        else " (clean tui/)"
    )
    out.append(
        f"Python {facts['python']}, Textual {facts['textual']}, Rich {facts['rich']}; "
        f"{facts['cpus']} CPUs ({facts['cpu'] or platform.machine()}); {facts['platform']}; "
        f"commit {facts['commit']}{dirty}; load average {l1:.2f} {l5:.2f} {l15:.2f} at the "
        f"start, {e1:.2f} {e5:.2f} {e15:.2f} at the end; {SIZE[0]}x{SIZE[1]}, headless, "
        "frames encoded for a 256-colour terminal."
    )
    out.extend(notes)
    streams = [c for c in CASES if c.kind == "stream" and results.get(c.name)]
    if streams:
        out += [
            "",
            "| reply | runs | CPU s/1k tok | wall s | lag: last token s | lag: finished s "
            "| lag = read + save + finish + paint s | peak RSS MB | frames | MB to terminal |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for case in streams:
            runs = results[case.name]

            def col(key: str, scale: float = 1.0, digits: int = 2, runs: Any = runs) -> str:
                return spread([r[key] for r in runs], scale, digits)

            out.append(
                f"| {case.label} | {len(runs)} | {col('cpu_per_1k', digits=3)} | {col('wall_s')} "
                f"| {col('lag_text_s', digits=3)} | {col('lag_s', digits=3)} "
                f"| {lag_split(runs)} | {col('rss_mb', digits=0)} "
                f"| {col('frames', digits=0)} | {col('terminal_bytes', 1e-6, 2)} |"
            )
    starts = [c for c in CASES if c.kind != "stream" and results.get(c.name)]
    if starts:
        out += [
            "",
            "| start-up | runs | Library.open s | first frame s | log painted s "
            "| input ready s | from launch s | peak RSS MB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for case in starts:
            runs = results[case.name]

            def col(key: str, scale: float = 1.0, digits: int = 3, runs: Any = runs) -> str:
                return spread([r[key] for r in runs], scale, digits)

            out.append(
                f"| {case.label} | {len(runs)} | {col('library_s')} | {col('first_frame_s')} "
                f"| {col('log_s')} | {col('ready_s')} | {col('launch_to_ready_s')} "
                f"| {col('rss_mb', digits=0)} |"
            )
            if case.kind == "open":
                out.append(
                    f"| ↳ then picking it in the list (from `Selected`) | {len(runs)} | | "
                    f"| {col('open_log_s')} | {col('open_ready_s')} | | |"
                )
    out += ["", targets(results)]
    return "\n".join(out)


def targets(results: dict[str, list[dict[str, Any]]]) -> str:
    rows: list[tuple[str, str, bool]] = []

    def check(
        what: str, case: str, key: str, limit: float, unit: str, strict: bool = False
    ) -> None:
        value = median(results.get(case, []), key)
        if value is not None:
            ok = value < limit if strict else value <= limit
            rows.append((what, f"{value:.3f} {unit}", ok))

    for case in ("fast-4k", "fast-20k", "fast-100k"):
        check(f"{case}: CPU ≤ 0.25 s/1k tokens", case, "cpu_per_1k", 0.25, "s/1k")
    check("paced-4k: CPU ≤ 0.5 s/1k tokens", "paced-4k", "cpu_per_1k", 0.5, "s/1k")
    small, big = (
        median(results.get("fast-4k", []), "cpu_per_1k"),
        median(results.get("fast-100k", []), "cpu_per_1k"),
    )
    if small and big is not None:
        rows.append(
            ("fast-100k per token ≤ 1.5x fast-4k", f"{big / small:.2f}x", big / small <= 1.5)
        )
    for case in ("fast-4k", "fast-20k", "fast-100k", "paced-4k"):
        check(f"{case}: lag (finished) ≤ 0.1 s", case, "lag_s", 0.1, "s")
    check("fast-100k: peak RSS ≤ 120 MB", "fast-100k", "rss_mb", 120, "MB")
    check("start-10k (warm): input ready ≤ 0.6 s", "start-10k", "ready_s", 0.6, "s")
    check("open-500: picked session painted < 0.3 s", "open-500", "open_log_s", 0.3, "s", True)
    check("start-500: log painted < 0.3 s (from app start)", "start-500", "log_s", 0.3, "s", True)
    lines = ["| target (medians) | figure | |", "| --- | ---: | :---: |"]
    lines += [f"| {what} | {figure} | {'✓' if ok else '✗'} |" for what, figure, ok in rows]
    return "\n".join(lines)


# ============================================================================ main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [c.name for c in CASES]
    default = ",".join(c.name for c in CASES if not c.extra)
    ap.add_argument("--cases", default=default, help=f"comma-separated: {', '.join(names)}")
    ap.add_argument("--reps", type=int, default=3, help="runs per case (3); the cold start: 1")
    ap.add_argument("--quick", action="store_true", help="1 run each, no 100k, no cold start")
    ap.add_argument("--json", type=Path, help="write every run's raw figures here")
    ap.add_argument(
        "--store-cache", type=Path, default=Path(tempfile.gettempdir()) / "liu-bench-app",
        help="where the generated stores are kept between runs (/tmp/liu-bench-app)",
    )  # fmt: skip
    # In the app's process (one run):
    ap.add_argument("--child", choices=names, help=argparse.SUPPRESS)
    ap.add_argument("--spawned-at", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--session", default="", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--chars", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sha1", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)
    # Killed (SIGTERM) as when interrupted: the app's process and the server go too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    wanted = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(names)}")
    reps = 1 if args.quick else max(1, args.reps)
    cases = [c for c in CASES if c.name in wanted and not (args.quick and c.name in QUICK_SKIP)]
    cache: Path = args.store_cache
    cache.mkdir(parents=True, exist_ok=True)
    compile_bytecode()

    notes: list[str] = []
    if any(c.store == "session-500" for c in cases):
        _, _, size = ensure_long_session(cache)
        notes.append(f"The long session: {LONG_SESSION_MESSAGES} messages, {size / 1e6:.1f} MB.")
    if any(c.store == "sessions-10k" for c in cases):
        home = ensure_many_sessions(cache, index=False)
        size = sum(p.stat().st_size for p in (home / "sessions").glob("*.md"))
        notes.append(f"The big store: {MANY_SESSIONS:,} sessions, {size / 1e6:.0f} MB.")

    facts = machine_facts()
    reference_start = reference_seconds()
    load_start = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        runs = case.runs or reps
        for rep in range(runs):
            log(f"{case.name}: run {rep + 1}/{runs} (load {os.getloadavg()[0]:.2f}) ...")
            result = run_once(case, cache)
            results.setdefault(case.name, []).append(result)
            if case.kind == "stream":
                log(
                    f"  {result['cpu_per_1k']:.3f} CPU-s/1k, wall {result['wall_s']:.2f} s, "
                    f"lag {result['lag_text_s']:.3f} / {result['lag_s']:.3f} s, "
                    f"RSS {result['rss_mb']:.0f} MB, {result['frames']} frames"
                    + ("" if result["text_ok"] else "  TEXT MISMATCH")
                )
                if not result["text_ok"] or not result["server_complete"]:
                    raise SystemExit(f"{case.name}: the reply on screen is not what was sent")
            else:
                extra = (
                    f", picked: painted {result['open_log_s']:.3f} s" if "open_log_s" in result
                    else ""
                )  # fmt: skip
                log(
                    f"  library {result['library_s']:.3f} s, log {result['log_s']:.3f} s, "
                    f"ready {result['ready_s']:.3f} s{extra}, RSS {result['rss_mb']:.0f} MB"
                )
    load_end = os.getloadavg()
    reference = (reference_start, reference_seconds())
    notes.append(
        "Reference work (pure Python, least of 5 runs; compare across days): "
        f"{reference[0] * 1000:.1f} ms at the start, {reference[1] * 1000:.1f} ms at the end."
    )
    print(report(results, facts, (load_start, load_end), notes))
    if args.json:
        raw = {
            "machine": facts,
            "load": [load_start, load_end],
            "reference_s": list(reference),
            "reps": reps,
            "runs": results,
        }
        args.json.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        raise SystemExit(130) from None
