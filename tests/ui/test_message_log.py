"""The message log: streaming renders exactly what a fresh render gives, following is state,
model text is inert, and long sessions open at the newest message."""

from __future__ import annotations

from datetime import datetime

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Label, Static
from textual.widgets._markdown import MarkdownBullet

from tests.ui.conftest import wait_until
from tui.app.widgets.message_log import INITIAL_MESSAGES, MessageLog
from tui.app.widgets.message_view import (
    MAX_TAIL_SLACK,
    RESERVE,
    BlockChunk,
    ChunkRun,
    MarkdownBody,
    MessageView,
    ReplyView,
    update_interval,
)
from tui.core.session import Cost, Message, Role, Status, Usage

T0 = datetime(2025, 1, 2, 9, 30)

FENCE = "\n".join(f"    value_{i} = compute({i})  # line {i}" for i in range(300))
REPLY = f"""# Plan

Here is **the** plan with `inline code` and a [link](https://example.com).

- first item
- second item
  continued lazily
  - nested item
- third item

1. one
2. two

| name | value |
|------|-------|
| a    | 1     |
| 中文 | 表格  |

```python
def main():
{FENCE}
```

> a quote
> over lines

中文段落：流式渲染只更新最后一个块。

Setext heading
--------------

Final paragraph.
"""


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MessageLog()


def _plain(widget: object) -> str:
    if isinstance(widget, MarkdownBullet):
        return widget.symbol
    if isinstance(widget, Static):
        visual = widget.visual
        return visual.plain if isinstance(visual, Content) else str(visual)
    return ""


def _dump(body: MarkdownBody) -> list[tuple[str, str]]:
    """What a body shows: every block widget's type and text, in order (how the blocks are
    grouped into chunks and runs of chunks is not what it shows)."""
    return [
        (type(w).__name__, _plain(w))
        for w in body.walk_children()
        if not isinstance(w, BlockChunk | ChunkRun)
    ]


def _screen_text(app: App[None]) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def _reply(text: str, **kw: object) -> Message:
    return Message(
        role=Role.ASSISTANT,
        created_at=T0,
        text=text,
        model="test:model",
        usage=Usage(prompt_tokens=1200, completion_tokens=345),
        cost=Cost(total_cost=0.0123),
        **kw,  # type: ignore[arg-type]
    )


def _following(log: MessageLog) -> bool:
    """A function, so that mypy does not narrow the attribute between asserts."""
    return log.following


async def settle(pilot: object, reply: ReplyView) -> None:
    """Wait until the reply's buffered text is on screen: never on a wall-clock guess."""
    for _ in range(2000):
        if not reply.pending:
            break
        await pilot.pause(0.01)  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


def _fast_paragraphs(count: int) -> str:
    return "".join(f"Paragraph {i} of the fast reply.\n\n" for i in range(count))


async def _stream_in_one_update(pilot: object, reply: ReplyView, text: str) -> None:
    """All of `text` with no pause between pieces (a reply arriving flat out): one update
    gets it all, and the chunks before the last screenful stay cold."""
    for i in range(0, len(text), 40):
        reply.append_text(text[i : i + 40])
    await settle(pilot, reply)


async def _stream(pilot: object, reply: ReplyView, text: str, size: int = 7) -> None:
    for i in range(0, len(text), size):
        reply.append_text(text[i : i + size])
        if i % (size * 40) == 0:
            await pilot.pause(0.06)  # type: ignore[attr-defined]


