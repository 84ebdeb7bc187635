"""`liu ask` against the loopback server: what the user sees and what the session file holds,
for a clean reply and for every fault the server can inject."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import FakeLLMServer, Reply, running_server
from tui.core import fileformat
from tui.core.session import Role, Session

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-test-0123456789abcdefghijklmnop"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with running_server() as s:
        yield s


@pytest.fixture
def lab(server: FakeLLMServer, liu_home: Path) -> FakeLLMServer:
    """Config with a provider `lab` on the loopback server; a key in the environment."""
    liu_home.mkdir(parents=True, exist_ok=True)
    (liu_home / "config.toml").write_text(
        'default_model = "lab:fake-model"\n'
        "read_timeout = 1.0\n"
        "[providers.lab]\n"
        'kind = "openai"\n'
        f'base_url = "{server.openai_url}"\n'
        'api_key_env = "LAB_API_KEY"\n'
        'models = ["fake-model"]\n'
        '[prices."lab:fake-model"]\n'
        "input = 1.0\n"
        "output = 2.0\n"
    )
    return server


def ask(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LAB_API_KEY": KEY, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tui", "ask", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        timeout=60,
    )


def ask_in_background(prompt: str, *, text: bool) -> subprocess.Popen[Any]:
    """`liu ask PROMPT` running, its output and errors on pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "ask", prompt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=text,
        cwd=REPO,
        env={**os.environ, "LAB_API_KEY": KEY},
    )


def sessions(home: Path) -> list[Session]:
    files = sorted((home / "sessions").glob("*.md"))
    return [fileformat.parse(p.read_text()).session for p in files]


def only_session(home: Path) -> Session:
    found = sessions(home)
    assert len(found) == 1
    return found[0]


