"""A widget's new text repaints the rows whose lines changed, not the widget whole.

The last block of a streaming reply (a paragraph, a heading, an open fence's code) gets a
few more words or a line at each update. `Static.update` refreshes the widget whole: every
row is styled again, composited and compared with the screen, though as a rule only the
last line or two changed (a 4,000-token reply at 100 tokens/s re-rendered ~670 rows of
fence code and ~470 of paragraph for it). Here the new text's lines are rendered at once,
which the frame's paint would have done anyway, and compared with the lines on screen;
only the rows that differ are marked for repainting, and the paint reuses the rendering.
"""

from __future__ import annotations

from itertools import zip_longest

from textual.geometry import Region
from textual.strip import Strip
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static


def update_changed_rows(widget: Static, content: VisualType) -> None:
    """`widget.update(content, layout=False)`, repainting only the rows that changed.

    When the widget's last rendering is not what is on screen (not yet painted, resized,
    dirty), or Static's storage is not as expected, it is Textual's own update."""
    before = rendered_lines(widget)
    if before is None or not hasattr(widget, "_Static__visual"):
        widget.update(content, layout=False)
        return
    widget._Static__content = content  # type: ignore[attr-defined]
    widget._Static__visual = None  # made again on use
    repaint_changed_rows(widget, before)


def repaint_changed_rows(widget: Widget, before: list[Strip] | None) -> None:
    """After a change to what `widget` renders, made without a refresh: render it, and
    refresh the rows that differ from `before` (`rendered_lines` taken before the change),
    or all of it when that is None."""
    if before is None:
        widget.refresh()
        return
    widget._layout_cache.clear()  # holds the visual rendered before (`Widget._render`)
    widget._render_content()
    changed = _changed(before, widget)
    if changed:
        widget.refresh(*changed)
        widget._dirty_regions.clear()  # rendered above: the paint takes the lines as they are


def rendered_lines(widget: Widget) -> list[Strip] | None:
    """The widget's rendered lines, if rendered at its size since its last change: on
    screen, but for the rows still waiting in its repaint regions. Else None."""
    cache = widget._render_cache
    size = widget.size
    if not widget.is_mounted or not size or widget._dirty_regions or cache.size != size:
        return None
    return cache.lines


def _changed(before: list[Strip], widget: Widget) -> list[Region]:
    """Bands of the rows (in the widget's content) whose rendered lines differ."""
    width = widget.size.width
    rows = [
        Region(0, row, width, 1)
        for row, (old, new) in enumerate(zip_longest(before, widget._render_cache.lines))
        if old != new
    ]
    return _bands(rows) if rows else []


def _bands(rows: list[Region]) -> list[Region]:
    """Adjacent one-row regions joined into bands."""
    bands = [rows[0]]
    for row in rows[1:]:
        last = bands[-1]
        if row.y == last.bottom:
            bands[-1] = Region(last.x, last.y, last.width, last.height + 1)
        else:
            bands.append(row)
    return bands
