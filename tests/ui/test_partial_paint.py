"""Screen updates paint only the rows that changed (tui/app/partial_paint.py), and paint
them as a full render of the screen shows them."""

from __future__ import annotations

from typing import Any

import pytest
from rich.segment import Segment
from textual._compositor import ChopsUpdate, Compositor
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static

from tests.server import FakeLLMServer, Reply
from tests.ui.conftest import MakeApp, wait_until
from tui.app import partial_paint
from tui.app.widgets.message_log import MessageLog

REPLY = "\n\n".join(
    [
        "## Streaming at length",
        "A paragraph that runs long enough to wrap over several lines of the log, "
        "so that it grows row by row as the tokens arrive. " * 3,
        "- first item\n- second item, **bold**\n- third item, `code`",
        "```python\n" + "\n".join(f"value_{i} = compute({i})" for i in range(12)) + "\n```",
        "| name | value |\n| --- | --- |\n| alpha | 1 |\n| beta | 2 |",
        "1. one\n2. two\n3. three",
        "中文的段落，也要换行。" * 8,
        "The end.",
    ]
)


def _plain(strip: Strip) -> list[tuple[str, Any]]:
    return [(segment.text, segment.style) for segment in Segment.simplify(strip)]


def _painted(update: ChopsUpdate, y: int, x1: int, x2: int) -> Strip | None:
    """What the update writes on row y between x1 and x2, or None if part is missing."""
    parts: list[Strip] = []
    for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
        if x >= x2 or end <= x1:
            continue
        if strip is None:
            return None
        parts.append(strip.crop(max(x1, x) - x, min(end, x2) - x))
    return Strip.join(parts)


async def test_every_partial_update_paints_what_a_full_render_shows(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_server.script(Reply(text=REPLY, rate=150))
    checked: list[int] = []
    in_update: list[bool] = []
    wrong: list[str] = []
    partial_update = partial_paint._original_partial_update  # Textual's, which ours wraps

    def checking(compositor: Compositor) -> ChopsUpdate | None:
        in_update.append(True)
        try:
            update = partial_update(compositor)
        finally:
            in_update.clear()
        if update is None:
            return None
        full = compositor.render_strips()
        for y, x1, x2 in update.spans:
            painted = _painted(update, y, x1, x2)
            expected = full[y].crop(x1, x2)
            if painted is None or _plain(painted) != _plain(expected):
                wrong.append(f"row {y} [{x1}:{x2}]: {painted and painted.text!r}")
        checked.append(len(update.spans))
        return update

    monkeypatch.setattr(partial_paint, "_original_partial_update", checking)
    log_rows: list[int] = []  # rows the log was asked to render, per partial update
    render_lines = MessageLog.render_lines

    def counting(widget: MessageLog, crop: Region) -> list[Strip]:
        if in_update:
            log_rows.append(crop.height)
        return render_lines(widget, crop)

    monkeypatch.setattr(MessageLog, "render_lines", counting)
    app = make_app(new=True)
    async with app.run_test(size=(90, 28)) as pilot:
        chat = app.chat
        chat.input_bar.focus()
        await pilot.press(*"go", "enter")
        await pilot.app.workers.wait_for_complete()
        await wait_until(pilot, lambda: chat.live is None)
        await pilot.pause()
        height = chat.log_widget.size.height
    assert not wrong, wrong[:5]
    assert len(checked) > 10  # the reply streamed over many partial updates
    # The log, behind the reply, is asked for few of its rows (Textual alone asks for
    # every visible row of every widget inside the changed box's containers; here only
    # rows where the changed columns are not all covered by the blocks in front).
    assert sum(log_rows) < len(checked) * height // 8, (sum(log_rows), len(checked), height)


def _fresh_render(compositor: Compositor, monkeypatch: pytest.MonkeyPatch) -> list[Strip]:
    """The whole screen rendered from scratch, as Textual renders it (every widget, every
    row), every widget with empty line caches: a line a widget kept from before a change
    cannot hide a missed repaint."""
    from textual._styles_cache import StylesCache

    widgets = list(compositor.visible_widgets)
    kept = [widget._styles_cache for widget in widgets]
    for widget in widgets:
        widget._styles_cache = StylesCache()
    with monkeypatch.context() as patch:
        patch.setattr(Compositor, "_get_renders", partial_paint._original)
        try:
            return compositor.render_strips()
        finally:
            for widget, cache in zip(widgets, kept, strict=True):
                widget._styles_cache = cache


def _emulate_terminal(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Strip], list[str]]:
    """A terminal's rows, kept from the screen updates alone (full ones, and the changed
    rows of partial ones), and the kind of each update."""
    terminal: list[Strip] = []
    updates: list[str] = []
    render_update = Compositor.render_update

    def emulating(compositor: Compositor, *args: Any, **kwargs: Any) -> Any:
        update = render_update(compositor, *args, **kwargs)
        if isinstance(update, ChopsUpdate):
            updates.append("partial")
            for y, x1, x2 in update.spans:
                painted = _painted(update, y, x1, x2)
                assert painted is not None
                row = terminal[y]
                terminal[y] = Strip.join([row.crop(0, x1), painted, row.crop(x2, row.cell_length)])
        elif update is not None and hasattr(update, "strips"):
            updates.append("full")
            terminal[:] = [Strip.join(line) for line in update.strips]
        return update

    monkeypatch.setattr(Compositor, "render_update", emulating)
    return terminal, updates


