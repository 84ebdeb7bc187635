"""A screen update renders the rows that changed, not every widget whole.

For a partial update Textual's compositor takes the box around the changed regions and asks
every widget whose clip (its container's viewport) overlaps that box for all of its visible
lines; the lines outside the changed rows are then thrown away. A streaming reply changes a
few rows of its last block per update, yet the session list, the log, the reply, its body
and chunks each rendered 35-40 lines a frame. Here each widget is asked only for its rows
inside the box, and a widget with none is skipped. What reaches the terminal is the same:
only changed rows were ever written.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip

_Renders = Iterable[tuple[Region, Region, list[Strip]]]


def _rows_only_renders(compositor: Compositor, crop: Region | None = None) -> _Renders:
    """`Compositor._get_renders`, each widget's clip cut to the crop's rows."""
    if crop is None:
        yield from _original(compositor, crop)
        return
    top, bottom = crop.y, crop.bottom
    overlaps = crop.overlaps
    for widget, (region, clip) in compositor.visible_widgets.items():
        if not overlaps(region.intersection(clip)):
            continue  # no cell of it is in the update
        # Whole rows: the compositor cuts them where widgets' edges are.
        clip_top, clip_bottom = max(clip.y, top), min(clip.bottom, bottom)
        rows = Region(clip.x, clip_top, clip.width, clip_bottom - clip_top)
        x, y, width, height = region.intersection(rows)
        if width and height:
            lines = widget.render_lines(Region(x - region.x, y - region.y, width, height))
            yield region, rows, lines


_original = Compositor._get_renders


def paint_changed_rows_only() -> None:
    """Patch the compositor (idempotent)."""
    Compositor._get_renders = _rows_only_renders  # type: ignore[assignment,method-assign]
