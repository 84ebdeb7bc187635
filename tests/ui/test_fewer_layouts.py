"""`skip_virtual_size_layouts`: which size changes still get Textual's second layout."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.widgets import Static

from tui.app.fewer_layouts import _needs_layout, skip_virtual_size_layouts


class Log(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("\n".join(f"line {n}" for n in range(40)), id="text")


async def test_a_second_layout_only_where_the_scroll_offset_may_move() -> None:
    skip_virtual_size_layouts()
    app = Log()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        log = app.query_one(VerticalScroll)
        text = app.query_one("#text", Static)
        size, virtual = log._size, log.virtual_size
        assert virtual.height == 40

        # Content that grew in the same viewport (a streaming reply): no second layout.
        assert not _needs_layout(log, size, Size(virtual.width, virtual.height + 5))
        # Content that shrank, or a viewport that changed: the offset may be clamped.
        assert _needs_layout(log, size, Size(virtual.width, virtual.height - 5))
        assert _needs_layout(log, Size(size.width, size.height + 2), virtual)
        # A widget that does not scroll never needs it.
        assert not _needs_layout(text, text._size, Size(10, 100))

        # And the log still ends where its content ends after growing and shrinking.
        log.scroll_end(animate=False)
        text.update("\n".join(f"line {n}" for n in range(60)))
        await pilot.pause()
        log.scroll_end(animate=False)
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y == 60 - log.scrollable_content_region.height
        text.update("\n".join(f"line {n}" for n in range(20)))
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y == 20 - log.scrollable_content_region.height
