"""The domain: a session is a list of messages plus what the file's front matter says of it.

Plain dataclasses, no I/O. Totals and `current_step` are derived from the messages, so they
can never disagree with them; `fileformat` writes them into the front matter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    USER = "User"
    ASSISTANT = "Assistant"
    SYSTEM = "System"


@dataclass
class Usage:
    """Token counts of one reply; any count may be unknown (None)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.total_tokens is None and (
            self.prompt_tokens is not None and self.completion_tokens is not None
        ):
            self.total_tokens = self.prompt_tokens + self.completion_tokens


@dataclass
class Cost:
    """What one reply cost when it was made. Never recomputed once stored."""

    input_cost: float | None = None
    output_cost: float | None = None
    total_cost: float | None = None
    currency: str = "USD"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Status:
    """Why a reply did not finish: state `interrupted`, reason `cancelled`, `network`, ..."""

    state: str = "interrupted"
    reason: str = "cancelled"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    role: Role
    created_at: datetime
    text: str = ""
    usage: Usage | None = None
    cost: Cost | None = None
    model: str | None = None
    reasoning: str | None = None
    status: Status | None = None
    # Trailers this version does not know, as (key, raw JSON text), written back unchanged.
    extra_trailers: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The file stores seconds; keep the model equal to what a re-read gives.
        if self.created_at.microsecond or self.created_at.tzinfo is not None:
            self.created_at = self.created_at.replace(microsecond=0, tzinfo=None)

    @property
    def finished(self) -> bool:
        return self.role is Role.ASSISTANT and self.status is None


_CONTROL = dict.fromkeys([*range(0x20), 0x7F, *range(0x80, 0xA0)], " ")


def clean_title(title: str) -> str:
    """One line of plain text: a title is shown in lists and written in YAML, where line
    breaks (PyYAML reads a written NEL back as a space) and control characters do harm."""
    return " ".join(str(title).translate(_CONTROL).split())


def now() -> datetime:
    """Local wall-clock time, as the format stores it."""
    return datetime.now()


def new_session_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Totals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    currency: str = "USD"
    unpriced_replies: int = 0


@dataclass
class Session:
    session_id: str = field(default_factory=new_session_id)
    title: str = ""
    created_at: datetime = field(default_factory=now)
    model_id: str = ""
    assistant_id: str = "general-assistant"
    messages: list[Message] = field(default_factory=list)
    # Front-matter keys this version does not know, written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "title":
            value = clean_title(value)
        super().__setattr__(name, value)

    @property
    def current_step(self) -> int:
        """Completed exchanges: assistant replies that finished."""
        return sum(1 for m in self.messages if m.finished)

    def totals(self) -> Totals:
        """Sums of what is known; a reply without a cost counts in no total."""
        t = Totals()
        currencies = [m.cost.currency for m in self.messages if m.cost and m.cost.currency]
        if currencies:
            t.currency = currencies[0]
        cost = 0.0
        for m in self.messages:
            if m.role is not Role.ASSISTANT:
                continue
            if m.usage is not None:
                t.prompt_tokens += m.usage.prompt_tokens or 0
                t.completion_tokens += m.usage.completion_tokens or 0
                t.total_tokens += m.usage.total_tokens or 0
            if m.cost is not None and m.cost.total_cost is not None:
                if m.cost.currency == t.currency:
                    cost += m.cost.total_cost
            else:
                t.unpriced_replies += 1
        # Sums of binary floats drift in the last digits; a cost has no meaning past 1e-12.
        t.cost = round(cost, 12)
        return t

    @property
    def updated_at(self) -> datetime:
        return self.messages[-1].created_at if self.messages else self.created_at

    def default_title(self) -> str:
        """The first line of the first user message, shortened."""
        for m in self.messages:
            if m.role is Role.USER:
                for line in m.text.splitlines():
                    if line.strip():
                        line = line.strip()
                        return line if len(line) <= 80 else line[:79] + "…"
        return ""