def _text(strips: list[Strip]) -> list[str]:
    return ["".join(segment.text for segment in strip) for strip in strips]


class _Lines(partial_paint.RepaintsWhatMoved, VerticalScroll):
    pass


class _LinesApp(App[None]):
    def compose(self) -> ComposeResult:
        with _Lines():
            for i in range(30):
                yield Static(f"line {i}", id=f"line-{i}")


async def test_lines_that_moved_are_repainted_when_the_map_was_rebuilt_since_the_paint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a scroll Textual rebuilds its map of widgets lazily, on the next look-up of a
    widget's place. A line mounted meanwhile, and the lines it pushed down, then stand at
    their new places in the map that the next layout compares with, so that layout saw
    nothing move: the lines below the new one kept their old text on the terminal."""
    partial_paint.paint_changed_rows_only()
    terminal, updates = _emulate_terminal(monkeypatch)
    app = _LinesApp()
    async with app.run_test(size=(40, 10)) as pilot:
        lines = app.query_one(_Lines)
        lines.scroll_to(y=3, animate=False)
        await pilot.pause()
        assert _text(terminal)[0].startswith("line 3")
        new = Static("new line")
        with app.batch_update():  # no layout until the batch ends
            await lines.mount(new, before="#line-5")
            assert new.region  # the look-up rebuilds the map, with the new line in it
        await pilot.pause()
        await pilot.pause()
        shown = _text(terminal)
        assert shown == _text(_fresh_render(app.screen._compositor, monkeypatch))
        assert [row.rstrip() for row in shown[1:4]] == ["line 4", "new line", "line 5"]
    assert "partial" in updates  # the lines were repainted in part, not the whole screen


async def test_the_terminal_shows_what_a_fresh_render_shows(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep a terminal's screen from the updates alone (full ones, and the changed rows of
    partial ones). Whenever the app has nothing left to paint (a reply stalled halfway, a
    reply finished, a key handled), the terminal must equal the whole screen rendered from
    nothing: a row of the log that changed and was never repainted shows here."""
    stalls = (30, 90, 160)
    lab_server.script(
        *(Reply(text=REPLY, rate=400, stall_after=n, stall_seconds=1.5) for n in stalls),
        Reply(text=REPLY, rate=0),
    )
    tokens = Reply(text=REPLY).text_tokens()
    terminal, updates = _emulate_terminal(monkeypatch)
    app = make_app(new=True)
    wrong: list[str] = []

    async def check(moment: str) -> None:
        await pilot.pause()
        await pilot.pause()
        fresh = _fresh_render(app.screen._compositor, monkeypatch)
        log = chat.log_widget.region  # (the prompt's cursor is drawn apart from its lines)
        for y, (shown, expected) in enumerate(zip(terminal, fresh, strict=True)):
            if log.y <= y < log.bottom and _plain(shown) != _plain(expected):
                wrong.append(f"{moment}, row {y}: {_plain(shown)!r} != {_plain(expected)!r}")

    async with app.run_test(size=(90, 24)) as pilot:
        chat = app.chat
        for n in (*stalls, None):
            chat.input_bar.focus()
            await pilot.press(*"go", "enter")
            if n is not None:  # the reply stalls after n tokens: the app goes quiet
                shown = "".join(tokens[:n])

                def stalled(shown: str = shown) -> bool:
                    view = chat.live.view if chat.live is not None else None
                    return view is not None and view.text == shown and not view.pending

                await wait_until(pilot, stalled)
                await check(f"stalled after {n} tokens")
            await pilot.app.workers.wait_for_complete()
            await wait_until(pilot, lambda: chat.live is None)
            await check(f"reply {n} finished")
        chat.log_widget.focus()
        for key in ("up", "up", "pageup", "pageup", "end", "down", "ctrl+s"):
            await pilot.press(key)
            await check(f"after {key}")
    assert updates.count("partial") > 20
    assert not wrong, "\n".join(wrong[:8])


