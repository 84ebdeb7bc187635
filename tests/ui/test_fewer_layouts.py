"""`skip_virtual_size_layouts`: which size changes still get Textual's second layout."""

from __future__ import annotations

from typing import Any

import pytest
from textual._compositor import Compositor
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region, Size
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


async def test_a_scrollbar_the_layout_changed_is_painted_in_the_same_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Text that grows in a scrolling log changes the scrollbar's thumb: one frame paints
    both, not a second one for the scrollbar alone (each time a streaming reply grew)."""
    skip_virtual_size_layouts()
    app = Log()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        log = app.query_one(VerticalScroll)
        bar = log.vertical_scrollbar
        painted: list[set[Region]] = []
        render_update = Compositor.render_update

        def noting(compositor: Compositor, *args: Any, **kwargs: Any) -> Any:
            regions = set(compositor._dirty_regions)
            update = render_update(compositor, *args, **kwargs)
            if update is not None:
                painted.append(regions)
            return update

        monkeypatch.setattr(Compositor, "render_update", noting)
        app.query_one("#text", Static).update("\n".join(f"line {n}" for n in range(80)))
        for _ in range(4):
            await pilot.pause()
        assert bar.window_virtual_size == 80  # a smaller thumb
        assert len(painted) == 1, painted
        assert any(region.contains_region(bar.region) for region in painted[0])
