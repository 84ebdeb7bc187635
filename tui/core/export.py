"""A session as JSON: the stable shape of `liu export --format json` (see the README)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tui.core.fileformat import front_matter
from tui.core.session import Message, Session

JSON_FORMAT_VERSION = 1


def _message(m: Message) -> dict[str, Any]:
    return {
        "role": m.role.value.lower(),
        "created_at": m.created_at.isoformat(),
        "text": m.text,
        "model": m.model,
        "usage": dataclasses.asdict(m.usage) if m.usage else None,
        "cost": dataclasses.asdict(m.cost) if m.cost else None,
        "reasoning": m.reasoning,
        "status": dataclasses.asdict(m.status) if m.status else None,
        "trailers": {key: raw for key, raw in m.extra_trailers},
    }


def session_to_json(session: Session) -> dict[str, Any]:
    front = front_matter(session)
    return {
        "format": "liu-session",
        "version": JSON_FORMAT_VERSION,
        "id": session.session_id,
        "title": session.title,
        "created_at": session.created_at.isoformat(),
        "model": session.model_id,
        "assistant": session.assistant_id,
        "current_step": session.current_step,
        "total_usage": front["total_usage"],
        "total_cost": front["total_cost"],
        "front_matter_extra": session.extra,
        "messages": [_message(m) for m in session.messages],
    }
