"""Paint a change at once, not at the next tick of Textual's screen-update timer.

Textual lays out and paints a screen from a timer that ticks on a fixed 60 Hz grid. A
change made between two ticks waits for the next one (up to 17 ms), and a tick that fell
inside a batch update (`App.batch_update`, which `ReplyView.finish` holds while it mounts
the finished reply) does nothing and leaves the change for the tick after: measured after
a fast reply finished, the screen sat idle 20-25 ms before it showed the reply. Where that
wait is pure lag, the end of a reply, the screen is updated at once; the timer's next tick
then finds nothing left to do.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen


def paint_now(screen: Screen[Any]) -> None:
    """Lay out and paint what changed on `screen` now, if it is shown and not in a batch
    update (then the end of the batch paints it)."""
    if screen.is_current and not screen.app._batch_count:
        screen._on_timer_update()