def _geometry(y: int, height: int, clip: Region | None = None) -> Any:
    from textual.geometry import Size, Spacing
    from textual.map_geometry import MapGeometry

    region = Region(10, y, 40, height)
    return MapGeometry(
        region, ((0, 0, 1),), clip or Region(0, 0, 80, 24), Size(40, height), Size(40, 24),
        region, Spacing(),
    )  # fmt: skip


def test_a_widget_that_grew_at_the_bottom_repaints_only_the_rows_that_changed() -> None:
    from textual.widget import Widget

    widget = Widget()
    # 5 -> 7 rows: the two new ones, and the old last row (a bottom edge may have moved).
    assert partial_paint._changed_rows(widget, _geometry(3, 5), _geometry(3, 7)) == [
        Region(10, 7, 40, 3)
    ]
    # Shrunk: the rows given up, and the new last row.
    assert partial_paint._changed_rows(widget, _geometry(3, 7), _geometry(3, 5)) == [
        Region(10, 7, 40, 3)
    ]
    # Grown below the clip: nothing that shows changed but the last visible row.
    clip = Region(0, 0, 80, 8)
    assert partial_paint._changed_rows(widget, _geometry(3, 5, clip), _geometry(3, 9, clip)) == [
        Region(10, 7, 40, 1)
    ]
    # Moved: all of it.
    assert partial_paint._changed_rows(widget, _geometry(3, 5), _geometry(4, 5)) is None
    widget.styles.content_align_vertical = "middle"  # its rows above move too
    assert partial_paint._changed_rows(widget, _geometry(3, 5), _geometry(3, 7)) is None


async def test_a_new_session_leaves_no_scrollbar_behind(
    lab_server: FakeLLMServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log keeps a gutter for its scrollbar. A long reply shows the scrollbar there; in
    the empty new session that follows it is gone, and so must its thumb be from the
    terminal."""
    lab_server.script(Reply(text="A short one.", rate=0), Reply(text=REPLY * 2, rate=400))
    terminal, _updates = _emulate_terminal(monkeypatch)
    app = make_app(new=True)
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat
        for prompt in ("first", "second"):
            chat.input_bar.focus()
            await pilot.press(*prompt, "enter")
            await pilot.app.workers.wait_for_complete()
            await wait_until(pilot, lambda: chat.live is None)
        await pilot.pause(0.5)  # the reserve below the reply is let go
        assert chat.log_widget.show_vertical_scrollbar
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: not chat.log_widget.show_vertical_scrollbar)
        await pilot.pause()
        await pilot.pause()
        fresh = _text(_fresh_render(app.screen._compositor, monkeypatch))
        assert _text(terminal) == fresh


async def test_a_line_added_at_the_end_repaints_none_of_the_lines_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Textual numbers siblings in its painting order, last child first: a line mounted at
    the end renumbers all the others, which is no reason to repaint them (a streaming
    reply's hand-over repainted its whole chunk)."""
    partial_paint.paint_changed_rows_only()
    terminal, _updates = _emulate_terminal(monkeypatch)
    app = _LinesApp()
    dirty: list[Region] = []
    reflow = Compositor.reflow

    def noting(compositor: Compositor, parent: Any, size: Any) -> Any:
        result = reflow(compositor, parent, size)
        dirty.extend(compositor._dirty_regions)
        return result

    async with app.run_test(size=(40, 40)) as pilot:
        lines = app.query_one(_Lines)
        await pilot.pause()
        first = app.query_one("#line-0", Static)
        order = app.screen._compositor._full_map[first].order
        monkeypatch.setattr(Compositor, "reflow", noting)
        new = Static("new line")
        await lines.mount(new)
        await pilot.pause()
        await pilot.pause()
        assert app.screen._compositor._full_map[first].order != order  # renumbered
        rows = {y for region in dirty for y in range(region.y, region.bottom)}
        assert new.region.y in rows
        assert not rows & set(range(0, new.region.y)), sorted(rows)
        assert _text(terminal) == _text(_fresh_render(app.screen._compositor, monkeypatch))
