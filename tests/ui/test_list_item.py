"""A one-paragraph list item is one widget, and looks exactly as Textual's five widgets do."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.selection import Selection
from textual.widgets._markdown import MarkdownBullet, MarkdownList

from tests.ui.conftest import wait_until
from tui.app.widgets import message_view
from tui.app.widgets.list_item import ListItemBlock, simple_items, top_level_runs
from tui.app.widgets.message_log import MessageLog
from tui.app.widgets.message_view import MarkdownBody, ReplyView
from tui.app.widgets.stream_blocks import BlockSplitter
from tui.core.session import Message, Role

if TYPE_CHECKING:
    from textual.pilot import Pilot

LISTS = """Some lists:

- a short item
- an item long enough to wrap over more than one line at this width, **bold** and `code` \
and a [link](https://example.com) in it, and 中文 wide characters to wrap as well
* another bullet

1. one
2. two, which wraps: lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod
9. nine
10. ten, a wider number
123. a number of three digits

- an item with a nested list
  - nested

- an item

  with two paragraphs

Last paragraph.
"""


class LogApp(App[None]):
    def __init__(self, dark: bool) -> None:
        super().__init__()
        self.dark_theme = dark

    def compose(self) -> ComposeResult:
        yield MessageLog()

    def on_mount(self) -> None:
        self.theme = "textual-dark" if self.dark_theme else "textual-light"


def _cells(app: App[None]) -> list[list[tuple[str, str]]]:
    """Every screen line as (text, style) runs: what a terminal would show."""
    lines = []
    for strip in app.screen._compositor.render_strips():
        runs = Segment.simplify(strip)
        lines.append([(seg.text, str(seg.style)) for seg in runs])
    return lines


async def _render(dark: bool, width: int, *, then: str = "") -> list[list[tuple[str, str]]]:
    app = LogApp(dark)
    async with app.run_test(size=(width, 40)) as pilot:
        log = app.query_one(MessageLog)
        message = Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=LISTS)
        await log.add_message(message)
        await wait_until(pilot, lambda: bool(app.query(MarkdownBody)))
        await pilot.pause()
        if then:
            app.theme = then
            await pilot.pause()
        return _cells(app)


@pytest.mark.parametrize(("dark", "width"), [(True, 80), (False, 80), (True, 41)])
async def test_one_widget_items_look_like_textuals(
    monkeypatch: pytest.MonkeyPatch, dark: bool, width: int
) -> None:
    ours = await _render(dark, width)
    monkeypatch.setattr(message_view, "simple_items", lambda tokens: None)
    textuals = await _render(dark, width)
    assert ours == textuals


async def test_the_bullets_follow_a_change_of_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = await _render(True, 80, then="textual-light")
    monkeypatch.setattr(message_view, "simple_items", lambda tokens: None)
    assert ours == await _render(False, 80)


async def test_simple_items_are_one_widget_and_the_rest_keep_textuals() -> None:
    app = LogApp(True)
    async with app.run_test(size=(80, 40)) as pilot:
        log = app.query_one(MessageLog)
        message = Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=LISTS)
        await log.add_message(message)
        await wait_until(pilot, lambda: bool(app.query(MarkdownBody)))
        body = app.query_one(MarkdownBody)
        items = list(body.query(ListItemBlock))
        assert [item.bullet for item in items] == [
            "• ",
            "• ",
            "• ",
            " 1. ",
            " 2. ",
            " 9. ",
            " 10. ",
            " 123. ",
        ]
        assert "wide characters" in str(items[1].visual)
        # The nested list and the two-paragraph item stay Textual's.
        assert len(body.query(MarkdownList).filter(".level-0")) == 2
        assert len(body.query(MarkdownBullet)) == 3


def _bullets(source: str) -> list[str] | None:
    items = simple_items(message_view._markdown_parser().parse(source))
    return None if items is None else [bullet for bullet, _, _ in items]


def test_which_tokens_make_simple_items() -> None:
    assert _bullets("- item\n") == ["• "]
    assert _bullets("+ item **bold**\n") == ["• "]
    assert _bullets("7) seventh\n") == [" 7. "]
    # A streaming tail: an item and the start of the next, each numbered as it will be.
    assert _bullets("9. nine\n10. te") == [" 9. ", " 10. "]
    assert _bullets("- one\n- tw") == ["• ", "• "]
    assert _bullets("paragraph\n") is None
    assert _bullets("- item\n  - nested\n") is None
    assert _bullets("- one\n\n  two\n") is None
    assert _bullets("- ```\n  code\n  ```\n") is None
    assert _bullets("- one\n-") == ["• ", "• "]  # the next item, empty so far
    assert _bullets("9. nine\n10.") == [" 9. ", " 10. "]
    assert _bullets("- one\n\n## Head") is None


def test_a_tail_is_rendered_block_by_block() -> None:
    tokens = message_view._markdown_parser().parse("- one\n* two\n\n## Hea")
    runs = [[token.type for token in run] for run in top_level_runs(tokens)]
    assert [run[0] for run in runs] == ["bullet_list_open", "bullet_list_open", "heading_open"]
    assert [kind for run in runs for kind in run] == [token.type for token in tokens]
    assert [simple_items(run) is not None for run in top_level_runs(tokens)] == [1, 1, 0]


async def test_a_streamed_list_never_mounts_textuals_list_widgets() -> None:
    app = LogApp(True)
    simple = LISTS[: LISTS.index("- an item with a nested list")]
    async with app.run_test(size=(80, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        splitter = BlockSplitter()
        for char in simple:  # every tail the stream can show
            splitter.feed(char)
            tail = reply.body.render_block(splitter.tail(), plain=True)
            assert not [w for w in tail.widgets if isinstance(w, MarkdownList)], splitter.tail()
        for start in range(0, len(simple), 7):
            reply.append_text(simple[start : start + 7])
            await pilot.pause(0.02)
            assert not reply.body.query(MarkdownList)
        await wait_until(pilot, lambda: not reply.pending)
        message = Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=simple)
        await reply.finish(message)
        await pilot.pause()
        streamed = _items(reply.body)
        fresh = await log.add_message(message)
        await pilot.pause()
        assert streamed == _items(fresh.body)
        assert len(streamed) == 8 and streamed[6].startswith(" 10. ten")


def _items(body: MarkdownBody) -> list[str]:
    """Every list item the body draws, bullet and text, whichever widget draws it."""
    items = [pair for widget in body.query(ListItemBlock) for pair in widget.items]
    return [f"{bullet}{text.plain}" for bullet, text in items]


async def test_a_streamed_list_is_one_widget_that_takes_each_new_item_in_place() -> None:
    """A new item is new text in the widget that draws the list, not a widget to mount and
    lay out, and it does not wait for STRUCTURE_INTERVAL; each item keeps a block (a group)
    of its own, drawn by that widget."""
    import time

    app = LogApp(True)
    async with app.run_test(size=(80, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("Intro.\n\n- one\n- tw")
        await wait_until(pilot, lambda: not reply.pending)
        (widget,) = reply.body.query(ListItemBlock)
        assert _items(reply.body) == ["• one", "• tw"]
        reply._next_structure = time.monotonic() + 3600  # as if a block had just mounted
        reply.append_text("o\n- thr")  # "- one" ends, "- two" is whole, "- thr" begins
        await wait_until(pilot, lambda: not reply.pending)
        await pilot.pause()
        assert list(reply.body.query(ListItemBlock)) == [widget]  # nothing mounted
        assert _items(reply.body) == ["• one", "• two", "• thr"]
        reply.append_text("ee\n- four\n- fi")
        await wait_until(pilot, lambda: not reply.pending)
        await pilot.pause()
        assert list(reply.body.query(ListItemBlock)) == [widget]
        assert _items(reply.body) == ["• one", "• two", "• three", "• four", "• fi"]
        groups = reply.body.groups
        sources = ["Intro.\n", "- one\n", "- two\n", "- three\n"]  # "- four" is open
        assert [g.source for g in groups] == sources
        assert [g.widgets for g in groups[1:]] == [[widget], [], []]
        assert [g.joined for g in groups] == [False, False, True, True]
        assert "_held_height" in widget.__dict__  # the tail: it grows in steps of lines

        reply._next_structure = 0.0
        reply.append_text("ve\n\nAfter the list.\n\nMo")
        await wait_until(pilot, lambda: not reply.pending)
        await pilot.pause()
        assert _items(reply.body) == ["• one", "• two", "• three", "• four", "• five"]
        assert "_held_height" not in widget.__dict__  # finished: as tall as its text
        assert widget.region.height == 5
        # Selected, it gives every item's text (the bullets are not text).
        everything = Selection(None, None)
        assert widget.get_selection(everything) == ("one\ntwo\nthree\nfour\nfive", "\n")
        after = reply.body.query_one("MarkdownParagraph.level-0:last-of-type")
        assert after.region.y > widget.region.bottom

        await reply.finish(
            Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=reply.text + "re.\n")
        )
        await pilot.pause()
        assert list(reply.body.query(ListItemBlock)) == [widget]
        assert _items(reply.body) == ["• one", "• two", "• three", "• four", "• five"]


STREAMED = "".join(f"Intro {i}.\n\n" for i in range(5)) + LISTS
"""LISTS after five blocks: its first list crosses from one chunk of blocks to the next."""


async def _streamed_cells(piece: int, final: str) -> tuple[list[list[tuple[str, str]]], list[str]]:
    """The reply's body rows once STREAMED has streamed in pieces and the reply finished
    with `final`, and the items it draws."""
    app = LogApp(True)
    async with app.run_test(size=(80, 90)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        for start in range(0, len(STREAMED), piece):
            reply.append_text(STREAMED[start : start + piece])
            await pilot.pause(0.01)
        return await _finished_cells(app, pilot, reply, final), _items(reply.body)


async def _finished_cells(
    app: App[None], pilot: Pilot[None], reply: ReplyView, text: str
) -> list[list[tuple[str, str]]]:
    """The reply's body rows once it has finished with `text`."""
    await wait_until(pilot, lambda: not reply.pending)
    message = Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=text)
    await reply.finish(message)
    await pilot.pause()
    await pilot.pause()
    region = reply.body.region
    return _cells(app)[region.y : region.bottom]