async def test_streamed_reply_equals_fresh_render() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        await log.add_message(Message(role=Role.USER, created_at=T0, text="plan it"))
        reply = await log.begin_reply("test:model")
        await pilot.pause()
        assert "thinking…" in str(reply.query_one(".message--header", Label).visual)
        for i in range(0, len(REPLY), 5):
            reply.append_text(REPLY[i : i + 5])
            if i % 200 == 0:
                await pilot.pause(0.06)
                assert log.following
        await settle(pilot, reply)
        assert reply.flush_count > 1
        final = _reply(REPLY, reasoning="I thought about it.")
        await reply.finish(final)
        await pilot.pause()
        fresh = await log.add_message(final)
        await pilot.pause()
        for body in (reply.body, fresh.body):  # far chunks may be frozen: draw them all
            for chunk in body.chunks:
                chunk.thaw()
        await pilot.pause()
        assert _dump(reply.body) == _dump(fresh.body)
        assert [g.source for g in reply.body.groups] == [g.source for g in fresh.body.groups]
        header = str(reply.query_one(".message--header", Label).visual)
        assert "1.2k in / 345 out" in header and "$0.01" in header
        assert "test:model" in header
        code = reply.code_blocks()
        assert len(code) == 1 and code[0].count("\n") == 300
        assert log.following


async def test_text_keeps_its_width_when_the_log_starts_to_scroll() -> None:
    """The log keeps room for its scrollbar: a reply that outgrows the screen is not wrapped
    again two columns narrower, all of it at once, in mid-stream."""
    app = LogApp()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("A first paragraph.\n\n")
        await settle(pilot, reply)
        assert log.max_scroll_y == 0  # it fits: no scrollbar yet
        width = reply.body.content_region.width
        for i in range(30):
            reply.append_text(f"Paragraph {i} that comes later.\n\n")
        await settle(pilot, reply)
        assert log.max_scroll_y > 0 and log.show_vertical_scrollbar
        assert reply.body.content_region.width == width


async def test_unpriced_reply_says_so() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        msg = Message(role=Role.ASSISTANT, created_at=T0, text="hi", model=None)
        view = await log.add_message(msg)
        await pilot.pause()
        assert "unpriced" in str(view.query_one(".message--header", Label).visual)


async def test_scrolling_up_stops_following_and_end_restores() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        await _stream(pilot, reply, "para line\n\n" * 80)
        await settle(pilot, reply)
        assert log.following
        assert log.scroll_y == log.max_scroll_y > 0
        log.focus()
        await pilot.press("pageup")
        await pilot.pause()
        assert not _following(log)
        hint = log.query_one("#new-text-hint", Label)
        assert not hint.has_class("-shown")
        reply.append_text("more text arriving below\n\n")
        await settle(pilot, reply)
        assert hint.has_class("-shown")
        assert log.scroll_y < log.max_scroll_y
        await pilot.press("end")
        await settle(pilot, reply)
        assert log.following
        assert not hint.has_class("-shown")
        reply.append_text("and more\n\n" * 10)
        await settle(pilot, reply)
        assert log.scroll_y == log.max_scroll_y
        await reply.finish(_reply(reply.text))
        await pilot.pause()
        assert log.following


async def test_model_text_is_inert() -> None:
    app = LogApp()
    nasty = (
        "[bold]not bold[/bold] [link=http://evil]x[/link] \x1b[31mred\x1b]8;;http://e\x07 \x9b2J"
    )
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("evil:[b]model[/b]")
        reply.append_text(nasty)
        await settle(pilot, reply)
        await reply.finish(_reply(nasty, reasoning="\x1b[2J[red]r[/red]"))
        await pilot.pause()
        text = _screen_text(app)
        assert "[bold]not bold[/bold]" in text
        assert "[link=http://evil]" in text
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
        assert "␛[31mred" in text
        dumped = "".join(t for _, t in _dump(reply.body))
        assert "\x1b" not in dumped and "[bold]" in dumped


async def test_fail_keeps_partial_text_and_says_why() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("partial answer ```py\nx = 1\n")
        await settle(pilot, reply)
        partial = _reply(reply.text, status=Status(reason="network"))
        await reply.fail("network error: connection reset; press Ctrl+R to retry", partial)
        await pilot.pause()
        header = str(reply.query_one(".message--header", Label).visual)
        assert "interrupted: network" in header
        error = reply.query_one(".message--error", Label)
        assert error.display and "Ctrl+R" in str(error.visual)
        assert "partial answer" in _screen_text(app)


