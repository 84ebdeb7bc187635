"""Hostile session files: fuzzed bytes never crash the reader, the index or `liu import`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.commands.transfer import import_one
from tui.core import fileformat
from tui.core.errors import SessionFileError
from tui.core.library import Library
from tui.core.session import Message, Role, Session

REPO = Path(__file__).resolve().parents[2]
SEED = (Path(__file__).resolve().parents[1] / "data" / "seed-session.md").read_bytes()


def _mutations() -> st.SearchStrategy[bytes]:
    """Random bytes, truncations and splices of a real session, broken YAML, giant front
    matter."""
    random_bytes = st.binary(max_size=2000)
    truncated = st.integers(0, len(SEED)).map(lambda n: SEED[:n])
    spliced = st.tuples(st.integers(0, len(SEED)), st.binary(max_size=50)).map(
        lambda t: SEED[: t[0]] + t[1] + SEED[t[0] :]
    )
    broken_yaml = st.text(max_size=200).map(
        lambda s: (
            b"---\n"
            + s.encode("utf-8", "replace")
            + b"\n---\n\n## User (2026-01-01 00:00:00)\nhi\n"
        )
    )
    giant_front = st.integers(1, 3).map(
        lambda k: b"---\nsession_id: x\nblob: '" + b"a" * (k * 1_000_000) + b"'\n---\n"
    )
    return st.one_of(random_bytes, truncated, spliced, broken_yaml, giant_front)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_the_reader_either_parses_or_names_the_problem(data: bytes) -> None:
    try:
        result = fileformat.parse_bytes(data, "fuzzed.md")
    except SessionFileError as e:
        assert str(e).startswith("fuzzed.md") and "\n" not in str(e)
        return
    # Whatever parsed writes back to something that parses to the same session.
    assert fileformat.parse(fileformat.write(result.session)).session == result.session


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_import_reports_and_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "in.md"
        src.write_bytes(data)
        lib = Library.open(root / "home")
        outcome, detail = import_one(lib, src, force=False)
        assert outcome in ("imported", "failed", "skipped")
        assert "\n" not in detail and detail.startswith(str(src))
        lib.close()


def test_a_folder_of_1000_with_10_broken_lists_the_990(liu_home: Path) -> None:
    lib = Library.open(liu_home)
    folder = lib.store.sessions_dir
    for i in range(990):
        s = Session(
            session_id=f"{i:08x}-0000-4000-8000-000000000000",
            title=f"session {i}",
            messages=[Message(Role.USER, datetime(2026, 1, 1), f"text {i}")],
        )
        (folder / f"s{i}.md").write_text(fileformat.write(s))
    for i in range(10):
        (folder / f"broken{i}.md").write_bytes(SEED[: 40 + i * 3])
    lib.close()
    r = subprocess.run(
        [sys.executable, "-m", "tui", "sessions", "list", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ.copy(),
        timeout=120,
    )
    assert r.returncode == 0
    assert len(json.loads(r.stdout)) == 990
    assert r.stderr.startswith("liu: 10 session file(s) could not be read; first: ")
    assert "broken0.md" in r.stderr