async def _fresh_cells(text: str, size: tuple[int, int] = (80, 90)) -> list[list[tuple[str, str]]]:
    """The body rows of a message of `text` drawn at once."""
    app = LogApp(True)
    async with app.run_test(size=size) as pilot:
        log = app.query_one(MessageLog)
        message = Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=text)
        view = await log.add_message(message)
        await wait_until(pilot, lambda: bool(app.query(MarkdownBody)))
        await pilot.pause()
        region = view.body.region
        return _cells(app)[region.y : region.bottom]


@pytest.mark.parametrize("piece", [3, 7, 60])
async def test_a_streamed_list_looks_as_a_fresh_render_of_it(piece: int) -> None:
    """Cell for cell and style for style, the items a widget drew while they streamed
    look as the blocks of a fresh render do, across a chunk's end too."""
    streamed, items = await _streamed_cells(piece, STREAMED)
    assert streamed == await _fresh_cells(STREAMED)
    assert items[:3] == ["• a short item", items[1], "• another bullet"]


async def test_a_final_text_unlike_the_streamed_one_is_drawn_once() -> None:
    """The saved text can differ from what streamed (a provider's final message): the
    list is drawn from it, no item twice and none stale."""
    final = STREAMED.replace("9. nine", "9. nine, changed")
    streamed, items = await _streamed_cells(7, final)
    assert streamed == await _fresh_cells(final)
    assert " 9. nine, changed" in items and " 9. nine" not in items


