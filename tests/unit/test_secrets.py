"""API keys from the environment never reach a file liu writes or anything it prints."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.server import Reply, running_server

REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "LAB_API_KEY": "sk-lab-SECRET-aaaaaaaaaaaaaaaaaaaaaaaa",
    "OPENAI_API_KEY": "sk-openai-SECRET-bbbbbbbbbbbbbbbbbbbbbb",
    "ANTHROPIC_API_KEY": "fake-anthropic-SECRET-cccccccccccccccc",
    "DEEPSEEK_API_KEY": "sk-deepseek-SECRET-dddddddddddddddddd",
}


def test_keys_appear_in_no_file_and_no_output(liu_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, **KEYS}
    outputs: list[str] = []

    def liu(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "tui", *args],
            capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
        )  # fmt: skip
        outputs.append(r.stdout + r.stderr)
        return r

    with running_server() as server:
        assert liu("config", "set", "default_model", "lab:fake-model").returncode == 0
        liu("config", "set", "providers.lab.base_url", server.openai_url)
        liu("config", "set", "providers.lab.api_key_env", "LAB_API_KEY")
        server.script(
            Reply(text="an answer"),
            Reply.error(401, error_message=f"Incorrect API key provided: {KEYS['LAB_API_KEY']}"),
        )
        assert liu("ask", "--usage", "first").returncode == 0
        assert liu("ask", "-c", "second").returncode == 1  # the 401
        sent = server.chat_requests()[0]
        assert sent.headers.get("authorization") == f"Bearer {KEYS['LAB_API_KEY']}"
    liu("config", "show")
    liu("models", "--offline")
    liu("sessions", "list", "--json")
    session_id = liu("sessions", "list").stdout.split()[0]
    liu("export", session_id)
    liu("export", session_id, "--format", "json", "-o", str(liu_home / "export.json"))

    printed = "\n".join(outputs)
    for name, key in KEYS.items():
        assert key not in printed, f"{name} printed"
    for path in liu_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name, key in KEYS.items():
                assert key.encode() not in data, f"{name} in {path}"
    # Private files and folders.
    for path in [liu_home / "config.toml", *(liu_home / "sessions").glob("*.md")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (liu_home, liu_home / "sessions"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
