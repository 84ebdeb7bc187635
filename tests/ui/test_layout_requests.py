"""`record_whole_layout_paths`: a child that grew from inside is laid out again, even when a
later sibling asked for a layout of its own in the same frame."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from tui.app.fewer_layouts import skip_virtual_size_layouts
from tui.app.layout_requests import record_whole_layout_paths


class Stream(Widget):
    DEFAULT_CSS = "Stream { layout: stream; height: auto; }"


class StreamApp(App[None]):
    def compose(self) -> ComposeResult:
        with Stream(id="outer"):
            with Stream(id="first"):
                yield Static("one line", id="inner")
            yield Static("after", id="second")


async def test_a_child_that_grew_inside_is_placed_again_beside_one_that_asked() -> None:
    skip_virtual_size_layouts()  # as the app runs: no second layout to hide the miss
    record_whole_layout_paths()
    app = StreamApp()
    async with app.run_test(size=(40, 12)) as pilot:
        first = app.query_one("#first", Stream)
        second = app.query_one("#second", Static)
        assert first.region.height == 1
        # In one turn: the first child grows from inside, the second asks for itself.
        app.query_one("#inner", Static).update("line 1\nline 2\nline 3")
        second.update("after, changed")
        await pilot.pause()
        # Textual kept the first child's old placement (1 line): the second then sat on
        # top of its last two lines.
        assert first.region.height == 3
        assert second.region.y == first.region.bottom
        assert "line 3" in "\n".join(
            strip.text for strip in app.screen._compositor.render_strips()
        )