async def test_a_tail_that_draws_nothing_is_no_error() -> None:
    app = LogApp(True)
    async with app.run_test(size=(80, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("Para.\n\n[ref]: https://example.com")  # the tail: a definition
        await wait_until(pilot, lambda: not reply.pending)
        reply.append_text("\n\n- two")
        await wait_until(pilot, lambda: not reply.pending)
        assert [str(item.visual) for item in reply.body.query(ListItemBlock)] == ["• two"]


async def test_a_reply_that_fails_mid_list_keeps_every_item() -> None:
    """The list's widget ends as the finished items' block; the item cut off mid-word
    stays, as the partial text was saved."""
    app = LogApp(True)
    async with app.run_test(size=(80, 40)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text("Intro.\n\n- one\n- two\n- three\n- fo")
        await wait_until(pilot, lambda: not reply.pending)
        message = Message(role=Role.ASSISTANT, created_at=datetime(2025, 1, 2), text=reply.text)
        await reply.fail("network error: connection reset; press Ctrl+R to retry", message)
        await pilot.pause()
        assert _items(reply.body) == ["• one", "• two", "• three", "• fo"]
        assert [group.source for group in reply.body.groups] == [
            "Intro.\n",
            "- one\n",
            "- two\n",
            "- three\n",
            "- fo\n",
        ]


async def test_a_list_streamed_across_a_change_of_width_looks_as_a_fresh_render() -> None:
    """The terminal narrows while a list streams: the widget that draws the items wraps
    them all again, as the blocks of a fresh render at the new width are."""
    text = "Intro.\n\n" + "".join(
        f"- item {i}, long enough to wrap once the terminal narrows to forty columns\n"
        for i in range(6)
    )
    app = LogApp(True)
    async with app.run_test(size=(100, 60)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        reply.append_text(text[:200])
        await wait_until(pilot, lambda: not reply.pending)
        await pilot.resize_terminal(50, 60)
        await pilot.pause()
        reply.append_text(text[200:])
        streamed = await _finished_cells(app, pilot, reply, text)
    assert streamed == await _fresh_cells(text, (50, 60))


def _random_lists(seed: int) -> str:
    """Lists of every shape the splitter and the run meet, in a random order: tight and
    loose, bullets and numbers, items that wrap, nested lists, items of two paragraphs,
    with paragraphs and headings between them."""
    import random

    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "**bold**", "`code`", "中文", "epsilon", "eta"]

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))

    parts = []
    for _ in range(rng.randint(6, 10)):
        kind = rng.choice(["paragraph", "heading", "bullets", "numbers", "nested", "loose"])
        if kind == "paragraph":
            parts.append(text(3, 30) + "\n")
        elif kind == "heading":
            parts.append(f"## {text(1, 4)}\n")
        elif kind == "bullets":
            parts.append("".join(f"- {text(1, 20)}\n" for _ in range(rng.randint(1, 11))))
        elif kind == "numbers":
            start = rng.randint(1, 9)
            count = rng.randint(1, 11)
            parts.append("".join(f"{start + i}. {text(1, 12)}\n" for i in range(count)))
        elif kind == "nested":
            parts.append(f"- {text(1, 5)}\n  - {text(1, 5)}\n- {text(1, 5)}\n")
        else:
            parts.append("".join(f"* {text(1, 8)}\n\n" for _ in range(rng.randint(2, 4))))
    return "\n".join(parts)


@pytest.mark.parametrize("seed", range(6))
async def test_random_lists_streamed_in_random_pieces_look_as_a_fresh_render(seed: int) -> None:
    import random

    text = _random_lists(seed)
    rng = random.Random(seed)
    app = LogApp(True)
    async with app.run_test(size=(70, 150)) as pilot:
        log = app.query_one(MessageLog)
        reply = await log.begin_reply("test:model")
        start = 0
        while start < len(text):
            size = rng.choice([1, 2, 5, 13, 40])
            reply.append_text(text[start : start + size])
            start += size
            await pilot.pause(rng.choice([0, 0.005, 0.02]))
        streamed = await _finished_cells(app, pilot, reply, text)
    assert streamed == await _fresh_cells(text, (70, 150)), text
