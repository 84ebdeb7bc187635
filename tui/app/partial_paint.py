"""A screen update renders the rows that changed, not every widget whole.

For a partial update Textual's compositor takes the box around the changed regions and asks
every widget whose clip (its container's viewport) overlaps that box for all of its visible
lines; the lines outside the changed rows are then thrown away. A streaming reply changes a
few rows of its last block per update, yet the session list, the log, the reply, its body
and chunks each rendered 35-40 lines a frame. Here each widget is asked only for the rows in
which something changed within its columns, and a widget with none is skipped. What reaches
the terminal is the same: only changed rows were ever written.

After a layout, likewise, only the rows where something moved, grew or appeared are marked
changed (`_reflow_repainting_less`, `RepaintsWhatMoved`). Since Textual's map of widgets
can change without a layout, each paint also repaints whatever stands elsewhere than at
the last paint or layout (`_unaccounted`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Self
from weakref import WeakKeyDictionary

from textual._compositor import ChopsUpdate, Compositor, LayoutUpdate, ReflowResult
from textual.geometry import Region, Size
from textual.map_geometry import MapGeometry
from textual.strip import Strip
from textual.widget import Widget

from tui.app import message_reflow

_Renders = Iterable[tuple[Region, Region, list[Strip]]]


_Band = tuple[int, int, tuple[tuple[int, int], ...]]
"""Rows [start, end) that change in the same columns: ((x1, x2), ...)."""


def _bands(regions: Iterable[Region], screen: Region) -> list[_Band]:
    """The changed regions as bands of rows, each with the columns that change in it."""
    columns: dict[int, list[tuple[int, int]]] = {}
    for region in regions:
        x, y, width, height = region.intersection(screen)
        for row in range(y, y + height):
            columns.setdefault(row, []).append((x, x + width))
    bands: list[_Band] = []
    for row in sorted(columns):
        spans = tuple(sorted(set(columns[row])))
        if bands and bands[-1][1] == row and bands[-1][2] == spans:
            bands[-1] = (bands[-1][0], row + 1, spans)
        else:
            bands.append((row, row + 1, spans))
    return bands


_Front = tuple[int, int, int, int]
"""A widget rendered earlier in the frame, in front of the ones after it: x1, x2, y1, y2."""


def _rows_to_render(
    visible: Region, bands: list[_Band], in_front: list[_Front]
) -> list[tuple[int, int]]:
    """The runs of rows in which some change falls in the widget's visible columns and
    is not hidden there by a widget in front of it.

    Only the changed columns of a row reach the terminal: a container whose children
    cover those columns (a reply's body beside its one-column padding, the log, the
    screen's containers) has nothing to show in that row, however wide it is."""
    left, right, top, bottom = visible.x, visible.right, visible.y, visible.bottom
    rows: list[tuple[int, int]] = []
    for start, end, spans in bands:
        start, end = max(start, top), min(end, bottom)
        if start >= end:
            continue
        for x1, x2 in spans:
            x1, x2 = max(x1, left), min(x2, right)
            if x1 >= x2:
                continue
            hiding = [(y1, y2) for f1, f2, y1, y2 in in_front if f1 <= x1 and f2 >= x2]
            rows.extend(_uncovered([(start, end)], hiding) if hiding else [(start, end)])
    runs: list[tuple[int, int]] = []
    for first, last in sorted(rows):
        if runs and runs[-1][1] >= first:
            runs[-1] = (runs[-1][0], max(runs[-1][1], last))
        else:
            runs.append((first, last))
    return runs


def _changes_within(visible: Region, bands: list[_Band]) -> bool:
    """Whether some change falls in the widget's visible columns and rows."""
    left, right, top, bottom = visible.x, visible.right, visible.y, visible.bottom
    return any(
        start < bottom and end > top and any(x1 < right and x2 > left for x1, x2 in spans)
        for start, end, spans in bands
    )


_changed: list[Region] | None = None
"""The regions the partial update under way repaints, for `_rows_only_renders` (Textual
hands them to `_regions_to_spans` just before it renders)."""


def _spans_noting_regions(
    cls: type[Compositor], regions: Iterable[Region]
) -> Iterable[tuple[int, int, int]]:
    """`Compositor._regions_to_spans`, keeping the regions for the render that follows."""
    global _changed
    _changed = list(regions)
    return _original_regions_to_spans(_changed)


_original_regions_to_spans = Compositor._regions_to_spans
_noting_regions = classmethod(_spans_noting_regions)


def _uncovered(
    runs: list[tuple[int, int]], covered: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """`runs` less the rows in `covered` (both runs of rows, [start, end))."""
    for cover_top, cover_bottom in covered:
        kept: list[tuple[int, int]] = []
        for top, bottom in runs:
            if cover_bottom <= top or cover_top >= bottom:
                kept.append((top, bottom))
                continue
            if top < cover_top:
                kept.append((top, cover_top))
            if cover_bottom < bottom:
                kept.append((cover_bottom, bottom))
        runs = kept
    return runs


def _rows_only_renders(compositor: Compositor, crop: Region | None = None) -> _Renders:
    """`Compositor._get_renders`, each widget asked only for the rows in which something
    changed within its columns, and not for rows where widgets in front of it cover all
    the changed columns.

    Textual asks every widget in the box around all changes for all its rows there: a
    footer and a reply changing together repainted the session list beside the reply. And
    every container renders its background under its children, to be thrown away where
    they cover it: seven containers deep, that was most of the lines of a frame."""
    if crop is None:
        yield from _original(compositor, crop)
        return
    global _changed
    changed, _changed = _changed, None
    bands = _bands(changed if changed is not None else [crop], crop)
    in_front: list[_Front] = []
    for widget, (region, clip) in compositor.visible_widgets.items():  # front to back
        visible = region.intersection(clip)
        if not _changes_within(visible, bands):
            continue
        runs = _rows_to_render(visible, bands, in_front)
        in_front.append((visible.x, visible.right, visible.y, visible.bottom))
        for top, bottom in runs:
            # Whole rows: the compositor cuts them where widgets' edges are.
            rows = Region(clip.x, top, clip.width, bottom - top)
            x, y, width, height = region.intersection(rows)
            if width and height:
                lines = widget.render_lines(Region(x - region.x, y - region.y, width, height))
                yield region, rows, lines


_original = Compositor._get_renders

_Places = dict[Widget, tuple[Region, Region]]
_accounted: WeakKeyDictionary[Compositor, _Places] = WeakKeyDictionary()
"""Where each visible widget stood (region, clip) at the last paint or the last reflow
after it: places the terminal shows, or will once the dirty regions are painted."""


def _account(compositor: Compositor) -> None:
    _accounted[compositor] = dict(compositor.visible_widgets)


def _partial_update_with_unaccounted(compositor: Compositor) -> ChopsUpdate | None:
    """`Compositor.render_partial_update`, also painting widgets that moved, appeared or
    went since the last paint or reflow: Textual rebuilds its map, without a reflow, when
    it is asked to repaint a widget it has not placed yet (`update_widgets`), and a
    scrollbar hidden meanwhile left its thumb on the terminal."""
    compositor._dirty_regions.update(_unaccounted(compositor, set()))
    update = _original_partial_update(compositor)
    _account(compositor)
    return update


def _full_update_accounted(compositor: Compositor, simplify: bool = False) -> LayoutUpdate:
    update = _original_full_update(compositor, simplify=simplify)
    _account(compositor)
    return update


_original_partial_update = Compositor.render_partial_update
_original_full_update = Compositor.render_full_update


# -- after a layout: the rows whose content moved, not every widget whose geometry changed


def _grows_at_the_bottom(widget: Widget) -> bool:
    """Whether the rows above a new bottom edge render as before: true of every widget
    whose content sits at the top (the blocks of a reply and their containers)."""
    return widget.styles.content_align_vertical == "top"


def _bottom_rows(widget: Widget, old_height: int, new_height: int) -> tuple[int, int]:
    """The rows (relative to the widget) that a change of height alone repaints: those
    gained or lost, and the bottom border and padding that moved."""
    top = max(0, min(old_height, new_height) - widget.styles.gutter.bottom - 1)
    return top, max(old_height, new_height)


def _rows(region: Region) -> set[int]:
    return set(range(region.y, region.bottom))


def _stacking(geometry: MapGeometry) -> tuple[tuple[int, int], ...]:
    """The widget's painting order less the sibling counts in it.

    Textual numbers siblings in the order it places them, last child first, so a block
    mounted at the end of a chunk renumbers every block before it, and all their
    descendants: each hand-over of a streaming reply repainted the whole chunk. Mounting
    or removing a widget never changes which of two other widgets is painted over the
    other (moving one among its siblings could; the app moves none), and the widget
    itself is repainted where it appears or goes; its layer and z-index do change what
    shows."""
    return tuple((layer, z) for layer, z, _sibling in geometry.order)


def _changed_rows(widget: Widget, old: MapGeometry, new: MapGeometry) -> list[Region] | None:
    """What a change of geometry leaves to repaint, when the widget kept its top edge, its
    columns and its place in the painting order; None to repaint all of it."""
    before, after = old.region, new.region
    moved = (before.x, before.y, before.width) != (after.x, after.y, after.width)
    if moved or _stacking(old) != _stacking(new):
        return None
    seen_before, seen_after = old.visible_region, new.visible_region
    if seen_before and seen_after and (seen_before.x, seen_before.width) != (
        seen_after.x,
        seen_after.width,
    ):
        return None
    if before.height != after.height and not _grows_at_the_bottom(widget):
        return None
    rows = _rows(seen_before) ^ _rows(seen_after)
    if before.height != after.height:
        top, bottom = _bottom_rows(widget, before.height, after.height)
        rows |= set(range(after.y + top, after.y + bottom))
    rows &= _rows(seen_before) | _rows(seen_after)
    columns = seen_after or seen_before
    runs: list[Region] = []
    for y in sorted(rows):
        if runs and runs[-1].bottom == y:
            last = runs[-1]
            runs[-1] = Region(last.x, last.y, last.width, last.height + 1)
        else:
            runs.append(Region(columns.x, y, columns.width, 1))
    return runs


def _reflow_repainting_less(compositor: Compositor, parent: Widget, size: Size) -> ReflowResult:
    """`Compositor.reflow`, marking fewer regions dirty.

    Textual repaints the whole visible part of every widget whose geometry changed. When a
    block is added to a streaming reply, that is its container, the container's container
    and every block beside it (their container's size is part of their geometry): each
    layout repainted most of the reply. Here a widget whose region is unchanged repaints
    nothing, and one that only grew or shrank at the bottom repaints the rows that changed.
    """
    dirty = set(compositor._dirty_regions)
    old_map = compositor._full_map
    result = message_reflow.reflow(compositor, parent, size)
    if size.region in compositor._dirty_regions:
        _account(compositor)
        return result
    new_map = compositor._full_map
    changed = {widget for widget, _ in new_map.items() ^ old_map.items()}
    dirty.update(_unaccounted(compositor, changed))
    for widget in changed:
        old, new = old_map.get(widget), new_map.get(widget)
        if old is not None and new is not None:
            if (old.region, old.clip, _stacking(old)) == (new.region, new.clip, _stacking(new)):
                continue
            runs = _changed_rows(widget, old, new)
            if runs is not None:
                dirty.update(runs)
                continue
        for geometry in (old, new):
            if geometry is not None and (seen := geometry.visible_region):
                dirty.add(seen)
    compositor._dirty_regions.clear()
    compositor._dirty_regions.update(dirty)
    _account(compositor)
    return result



def _unaccounted(compositor: Compositor, compared: set[Widget]) -> Iterable[Region]:
    """The places of widgets, other than those in `compared`, that appeared, went or moved
    since the last paint or reflow.

    The old map of a reflow is not always what was painted: after a scroll Textual
    rebuilds the full map lazily on the next look-up of a widget's region (`_keep_reserve`
    and the reply's virtualising do that between layouts), so widgets mounted or moved
    meanwhile already stand at their new places in it and the reflow sees no change for
    them. Textual then repaints the whole container that asked for the layout; a
    `RepaintsWhatMoved` one does not, so its moved children would stay unpainted."""
    painted = _accounted.get(compositor)
    if painted is None:
        return
    visible = compositor.visible_widgets
    moved = [(w, place) for w, place in visible.items() if painted.get(w) != place]
    gone = [(w, place) for w, place in painted.items() if w not in visible]
    for widget, (region, clip) in moved + gone:
        if widget not in compared and (seen := region.intersection(clip)):
            yield seen


if TYPE_CHECKING:
    _Base = Widget
else:
    _Base = object


class RepaintsWhatMoved(_Base):
    """For containers that draw nothing but their background: a layout refresh (a child
    mounted, the reserve renewed, the virtual size changed) does not repaint all of the
    container. The layout that follows repaints the rows where anything moved, grew or
    appeared; Textual would repaint every row of it, and of every container around it."""

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if layout and not regions and not recompose:
            repaint = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


def paint_changed_rows_only() -> None:
    """Patch the compositor, once: a wrapper put on top later (a test's, the benchmark's
    frame census) stays in place when another app starts."""
    if Compositor.reflow is _reflow_repainting_less:
        return
    Compositor._get_renders = _rows_only_renders  # type: ignore[assignment,method-assign]
    Compositor._regions_to_spans = _noting_regions  # type: ignore[method-assign,assignment]
    Compositor.reflow = _reflow_repainting_less  # type: ignore[assignment,method-assign]
    Compositor.render_partial_update = (  # type: ignore[method-assign]
        _partial_update_with_unaccounted  # type: ignore[assignment]
    )
    Compositor.render_full_update = _full_update_accounted  # type: ignore[method-assign,assignment]
