"""A layout request is recorded at every level of the widget tree it passes through.

Textual's stream layout re-arranges a container's children from the first one recorded
as having asked for a layout; the ones before it keep their last placement. Textual
records a request from deep inside a child (a block mounted into a reply's chunk) only
with the child's own parent: one level up, the check meant to skip duplicates looks the
child up among the containers (`widget not in self._layout_widgets`) rather than among
the children that asked. So when a later child asked for itself in the same frame, the
earlier one that grew kept its old height: a reply that arrived flat out left its body
taller than the reply, and the newest lines were cut off below the log's end. Textual's
second layout for each resized widget can hide the miss; the reply's own containers
(`_size_updated_once`) and `fewer_layouts` skip that pass.

Here the whole path is recorded, as the stream layout expects.
"""

from __future__ import annotations

from textual import messages
from textual.screen import Screen
from textual.widget import Widget


async def _on_layout(self: Screen[object], message: messages.Layout) -> None:
    """`Screen._on_layout`, adding each widget on the path to its container's set."""
    message.stop()
    message.prevent_default()
    widget = message.widget
    added = False
    for ancestor in widget.ancestors:
        if not isinstance(ancestor, Widget):
            break
        asked = self._layout_widgets.setdefault(ancestor, set())
        if widget not in asked:
            assert isinstance(widget, Widget)
            asked.add(widget)
            added = True
        if not ancestor.styles.auto_dimensions:
            break
        widget = ancestor
    if added and not self._layout_required:
        self._layout_required = True
        self.check_idle()


def record_whole_layout_paths() -> None:
    """Patch `Screen._on_layout` (idempotent)."""
    Screen._on_layout = _on_layout  # type: ignore[method-assign,assignment]
