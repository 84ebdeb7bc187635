"""How figures read to a person: costs, token counts, times. Shared by the CLI and the app."""

from __future__ import annotations

import math
from datetime import datetime


def format_cost(cost: float | None, currency: str = "USD") -> str:
    """Unknown is "unpriced", never $0; small costs keep two significant digits."""
    if cost is None:
        return "unpriced"
    sign = "$" if currency == "USD" else f"{currency} "
    if cost == 0:
        return f"{sign}0.00"
    if abs(cost) >= 0.01:
        return f"{sign}{cost:.2f}"
    decimals = -math.floor(math.log10(abs(cost))) + 1
    return f"{sign}{cost:.{decimals}f}"


def format_tokens(n: int | None) -> str:
    if n is None:
        return "?"
    if n < 1000:
        return str(n)
    if n < 100_000:
        return f"{n / 1000:.1f}k"
    return f"{n // 1000}k"


def relative_time(then: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now()
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return then.strftime("%Y-%m-%d")
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return then.strftime("%Y-%m-%d")
