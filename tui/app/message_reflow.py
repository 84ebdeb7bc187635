"""A layout that only one message asked for arranges that message alone.

Textual's reflow arranges every widget of the screen, whatever asked for the layout: the
footer's keys, the session list, the input, every message. A streaming reply asks for one
whenever a block is mounted or outgrows its held lines (about a hundred times in a reply
of 4,000 tokens), and keeps its own height meanwhile (the reserve below its text), so
nothing outside it moves. Here, when every pending layout request comes from inside one
message (`LAYS_OUT_ALONE`) and its height stays the same, only that message is arranged,
and its widgets' places are put in the screen's map in place of the old ones: the map is
the one Textual's reflow would have made, entry for entry (`verify_each` checks it; see
`_verify` for what may differ outside the message for a frame).
"""

from __future__ import annotations

from textual._compositor import Compositor, ReflowResult
from textual.geometry import Region, Size
from textual.map_geometry import MapGeometry
from textual.screen import Screen
from textual.scrollbar import ScrollBar, ScrollBarCorner
from textual.widget import Widget

_Order = tuple[tuple[int, int, int], ...]

_textual_reflow = Compositor.reflow

verify_each = False
"""Compare every map made here with a reflow of the whole screen (tests set it)."""


def _view_of(widget: object) -> Widget | None:
    """The widget, or its nearest ancestor, that lays out alone, if any."""
    node: object = widget
    while isinstance(node, Widget):
        if getattr(node, "LAYS_OUT_ALONE", False):
            return node
        node = node._parent
    return None


def _only_view(screen: Screen[object]) -> Widget | None:
    """The one message every pending layout request comes from, if there is one: the
    requests of its containers, and its container's request for it alone."""
    view: Widget | None = None
    for container, asked in screen._layout_widgets.items():
        found = _view_of(container)
        if found is None:
            if len(asked) != 1:
                return None
            (child,) = asked
            if not isinstance(child, Widget) or not getattr(child, "LAYS_OUT_ALONE", False):
                return None
            found = child
        if view is not None and found is not view:
            return None
        view = found
    return view


def _height_needed(view: Widget, geometry: MapGeometry) -> int | None:
    """The view's height as its container's stream layout will arrange it; None when the
    container's layout is not one this can follow.

    Asked after the view was arranged at its present size: measuring then finds its
    containers' arrangements made (a stream layout measures each child before it places
    it), where asked first it made them all (1 ms a layout)."""
    parent = view.parent
    if not isinstance(parent, Widget) or parent.styles.layout is None:
        return None
    if parent.styles.layout.name != "stream":
        return None
    styles = view.styles
    if styles.min_height is not None or styles.max_height is not None:
        return None
    margin = styles.margin
    width = geometry.region.width + margin.left + margin.right
    gutter_width, gutter_height = styles.gutter.totals
    container = parent.scrollable_content_region.size
    return (
        view.get_content_height(container, view.app.viewport_size, width - gutter_width)
        + gutter_height
    )


def _where_it_was(view: Widget, old_map: dict[Widget, MapGeometry]) -> bool:
    """Whether the view, and each container up to the screen, stand where the map put
    them: no container around it has scrolled since (each child's place is its place
    in the container, less the container's scroll)."""
    node = view
    while isinstance(parent := node.parent, Widget):
        here, there = old_map.get(node), old_map.get(parent)
        if here is None or there is None:
            return False
        content = there.region.shrink(parent.styles.gutter).offset
        if here.region.offset != here.virtual_region.offset + content - parent.scroll_offset:
            return False
        node = parent
    return True


def _inside(widget: Widget, view: Widget) -> bool:
    """In the view, or removed from the DOM since the last layout (a removed block no
    longer knows its parent; a layout would not place it)."""
    node: object = widget
    while isinstance(node, Widget):
        if node is view:
            return True
        node = node._parent
    return widget._parent is None


def _was_inside(widget: Widget, geometry: MapGeometry, view: Widget, order: _Order) -> bool:
    """`_inside`, told by the painting order where it can: a widget's order begins with
    its container's (an overlay's begins afresh, at the screen)."""
    if widget._parent is None:
        return True
    if geometry.order[0] != (0, 0, 0):
        return _inside(widget, view)
    return geometry.order[: len(order)] == order


def _placed(geometry: MapGeometry, at: MapGeometry, sibling_base: int) -> MapGeometry:
    """A geometry from arranging the view alone (at the screen's origin, first in its
    own order), put where the view stands. Textual numbers each container's children
    from the container's own number down, so every number below the view is shifted by
    the view's own."""
    offset = at.region.offset
    order: _Order = at.order + tuple(
        (layer, z, sibling + sibling_base) for layer, z, sibling in geometry.order[1:]
    )
    return MapGeometry(
        geometry.region.translate(offset),
        order,
        geometry.clip.translate(offset).intersection(at.clip),
        geometry.virtual_size,
        geometry.container_size,
        geometry.virtual_region,
        geometry.dock_gutter,
    )


