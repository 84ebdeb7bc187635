"""A widget's new text marks for repainting the rows whose lines changed, and only those;
what the screen then shows is what a fresh render of the new text shows."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.content import Content
from textual.geometry import Region
from textual.widgets import Static

from tui.app.widgets.changed_rows import update_changed_rows

WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"


class OneStatic(App[None]):
    CSS = "Static { width: 30; height: 8; }"

    def compose(self) -> ComposeResult:
        yield Static(Content(WORDS))


def _rows(widget: Static) -> set[int]:
    """The rows (of the widget's content) its pending repaint regions cover."""
    offset = widget.content_offset
    return {
        y - offset.y for region in widget._repaint_regions for y in range(region.y, region.bottom)
    }


def _screen_text(app: App[None], widget: Static) -> list[str]:
    lines = app.screen._compositor.render_strips()
    region = widget.content_region
    return [
        lines[y].crop(region.x, region.right).text.rstrip() for y in range(region.y, region.bottom)
    ]


async def test_text_added_at_the_end_repaints_the_last_rows_only() -> None:
    app = OneStatic()
    async with app.run_test(size=(40, 12)) as pilot:
        widget = app.query_one(Static)
        await pilot.pause()
        before = list(widget._render_cache.lines)
        assert len([line for line in before if line.text.strip()]) == 3  # three wrapped rows

        update_changed_rows(widget, Content(WORDS + " xy"))
        assert _rows(widget) == {2}  # the last row grew
        assert not widget._dirty_regions  # rendered already: the paint reuses the lines
        update_changed_rows(widget, Content(WORDS + " xy fifteen"))
        assert _rows(widget) == {2, 3}  # and a row began (both still to be painted)
        await pilot.pause()
        assert not widget._repaint_regions
        assert widget._render_cache.lines[:2] == before[:2]
        assert _screen_text(app, widget)[:4] == [
            "one two three four five six",
            "seven eight nine ten eleven",
            "twelve thirteen fourteen xy",
            "fifteen",
        ]


async def test_a_change_at_the_start_repaints_every_row_that_shows_it() -> None:
    app = OneStatic()
    async with app.run_test(size=(40, 12)) as pilot:
        widget = app.query_one(Static)
        await pilot.pause()
        update_changed_rows(widget, Content(WORDS.replace("one", "ONE", 1)))
        assert _rows(widget) == {0}
        update_changed_rows(widget, Content("short"))
        assert _rows(widget) == {0, 1, 2}  # the rows the long text had are blank now
        await pilot.pause()
        assert _screen_text(app, widget)[:3] == ["short", "", ""]


async def test_a_widget_not_yet_rendered_at_its_size_is_updated_whole() -> None:
    app = OneStatic()
    async with app.run_test(size=(40, 12)) as pilot:
        widget = app.query_one(Static)
        await pilot.pause()
        widget.refresh()  # dirty: its lines are not what the screen will show
        update_changed_rows(widget, Content("new text"))
        assert widget._repaint_regions == {widget.outer_size.region}
        await pilot.pause()
        assert _screen_text(app, widget)[0] == "new text"


def test_bands_join_adjacent_rows() -> None:
    from tui.app.widgets.changed_rows import _bands

    rows = [Region(0, y, 5, 1) for y in (1, 2, 3, 6, 8, 9)]
    assert _bands(rows) == [Region(0, 1, 5, 3), Region(0, 6, 5, 1), Region(0, 8, 5, 2)]


class GrowingStatic(App[None]):
    CSS = "Static { width: 30; height: auto; }"

    def compose(self) -> ComposeResult:
        yield Static(Content("one line"))


async def test_a_resized_tail_is_not_left_marked_for_a_whole_repaint() -> None:
    """Textual marks a resized widget for repainting whole after the frame has taken its
    repaint regions, so the whole widget was repainted at its next small update."""
    from types import MethodType

    from tui.app.widgets.message_view import _size_updated_once

    app = GrowingStatic()
    async with app.run_test(size=(40, 12)) as pilot:
        widget = app.query_one(Static)
        widget._size_updated = MethodType(_size_updated_once, widget)  # type: ignore[method-assign]
        await pilot.pause()
        widget.update(Content(WORDS))  # three rows: a layout resizes it
        await pilot.pause()
        assert widget.size.height == 3
        assert not widget._repaint_regions
        update_changed_rows(widget, Content(WORDS + " xy"))
        assert _rows(widget) == {2}
        await pilot.pause()
        assert _screen_text(app, widget)[2] == "twelve thirteen fourteen xy"
