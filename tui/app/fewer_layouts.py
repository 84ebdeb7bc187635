"""One Textual layout pass per change, not two.

After each layout Textual stores every resized widget's virtual (scrollable) size in a
reactive declared with `layout=True`, so any widget that changed size, which is every new
block of a streaming reply, asks for a second layout of the whole screen and one more
frame. Only a widget that scrolls uses its virtual size; for all others it is stored
without a refresh. A scrolling widget (overflow auto or scroll) gets its second layout
only when its scroll offset may move (`_needs_layout`), not for every line a reply adds to
the log. `ScrollView` widgets (input, text area, option list) have their own
`_size_updated`. Measured on a reply streamed at 100 tokens/s: about a third of the
layouts went, then a tenth of the rest.

A scrollbar the layout changed is painted in the layout's own frame, not one after it: a
reply of 4,000 tokens at 100 tokens/s had 23 frames that painted the log's scrollbar alone.
"""

from __future__ import annotations

from textual.dom import NoScreen
from textual.geometry import Size
from textual.widget import Widget

_SCROLLS = ("auto", "scroll")


def _scrolls(widget: Widget) -> bool:
    styles = widget.styles
    return styles.overflow_y in _SCROLLS or styles.overflow_x in _SCROLLS


def _needs_layout(widget: Widget, size: Size, virtual_size: Size) -> bool:
    """A second layout is needed only where the scroll offset may have to move: a
    scrolling widget whose content shrank or whose viewport changed (its scroll offset
    is clamped to the new range, and the first layout placed its children at the old
    one). Content that grew inside the same viewport, a streaming reply in the log, moves
    nothing: the scrollbar is updated without a layout."""
    if not _scrolls(widget):
        return False
    old = widget.virtual_size
    shrank = virtual_size.height < old.height or virtual_size.width < old.width
    return shrank or size != widget._size


def _paint_in_this_frame(scrollbar: Widget) -> None:
    """A scrollbar that the layout under way changed (its thumb's size or place) asks to
    be painted, but its request reaches the screen as a message, after this frame: each
    time a streaming reply grew the log, a second frame painted the scrollbar alone. The
    layout's frame is yet to be painted, so its region is painted there instead."""
    try:
        compositor = scrollbar.screen._compositor
    except NoScreen:
        return
    geometry = compositor.visible_widgets.get(scrollbar)
    if geometry is None:
        return
    shown = geometry[0].intersection(geometry[1])
    if shown:
        compositor._dirty_regions.add(shown)
    scrollbar._repaint_required = False
    scrollbar._repaint_regions.clear()


def skip_virtual_size_layouts() -> None:
    """Patch `Widget._size_updated` (idempotent): a second layout only where
    `_needs_layout` says so."""
    original = Widget._size_updated
    if getattr(original, "_liu_once", False):
        return

    def size_updated(
        self: Widget, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        layout = layout and _needs_layout(self, size, virtual_size)
        changed = original(self, size, virtual_size, container_size, layout)
        for scrollbar in (self._vertical_scrollbar, self._horizontal_scrollbar):
            if scrollbar is not None and scrollbar._repaint_required:
                _paint_in_this_frame(scrollbar)
        return changed

    size_updated._liu_once = True  # type: ignore[attr-defined]
    Widget._size_updated = size_updated  # type: ignore[method-assign]