def _reflow_view(
    compositor: Compositor, screen: Screen[object], size: Size, view: Widget
) -> ReflowResult | None:
    """Arrange the one message that asked for a layout, if that is all it needs."""
    if compositor.root is not screen or compositor.size != size:
        return None
    if compositor._visible_map is not None:
        return None  # scrolled since: the map's places are from before
    old_map = compositor._full_map
    at = old_map.get(view)
    if at is None or view not in compositor.widgets:
        return None
    if not _where_it_was(view, old_map):
        return None
    arranged, arranged_widgets = compositor._arrange_root(view, at.region.size, visible_only=False)
    if _height_needed(view, at) != at.region.height:
        return None
    if any(geometry.order[0] != (0, 0, 0) for geometry in arranged.values()):
        return None  # an overlay: placed on the screen, not in the view
    sibling_base = at.order[-1][2]
    new_map = {
        widget: geometry
        for widget, geometry in old_map.items()
        if not _was_inside(widget, geometry, view, at.order)
    }
    # After a scroll Textual keeps only the widgets on screen in its set; a layout puts
    # every widget placed in it again (scrollbars are placed, but not in the set).
    widgets = {widget for widget in new_map if not isinstance(widget, (ScrollBar, ScrollBarCorner))}
    widgets.update(
        widget
        for widget in compositor.widgets
        if widget not in old_map and not _inside(widget, view)
    )
    widgets |= arranged_widgets
    for widget, geometry in arranged.items():
        if widget is view:
            new_map[widget] = at._replace(virtual_size=geometry.virtual_size)
        else:
            new_map[widget] = _placed(geometry, at, sibling_base)
    return _install(compositor, old_map, new_map, widgets)


def _install(
    compositor: Compositor,
    old_map: dict[Widget, MapGeometry],
    new_map: dict[Widget, MapGeometry],
    widgets: set[Widget],
) -> ReflowResult:
    """What `Compositor.reflow` does with a new map: caches dropped, changes marked dirty."""
    compositor._cuts = None
    compositor._layers = None
    compositor._layers_visible = None
    compositor._visible_widgets = None
    compositor._visible_map = None
    hidden = compositor.widgets - widgets
    shown = new_map.keys() - old_map.keys()
    compositor._full_map = new_map
    compositor.widgets = widgets
    changes = new_map.items() ^ old_map.items()
    if compositor.size.region not in compositor._dirty_regions:
        compositor._dirty_regions.update(
            region
            for region in (geometry.clip.intersection(geometry.region) for _, geometry in changes)
            if region
        )
    resized = {
        widget
        for widget, geometry in changes
        if widget in old_map
        and widget in new_map
        and old_map[widget].region.size != geometry.region.size
    }
    return ReflowResult(hidden=hidden, shown=shown, resized=resized)


def reflow(compositor: Compositor, parent: Widget, size: Size) -> ReflowResult:
    """`Compositor.reflow`, arranging one message alone when that is all that changed."""
    result = None
    if isinstance(parent, Screen) and (view := _only_view(parent)) is not None:
        result = _reflow_view(compositor, parent, size, view)
        if result is not None and verify_each:
            _verify(compositor, parent, size, view)
    if result is None:
        result = _textual_reflow(compositor, parent, size)
    # The map is whole and current: Textual leaves it marked as stale when a widget it
    # had not placed yet asked for a repaint, and the next look-up of any widget's region
    # arranged the whole screen once more (20 times a reply, 2 ms each).
    compositor._full_map_invalidated = False
    return result


def _comparable(geometry: MapGeometry | None) -> MapGeometry | None:
    """A widget entirely clipped away has an empty clip whose corner depends on the order
    the regions were intersected in (here the view's own clip comes last): that corner
    means nothing, every empty clip hides the widget alike."""
    if geometry is None or geometry.clip.area:
        return geometry
    return geometry._replace(clip=Region())


def _verify(compositor: Compositor, screen: Screen[object], size: Size, view: Widget) -> None:
    """Outside the view, Textual's arrangement of the whole screen places early what is
    mounted into a container that has yet to ask for its layout (a footer's new keys), and
    leaves out what is being removed from one (a frozen chunk's blocks): here they wait
    for their container's request, as they do in any frame that has no layout. Those are
    left out of the comparison; all else must be equal."""
    whole, widgets = compositor._arrange_root(screen, size, visible_only=False)
    ours = compositor._full_map

    def settled(widget: Widget) -> bool:
        return _inside(widget, view) or (widget in ours and widget.display)

    wrong = {
        type(widget).__name__: (ours.get(widget), whole.get(widget))
        for widget in whole.keys() | ours.keys()
        if settled(widget) and _comparable(ours.get(widget)) != _comparable(whole.get(widget))
    }
    placed = {widget for widget in compositor.widgets if settled(widget)}
    staying = {widget for widget in widgets if settled(widget)}
    if wrong or staying != placed:
        raise AssertionError(
            f"one message's layout differs from the screen's: {wrong}; "
            f"placed here only: {placed - staying}; there only: {staying - placed}"
        )