async def test_long_session_opens_at_newest_and_loads_older() -> None:
    messages = []
    for i in range(500):
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        text = f"message {i}\n\n- a point\n- another point\n\nclosing words of {i}"
        messages.append(Message(role=role, created_at=T0, text=text, model="m" if i % 2 else None))
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        await log.show_session(messages, session_model="test:model")
        await pilot.pause(0.1)
        assert len(log.views) <= INITIAL_MESSAGES + 20
        assert log.has_older
        assert "closing words of 499" in _screen_text(app)
        first = log.views[0]
        loaded = len(log.views)
        log.focus()
        await pilot.press("home")
        for _ in range(500):  # older messages mount in the background
            if len(log.views) > loaded:
                break
            await pilot.pause(0.01)
        assert len(log.views) > loaded
        assert first in log.views
        assert not log.following


async def test_moving_between_messages_and_code_blocks() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        msgs = [
            Message(role=Role.USER, created_at=T0, text="show code"),
            _reply("Here:\n\n```sh\necho hi\n```\n\nand\n\n    indented\n"),
        ]
        await log.show_session(msgs, session_model="test:model")
        await pilot.pause()
        log.focus()
        await pilot.press("up")
        assert log.focused_message() is msgs[1]
        view = log.focused_view()
        assert isinstance(view, MessageView)
        assert view.code_blocks() == ["echo hi", "indented"]
        await pilot.press("up")
        assert log.focused_message() is msgs[0]
        removed = await log.remove_last_reply()
        assert removed is msgs[1]
        assert len(log.views) == 1


def _live(chunk: BlockChunk) -> bool:
    """Thawed, with its block widgets back (a function: mypy narrows attributes)."""
    return not chunk.frozen and bool(chunk.children)


async def test_far_chunks_drop_their_widgets_and_come_back() -> None:
    """A long reply keeps only the blocks near the viewport as widgets; the rest is source
    and height. Scrolling back renders them again; copy still sees every fence."""
    from tui.app.widgets.message_view import CHUNK

    count = max(CHUNK * 3, 96)  # several screens: the first chunk is far from the end
    blocks = [f"Paragraph {i} of the long reply.\n\n" for i in range(count)]
    blocks.insert(3, "```sh\necho early\n```\n\n")
    text = "".join(blocks)
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        await _stream(pilot, reply, text.rstrip("\n"), size=50)
        await settle(pilot, reply)
        tail = reply._tail  # the growing block: the last widgets of the last chunk
        assert tail is not None and tail.widgets[-1] is reply.body.chunks[-1].children[-1]
        assert tail not in reply.body.groups
        await reply.finish(_reply(text))
        await pilot.pause()
        await pilot.pause(0.05)
        assert reply._tail is None and not reply.pending
        body = reply.body
        first = body.chunks[0]
        assert first.frozen and not first.children
        assert first.outer_size.height > 0
        assert reply.code_blocks() == ["echo early"]
        assert f"Paragraph {count - 1}" in _screen_text(app)
        log.focus()
        await pilot.press("home")
        for _ in range(200):
            await pilot.pause(0.01)
            if _live(first):
                break
        assert _live(first)
        assert "Paragraph 0 of the long reply." in _screen_text(app)


