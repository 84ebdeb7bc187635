"""The reply engine in-process: continue after a partial, regenerate, the busy lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.server import FakeLLMServer, Reply, running_server
from tui.config import Settings
from tui.core.errors import SessionBusy
from tui.core.session import Role, Session, Status
from tui.core.store import SessionStore
from tui.core.turn import (
    ReplyFailed,
    ReplyFinished,
    TokenEstimate,
    TurnEvent,
    TurnSpec,
    estimate_tokens,
    run_turn,
)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with running_server() as s:
        yield s


def _settings(server: FakeLLMServer) -> Settings:
    return Settings.model_validate(
        {"providers": {"lab": {"kind": "openai", "base_url": server.openai_url}}}
    )


async def _run(store: SessionStore, settings: Settings, spec: TurnSpec) -> list[TurnEvent]:
    async with httpx.AsyncClient() as client:
        return [e async for e in run_turn(store, settings, spec, client=client)]


async def test_continue_sends_the_partial_and_regenerate_replaces_the_reply(
    server: FakeLLMServer, liu_home: Path
) -> None:
    store = SessionStore(liu_home)
    session = Session(model_id="lab:fake-model")
    store.create(session)
    settings = _settings(server)
    server.script(Reply(tokens=30, cut_after=4), Reply(text="the rest."), Reply(text="again"))
    sid, model = session.session_id, "lab:fake-model"

    events = await _run(store, settings, TurnSpec(sid, model, prompt="tell me"))
    assert isinstance(events[-1], ReplyFailed) and events[-1].message is not None
    partial = store.update(sid, lambda s: None).messages[-1]
    assert partial.status == Status("interrupted", "network") and partial.text == "w0 w1 w2 w3 "

    # Continue: the history sent includes the partial reply; a new reply follows it.
    events = await _run(store, settings, TurnSpec(sid, model))
    assert isinstance(events[-1], ReplyFinished)
    sent = server.chat_requests()[1].body["messages"]
    assert sent[-1] == {"role": "assistant", "content": "w0 w1 w2 w3 "}
    s = store.update(sid, lambda s: None)
    assert [m.text for m in s.messages] == ["tell me", "w0 w1 w2 w3 ", "the rest."]
    assert s.current_step == 1

    # Regenerate: the replies after the last prompt are replaced by a new one.
    events = await _run(store, settings, TurnSpec(sid, model, regenerate=True))
    assert isinstance(events[-1], ReplyFinished)
    s = store.update(sid, lambda s: None)
    assert [(m.role, m.text) for m in s.messages] == [
        (Role.USER, "tell me"),
        (Role.ASSISTANT, "again"),
    ]
    assert server.chat_requests()[2].body["messages"][-1] == {"role": "user", "content": "tell me"}


async def test_a_second_writer_is_told_the_session_is_busy(
    server: FakeLLMServer, liu_home: Path
) -> None:
    store = SessionStore(liu_home)
    session = Session(model_id="lab:fake-model")
    store.create(session)
    with store.reply_lock(session.session_id), pytest.raises(SessionBusy, match="busy"):
        await _run(store, _settings(server), TurnSpec(session.session_id, "lab:fake-model", "hi"))
    assert server.chat_requests() == []
    assert store.update(session.session_id, lambda s: None).messages == []


async def test_model_switch_mid_session_records_each_model(
    server: FakeLLMServer, liu_home: Path
) -> None:
    store = SessionStore(liu_home)
    session = Session(model_id="lab:fake-model")
    store.create(session)
    settings = Settings.model_validate(
        {
            "providers": {
                "lab": {"kind": "openai", "base_url": server.openai_url},
                "lab2": {"kind": "openai", "base_url": server.openai_url},
            },
            "prices": {"lab2:other": {"input": 1.0, "output": 1.0}},
        }
    )
    server.script(Reply(text="one"), Reply(text="two"))
    await _run(store, settings, TurnSpec(session.session_id, "lab:fake-model", prompt="a"))
    await _run(store, settings, TurnSpec(session.session_id, "lab2:other", prompt="b"))
    s = store.update(session.session_id, lambda s: None)
    assert [m.model for m in s.messages if m.role is Role.ASSISTANT] == [
        "lab:fake-model",
        "lab2:other",
    ]
    assert s.model_id == "lab2:other"
    costs = [m.cost.total_cost for m in s.messages if m.cost]
    assert costs[0] == 0.0 and costs[1] is not None and costs[1] > 0
    assert s.totals().cost == pytest.approx(costs[1])


ANY_CHARACTER = st.characters(max_codepoint=0x10FFFF, blacklist_categories=("Cs",))


@given(st.lists(st.text(alphabet=ANY_CHARACTER)))
def test_the_running_estimate_counts_wide_characters_as_each_a_token(parts: list[str]) -> None:
    """Every character from U+2E80 on (CJK and beyond) counts as a token of its own."""
    estimate = TokenEstimate()
    for part in parts:
        estimate.add(part)
    text = "".join(parts)
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
    assert (estimate.chars, estimate.wide) == (len(text), wide)
    assert estimate.tokens == estimate_tokens(text) == (len(text) - wide + 3) // 4 + wide