def test_a_reply_streams_to_stdout_and_is_saved_with_usage_and_cost(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    lab.script(Reply(text="Hello **world**, 流式输出 works.", prompt_tokens=12))
    r = ask("--usage", "say hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello **world**, 流式输出 works.\n"
    assert "lab:fake-model" in r.stderr and "12 in" in r.stderr
    s = only_session(liu_home)
    assert [m.role for m in s.messages] == [Role.USER, Role.ASSISTANT]
    user, reply = s.messages
    assert user.text == "say hello" and s.title == "say hello"
    assert reply.text == "Hello **world**, 流式输出 works." and reply.status is None
    assert reply.model == "lab:fake-model"
    assert reply.usage is not None and reply.usage.prompt_tokens == 12
    assert reply.cost is not None and reply.cost.total_cost is not None
    assert reply.cost.total_cost > 0
    sent = lab.chat_requests()[0]
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"][0]["role"] == "system"
    assert sent.body["messages"][-1] == {"role": "user", "content": "say hello"}


def test_stdin_prompt_continue_and_reasoning_not_sent_back(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    lab.script(Reply(text="first answer", reasoning="let me think"), Reply(text="second"))
    r = ask("--reasoning", stdin="question one\n")
    assert r.returncode == 0 and r.stdout == "first answer\n"
    assert "let me think" in r.stderr
    r2 = ask("-c", "question two")
    assert r2.returncode == 0 and r2.stdout == "second\n"
    s = only_session(liu_home)
    assert [m.text for m in s.messages] == [
        "question one",
        "first answer",
        "question two",
        "second",
    ]
    assert s.messages[1].reasoning == "let me think"
    history = lab.chat_requests()[1].body["messages"]
    assert all("let me think" not in json.dumps(m) for m in history)
    assert s.current_step == 2


def test_no_save_leaves_nothing(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.script(Reply(text="ephemeral"))
    r = ask("--no-save", "hi")
    assert r.returncode == 0 and r.stdout == "ephemeral\n"
    assert sessions(liu_home) == []


def test_429_with_retry_after_then_success(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.script(Reply.error(429, headers={"Retry-After": "1"}), Reply(text="after the wait"))
    r = ask("hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "after the wait\n"
    assert "retrying in 1.0 s" in r.stderr
    assert len(lab.chat_requests()) == 2
    assert only_session(liu_home).messages[-1].text == "after the wait"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_then_reported(
    lab: FakeLLMServer, liu_home: Path, status: int
) -> None:
    lab.always(Reply.error(status, headers={"Retry-After": "0.01"}))
    r = ask("hi")
    assert r.returncode == 1
    assert r.stdout == ""
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("liu: ") and str(status) in line and "Traceback" not in r.stderr
    assert len(lab.chat_requests()) == 3  # 2 retries, as the SDKs do
    s = only_session(liu_home)
    assert [m.role for m in s.messages] == [Role.USER]  # the prompt is kept; no empty reply


def test_401_names_the_key_variable_and_never_the_key(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.always(Reply.error(401, error_message=f"Incorrect API key provided: {KEY}"))
    r = ask("hi")
    assert r.returncode == 1
    assert "LAB_API_KEY" in r.stderr
    assert KEY not in r.stderr + r.stdout
    for path in liu_home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_missing_key_is_one_line_before_any_request(lab: FakeLLMServer, liu_home: Path) -> None:
    r = ask("hi", env={"LAB_API_KEY": ""})
    assert r.returncode == 1
    assert "set LAB_API_KEY" in r.stderr
    assert lab.chat_requests() == []


def test_connection_cut_mid_reply_keeps_the_partial(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.script(Reply(tokens=40, cut_after=10))
    r = ask("hi")
    assert r.returncode == 1
    assert r.stdout.startswith("w0 w1 w2") and "w10" not in r.stdout
    assert "partial reply is saved" in r.stderr
    reply = only_session(liu_home).messages[-1]
    assert reply.role is Role.ASSISTANT and reply.text.startswith("w0 w1")
    assert reply.status is not None and reply.status.reason == "network"
    assert only_session(liu_home).current_step == 0
    assert len(lab.chat_requests()) == 1  # nothing is retried after the first token


def test_a_stall_longer_than_the_read_timeout_ends_as_interrupted(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    lab.script(Reply(tokens=20, stall_after=5, stall_seconds=10))
    r = ask("hi")
    assert r.returncode == 1
    assert r.stdout.startswith("w0 w1 w2 w3 w4")
    reply = only_session(liu_home).messages[-1]
    assert reply.status is not None and reply.status.reason == "timeout"
    assert reply.text == "w0 w1 w2 w3 w4 "


def test_malformed_event_is_reported_and_the_partial_kept(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    lab.script(Reply(tokens=10, malformed_after=3))
    r = ask("hi")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("liu: ") and len(r.stderr.strip().splitlines()) == 1
    reply = only_session(liu_home).messages[-1]
    assert reply.text == "w0 w1 w2 " and reply.status is not None


def test_a_lone_surrogate_in_an_event_is_replaced_and_the_reply_kept(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    """JSON may escape half a UTF-16 pair; such text cannot be written as UTF-8."""
    head = '{"id":"x","object":"chat.completion.chunk","created":0,"model":"m",'
    events = [
        '"choices":[{"index":0,"delta":{"content":"ab\\ud800cd"}}]}',
        '"choices":[{"index":0,"delta":{"content":" \\ud83d\\ude00 ef"}}]}',
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x":NaN}',
    ]
    body = "".join(f"data: {head}{event}\n\n" for event in events) + "data: [DONE]\n\n"
    lab.script(Reply(raw_body=body.encode(), content_type="text/event-stream"))
    r = ask("hi")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert r.stdout == "ab\ufffdcd \U0001f600 ef\n"
    reply = only_session(liu_home).messages[-1]
    assert reply.text == "ab\ufffdcd \U0001f600 ef" and reply.status is None


def test_multibyte_characters_split_across_chunks_arrive_whole(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    text = "流式输出 🎉 émoji ünïcode 你好世界"
    lab.script(Reply(text=text, split_multibyte=True))
    r = ask("hi")
    assert r.returncode == 0 and r.stdout == text + "\n"
    assert only_session(liu_home).messages[-1].text == text


def test_no_usage_at_all_is_estimated_and_unpriced(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.script(Reply(text="counted by us", usage="none"))
    r = ask("--usage", "hi")
    assert r.returncode == 0
    assert "~" in r.stderr and "unpriced" in r.stderr
    reply = only_session(liu_home).messages[-1]
    assert reply.usage is not None and reply.usage.extra == {"estimated": True}
    assert reply.cost is None  # unknown, never $0
    text = (next((liu_home / "sessions").glob("*.md"))).read_text()
    assert '"estimated": true' in text


def test_one_megabyte_event(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.script(Reply(text="tail", big_event=1024 * 1024))
    r = ask("hi")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 1024 * 1024 + len("tail\n")
    assert len(only_session(liu_home).messages[-1].text) == 1024 * 1024 + 4


def test_an_html_page_with_status_200(lab: FakeLLMServer, liu_home: Path) -> None:
    lab.always(Reply.html_page(200))
    r = ask("hi")
    assert r.returncode == 1
    assert "HTML" in r.stderr or "html" in r.stderr
    assert lab.openai_url in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_404_names_the_model(lab: FakeLLMServer) -> None:
    lab.always(Reply.error(404, error_message="The model does not exist"))
    r = ask("hi")
    assert r.returncode == 1 and "fake-model" in r.stderr and "not found" in r.stderr


def test_a_typo_in_the_model_is_reported_before_anything_is_saved(
    lab: FakeLLMServer, liu_home: Path
) -> None:
    r = ask("-m", "lba:fake-model", "hi")
    assert r.returncode == 2 and "lab" in r.stderr  # did you mean
    assert sessions(liu_home) == []


def _wait_for_text(path_glob: Path, needle: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(400):
        files = list(path_glob.glob("*.md"))
        if files and needle in files[0].read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"liu ask ended early: {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never reached the session file")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_reply_keeps_the_partial(
    lab: FakeLLMServer, liu_home: Path, sig: signal.Signals
) -> None:
    lab.script(Reply(tokens=2000, rate=50))
    proc = ask_in_background("count slowly", text=True)
    # The checkpoint (about once a second) has written part of the reply.
    _wait_for_text(liu_home / "sessions", "w5", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "partial reply is saved" in err
    reply = only_session(liu_home).messages[-1]
    assert reply.status is not None and reply.status.reason == "cancelled"
    assert out.startswith(reply.text[:20])
    assert len(reply.text) >= len("w0 w1 w2 w3 w4 w5")
    assert lab.disconnected.wait(5)  # the HTTP stream was closed


def test_a_reader_that_leaves_early_ends_it_quietly(lab: FakeLLMServer, liu_home: Path) -> None:
    """`liu ask ... | head`: no traceback when the pipe closes mid-reply."""
    lab.script(Reply(tokens=2000, rate=200))
    proc = ask_in_background("count", text=False)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(20).startswith(b"w0 w1")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in err and "Error" not in err, err
    assert lab.disconnected.wait(5)  # the HTTP stream was closed