async def test_text_faster_than_drawn_leaves_unseen_chunks_cold() -> None:
    """Many blocks in one update (a reply arriving flat out): only the last screenful is
    drawn, whole chunks before it stay cold (source and an estimated height), the newest
    text is on screen before the reply ends, and scrolling back draws the rest."""
    from tui.app.widgets.message_view import CHUNK

    count = max(CHUNK * 4, 128)  # whole chunks before the last screenful
    text = _fast_paragraphs(count)
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        await pilot.pause()
        await _stream_in_one_update(pilot, reply, text)
        body = reply.body
        assert any(chunk.estimated for chunk in body.chunks)
        assert all(not chunk.children for chunk in body.chunks if chunk.estimated)
        # Mounted at once, in order, and all before the spare chunk that follows them; the
        # cold ones in runs that leave them out of the layout.
        in_dom: list[Widget] = []
        for child in body.children:
            in_dom.extend(child.chunks if isinstance(child, ChunkRun) else [child])
        assert in_dom[: len(body.chunks)] == body.chunks
        assert in_dom[len(body.chunks)] not in body.chunks  # the spare
        runs = [child for child in body.children if isinstance(child, ChunkRun)]
        assert runs and all(run.closed for run in runs)
        assert all(chunk.region.height == 0 for run in runs for chunk in run.chunks)
        assert f"Paragraph {count - 2} of the fast reply." in _screen_text(app)
        await reply.finish(_reply(text))
        await pilot.pause()
        fresh = await log.add_message(_reply(text))
        await pilot.pause()
        assert [g.source for g in body.groups] == [g.source for g in fresh.body.groups]
        await fresh.remove()
        await pilot.pause()
        log.focus()
        await pilot.press("home")
        first = body.chunks[0]
        await wait_until(pilot, lambda: "Paragraph 0 of the fast reply." in _screen_text(app))
        assert _live(first) and not first.estimated


async def test_a_final_text_shorter_than_the_stream_drops_chunks_and_runs() -> None:
    """When the saved message is shorter than what streamed (the final render differs),
    the chunks past its end go, in runs or not, and a run left empty goes too."""
    text = _fast_paragraphs(400)
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        await pilot.pause()
        await _stream_in_one_update(pilot, reply, text)
        body = reply.body
        runs = [child for child in body.children if isinstance(child, ChunkRun)]
        assert len(runs) > 1
        short = _fast_paragraphs(20)
        await reply.finish(_reply(short.rstrip()))
        await pilot.pause()
        assert [g.source.strip() for g in body.groups] == [
            f"Paragraph {i} of the fast reply." for i in range(20)
        ]
        assert len(body.chunks) == 3
        left = [child for child in body.children if isinstance(child, ChunkRun)]
        assert all(run.chunks for run in left) and len(left) < len(runs)
        assert sum(len(run.chunks) for run in left) <= 3
        await wait_until(pilot, lambda: "Paragraph 19 of the fast reply." in _screen_text(app))


def _fence_styled(view: MessageView) -> list[bool]:
    """Per fence of the view: is its code highlighted (more than the one plain style)?"""
    from tui.app.widgets.message_view import CodeFence

    styled = []
    for fence in view.body.query(CodeFence):
        content = fence.query_one("#code-content", Label).visual
        styled.append(isinstance(content, Content) and len(content.spans) > 1)
    return styled


async def test_fences_show_at_once_and_are_highlighted_right_after() -> None:
    """Highlighting is deferred to a moment after the frame that shows a fence (Pygments is
    slow to start; bench_app measures the first frame): it still arrives, in a message
    opened, in a streamed fence finished in place, and after a change of theme."""
    from tui.app.widgets import message_view

    message_view._HIGHLIGHT_CACHE.clear()
    code = "```python\ndef twice(x):\n    return 2 * x  # doubled\n```\n"
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(MessageLog)
        view = log._view(_reply("Some code:\n\n" + code + "\nDone.\n"))
        await log.mount(view)
        await wait_until(pilot, lambda: _fence_styled(view) == [True])

        reply = await log.begin_reply("test:model")
        streamed = "Streamed:\n\n" + code.replace("twice", "thrice") + "\nEnd.\n"
        for line in streamed.splitlines(keepends=True):  # each line drawn: the fence is the
            # growing tail, and becomes the finished fence in place
            reply.append_text(line)
            await settle(pilot, reply)
        await reply.finish(_reply(streamed))
        await wait_until(pilot, lambda: _fence_styled(reply) == [True])

        app.theme = "textual-light"
        await wait_until(pilot, lambda: _fence_styled(view) == [True])


