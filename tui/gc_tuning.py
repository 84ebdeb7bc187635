"""The cyclic garbage collector, tuned for a Textual app that streams.

Textual makes many small objects per frame that live a frame or two (each line of each
widget is a `Strip` holding seven caches). With Python's default thresholds (700, 10, 10)
they outlive the young collections, pile up in the oldest generation and set off a full
collection every few seconds: a reply of 4,000 tokens at 100 tokens/s saw 14 of them, up to
210 ms each (a frozen frame), 2.25 s of the process's CPU in garbage collection in all.
With young collections every 10,000 allocations instead of 700, those objects are gone
before a collection sees them: the same reply had one full collection, 0.6 s in all.

Objects alive once the app is built (modules, classes, styles) live as long as the
process; `freeze_startup` moves them out of the collector's sight, so no full collection
scans them again.

From a reply's end to the frame that shows it, collections wait (`hold`, `release`): a full
one there, with a long reply alive, put 20-60 ms into the time the user waits.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) between collections of the youngest generation."""


def tune() -> None:
    """Collect the youngest generation less often (the older ones keep their ratios)."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


_frozen = False


def freeze_startup() -> None:
    """Exclude everything alive now from future collections (it is never garbage).

    Once per process: a second app in the same process (tests) would freeze the first
    one's garbage for good."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


_held = False


def hold() -> None:
    """No collections until `release`: a reply's end (its last save, its final render and
    the frame that shows it) is what the user waits for, and a full collection there (a
    long reply keeps ~10^5 objects alive: 20-60 ms) is better spent just after it."""
    global _held
    if not _held and gc.isenabled():
        _held = True
        gc.disable()


def release() -> None:
    """Collections as before `hold` (idempotent)."""
    global _held
    if _held:
        _held = False
        gc.enable()