async def test_a_long_message_opens_at_its_end_and_draws_the_rest_on_the_way_up() -> None:
    """Only the last screenful of a long message is drawn when a session opens; the chunks
    before it start cold (no widgets) and are drawn as the user scrolls up to them."""
    text = "".join(f"Paragraph {i} of a long answer.\n\n" for i in range(150))
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        await log.show_session([_reply(text)], session_model="test:model")
        await pilot.pause()
        body = log.views[-1].body
        cold = [chunk for chunk in body.chunks if chunk.estimated]
        assert cold and all(not chunk.children for chunk in cold)
        assert len(cold) >= len(body.chunks) // 2  # the screen and one above it are drawn
        await wait_until(pilot, lambda: "Paragraph 149 of a long answer." in _screen_text(app))
        log.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: "Paragraph 0 of a long answer." in _screen_text(app))
        assert _live(body.chunks[0]) and not body.chunks[0].estimated


async def test_a_virtualize_asked_for_while_one_is_pending_runs_again_after_it() -> None:
    """The pending pass may run on regions from before the latest scroll (it froze chunks
    the scroll had just brought into view: a blank log after Page Up in tmux at 80x24), so
    a request made while one is pending gets a pass of its own after the next refresh."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(MessageLog)
        await log.show_session([_reply("Short.\n")], session_model="test:model")
        await pilot.pause()
        runs: list[float] = []
        original = log._virtualize

        def counted() -> None:
            runs.append(log.scroll_y)
            original()

        log._virtualize = counted  # type: ignore[method-assign]
        log._schedule_virtualize()
        log._schedule_virtualize()  # e.g. a scroll while the first is pending
        await wait_until(pilot, lambda: len(runs) == 2)
        await pilot.pause()
        assert len(runs) == 2


async def test_a_big_block_does_not_push_the_text_off_a_following_log() -> None:
    """The reply keeps blank lines below its text so that the log scrolls now and then, not
    every line; a block of many lines arriving at once must not make them a screenful."""
    app = LogApp()
    async with app.run_test(size=(80, 30)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("A first paragraph of words.\n\n")
        await settle(pilot, reply)
        for step in range(3):
            fence = "\n".join(f"line_{step}_{i} = {i}" for i in range(20))
            reply.append_text(f"```python\n{fence}\n```\n\nAfter the fence {step}.")
            await settle(pilot, reply)
            await pilot.pause()
            rows = _screen_text(app).splitlines()[log.region.y : log.region.bottom]
            width = log.scrollable_content_region.right  # not the scrollbar's thumb
            text_rows = [y for y, row in enumerate(rows) if row[:width].strip()]
            assert text_rows and f"After the fence {step}." in rows[text_rows[-1]]
            blank_below = len(rows) - 1 - text_rows[-1]
            assert blank_below <= log.size.height // 2 + RESERVE + MAX_TAIL_SLACK, rows


def test_streaming_updates_are_spaced_to_keep_the_display_within_4_percent_of_a_core() -> None:
    """What an update cycle costs sets the time to the next one: at 100 tokens/s a cycle
    here costs ~14 ms, so 4 updates a second; a cheap one may go up to 8, never faster;
    a costly one waits no more than a quarter second (the text must keep moving)."""
    assert update_interval(0.014) == pytest.approx(0.25)
    assert update_interval(0.010) == pytest.approx(0.25)
    assert update_interval(0.008) == pytest.approx(0.2)
    assert update_interval(0.002) == pytest.approx(1 / 8)
    assert update_interval(0.5) == pytest.approx(0.25)


async def test_blocks_that_finish_close_together_wait_in_the_tail_and_mount_together() -> None:
    """Within STRUCTURE_INTERVAL of the last mount, a finished block's text is completed in
    place and the blocks after it wait; the next update past it mounts them all at once."""
    import time

    from textual.widgets._markdown import MarkdownParagraph

    def paragraphs(reply: ReplyView) -> list[str]:
        return [_plain(block).strip() for block in reply.query(MarkdownParagraph)]

    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("On")
        await settle(pilot, reply)
        assert paragraphs(reply) == ["On"]

        reply._next_structure = time.monotonic() + 3600  # as if a block had just mounted
        flushes = reply.flush_count
        reply.append_text("e\n\nTwo\n\nThree\n\nFo")
        await wait_until(pilot, lambda: reply.flush_count > flushes)
        await pilot.pause()
        assert paragraphs(reply) == ["One"]  # the finished block whole, in the same widget
        assert reply.pending  # the rest is still to come

        first = reply.query_one(MarkdownParagraph)
        reply._next_structure = 0.0  # the interval is over
        await settle(pilot, reply)
        assert paragraphs(reply) == ["One", "Two", "Three", "Fo"]
        assert reply.query(MarkdownParagraph).first() is first  # kept, as the finished block

        await reply.finish(_reply("One\n\nTwo\n\nThree\n\nFour\n"))
        await pilot.pause()
        assert paragraphs(reply) == ["One", "Two", "Three", "Four"]


async def test_a_new_width_draws_again_only_the_chunks_near_the_viewport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frozen chunk's height holds for one width. Resized (the terminal, or the session
    list folded), the far ones keep their height as a guess and are drawn when scrolled
    to: drawing them all again took 4.6 s of CPU for a 100,000-token reply."""
    text = "".join(f"Paragraph {i} of a long answer.\n\n" for i in range(300))
    thawed: list[BlockChunk] = []
    thaw = BlockChunk.thaw

    def counted_thaw(chunk: BlockChunk) -> None:
        if chunk.frozen:
            thawed.append(chunk)
        thaw(chunk)

    monkeypatch.setattr(BlockChunk, "thaw", counted_thaw)
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        await log.show_session([_reply(text)], session_model="test:model")
        await wait_until(pilot, lambda: "Paragraph 299 of a long answer." in _screen_text(app))
        log.focus()
        # A page at a time to the top, every chunk drawn on the way: they freeze behind.
        # (Home scrolls in an animation, whose frames, on a busy machine, skip most.)
        for _ in range(100):
            if "Paragraph 0 of a long answer." in _screen_text(app):
                break
            log.scroll_page_up(animate=False)
            await pilot.pause()
        await pilot.press("end")
        await wait_until(pilot, lambda: "Paragraph 299 of a long answer." in _screen_text(app))
        body = log.views[-1].body
        frozen = [chunk for chunk in body.chunks if chunk.frozen and not chunk.estimated]
        assert len(frozen) > 10, len(frozen)
        thawed.clear()
        await pilot.resize_terminal(90, 40)
        await wait_until(pilot, lambda: "Paragraph 299 of a long answer." in _screen_text(app))
        await pilot.pause(0.1)
        assert len(thawed) < 6  # at most those near the viewport, not all of them
        await pilot.press("home")
        await wait_until(pilot, lambda: "Paragraph 0 of a long answer." in _screen_text(app))


async def test_far_frozen_chunks_are_left_out_of_the_layout_in_runs() -> None:
    """Cold chunks go into runs; a closed run is one blank widget as tall as its chunks,
    which are neither mounted (until it first opens) nor laid out. Scrolled near, it opens
    and its chunks are drawn; frozen and far again, it closes."""
    text = "".join(f"Paragraph {i} of a long answer.\n\n" for i in range(900))
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        await log.show_session([_reply(text)], session_model="test:model")
        await wait_until(pilot, lambda: "Paragraph 899 of a long answer." in _screen_text(app))
        body = log.views[-1].body
        runs = [child for child in body.children if isinstance(child, ChunkRun)]
        # All closed but, maybe, the one next to the screen: within a screen of it, it may
        # have opened already to draw its last chunks.
        closed = [run for run in runs if run.closed]
        assert len(runs) > 2 and runs[:-1] == closed[: len(runs) - 1]
        laid_out = app.screen._compositor.widgets
        assert not any(chunk in laid_out for run in closed for chunk in run.chunks)
        assert not any(chunk.is_mounted for run in closed for chunk in run.chunks)  # not yet
        for run in closed:
            assert run.outer_size.height == sum(chunk._frozen_height for chunk in run.chunks)
        log.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: "Paragraph 0 of a long answer." in _screen_text(app))
        assert not runs[0].closed and _live(body.chunks[0])
        assert all(chunk.is_mounted for chunk in runs[0].chunks)
        await pilot.press("end")
        await wait_until(pilot, lambda: "Paragraph 899 of a long answer." in _screen_text(app))
        await wait_until(pilot, lambda: runs[0].closed)
        assert not _live(body.chunks[0])


async def test_chunks_frozen_behind_a_reply_read_as_it_streamed_are_packed_in_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks drawn as the reply streamed, then frozen as they scrolled away, go into
    closed runs too (stand-ins of the same heights), RUN at a time; the log's height does
    not change, and scrolling back draws them. (A chunk frozen before the layout of its
    last blocks kept a short height: the log was 12 lines short until it was drawn.)"""
    from tui.app.fewer_layouts import skip_virtual_size_layouts
    from tui.app.widgets import message_view

    skip_virtual_size_layouts()  # as the app runs: a chunk may be frozen out of date
    monkeypatch.setattr(message_view, "RUN", 4)
    paragraphs = [f"Paragraph {i} of a reply read as it came.\n\n" for i in range(100)]
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        for start in range(0, len(paragraphs), 10):
            reply.append_text("".join(paragraphs[start : start + 10]))
            await settle(pilot, reply)  # each piece drawn: nothing is left cold
        text = "".join(paragraphs)
        await reply.finish(_reply(text))
        await wait_until(pilot, lambda: "Paragraph 99 of" in _screen_text(app))
        body = reply.body
        await wait_until(
            pilot, lambda: any(isinstance(child, ChunkRun) for child in body.children)
        )
        await pilot.pause(0.3)  # the reserve below the reply is let go
        height = log.virtual_size.height
        runs = [child for child in body.children if isinstance(child, ChunkRun)]
        assert all(run.closed and len(run.chunks) == 4 for run in runs)
        assert not any(chunk.estimated for run in runs for chunk in run.chunks)
        in_dom: list[Widget] = []
        for child in body.children:
            in_dom.extend(child.chunks if isinstance(child, ChunkRun) else [child])
        assert [c for c in in_dom if isinstance(c, BlockChunk) and c.display] == body.chunks
        log.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: "Paragraph 0 of a reply" in _screen_text(app))
        assert not runs[0].closed
        await pilot.press("end")
        await wait_until(pilot, lambda: "Paragraph 99 of" in _screen_text(app))
        assert log.virtual_size.height == height  # the stand-ins held the drawn heights


async def test_a_streaming_quote_takes_new_words_in_place() -> None:
    """A quote that only gains words keeps its widgets: mounted again each update, it cost
    a layout and the CSS of two new widgets three times a second."""
    from textual.widgets._markdown import MarkdownBlockQuote, MarkdownParagraph

    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("Intro.\n\n> a quote that")
        await settle(pilot, reply)
        quote = reply.query_one(MarkdownBlockQuote)
        text = quote.query_one(MarkdownParagraph)
        for words in (" grows", " word by word,", " and then some"):
            reply.append_text(words)
            await settle(pilot, reply)
            assert reply.query_one(MarkdownBlockQuote) is quote
            assert quote.query_one(MarkdownParagraph) is text
        assert _plain(text) == "a quote that grows word by word, and then some"
        await reply.finish(_reply("Intro.\n\n> a quote that grows word by word, and then some\n"))
        await pilot.pause()
        assert _plain(reply.query_one(MarkdownBlockQuote).query_one(MarkdownParagraph)) == (
            "a quote that grows word by word, and then some"
        )
