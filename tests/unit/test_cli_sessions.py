"""`liu sessions`, `liu import`, `liu export` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED_ID = "460f69c4-8641-47f7-ae22-68d83c4196ca"


def liu(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=REPO,
        env=os.environ.copy(),
        timeout=60,
    )


def _store_snapshot(home: Path) -> dict[str, bytes]:
    folder = home / "sessions"
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def seed_file(tmp_path: Path, seed_text: str) -> Path:
    path = tmp_path / "seed-session.md"
    path.write_text(seed_text, encoding="utf-8")
    return path


def test_import_list_search_show_export(seed_file: Path, liu_home: Path, seed_text: str) -> None:
    r = liu("import", str(seed_file))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"imported: {seed_file} -> ")
    again = liu("import", str(seed_file))
    assert again.returncode == 0 and again.stdout.startswith("skipped:")
    assert "already there" in again.stdout

    listed = json.loads(liu("sessions", "list", "--json").stdout)
    assert [s["id"] for s in listed] == [SEED_ID]
    assert listed[0]["total_cost"] == 0.00026138 and listed[0]["unpriced_replies"] == 1
    assert set(listed[0]) == {
        "id", "title", "created_at", "updated_at", "model", "messages", "total_cost",
        "unpriced_replies", "path",
    }  # fmt: skip
    plain = liu("sessions", "list").stdout
    assert plain.startswith("460f69c4") and "LLM的流式输出是什么意思?" in plain

    found = liu("sessions", "search", "流式输出", "--json")
    hits = json.loads(found.stdout)
    assert hits[0]["id"] == SEED_ID and "流式输出" in hits[0]["snippet"]

    shown = liu("sessions", "show", "460f")
    assert shown.returncode == 0
    assert "## Assistant (2026-01-31 10:53:36)" in shown.stdout

    md = liu("export", "460f69")
    assert md.stdout == seed_text.replace("是什么?\n## Assistant", "是什么?\n\n## Assistant") + "\n"
    exported = json.loads(liu("export", "460f69", "--format", "json").stdout)
    assert exported["id"] == SEED_ID and len(exported["messages"]) == 4
    assert exported["messages"][3]["cost"]["total_cost"] == 0.00026138
    out = liu_home.parent / "out.json"
    assert liu("export", "460f", "-o", str(out), "--format", "json").returncode == 0
    assert json.loads(out.read_text())["title"] == "LLM的流式输出是什么意思?"


def test_rm_moves_to_trash_and_restore_brings_it_back(seed_file: Path) -> None:
    liu("import", str(seed_file))
    r = liu("sessions", "rm", "460f")
    assert r.returncode == 0 and "liu sessions restore 460f69c4" in r.stdout
    assert json.loads(liu("sessions", "list", "--json").stdout) == []
    assert liu("sessions", "restore", "460f").returncode == 0
    assert len(json.loads(liu("sessions", "list", "--json").stdout)) == 1


def test_import_never_replaces_a_different_session_without_force(
    seed_file: Path, liu_home: Path, tmp_path: Path
) -> None:
    liu("import", str(seed_file))
    changed = tmp_path / "changed.md"
    changed.write_text(seed_file.read_text().replace("好的，我们来", "我改了"))
    before = _store_snapshot(liu_home)
    r = liu("import", str(changed))
    assert r.returncode == 2
    assert "--force" in r.stdout and "already in the store" in r.stdout
    assert _store_snapshot(liu_home) == before
    forced = liu("import", "--force", str(changed))
    assert forced.returncode == 0 and "(replaced)" in forced.stdout
    assert "我改了" in liu("sessions", "show", "460f").stdout


def test_the_index_is_rebuilt_by_reindex_and_after_deletion(
    seed_file: Path, liu_home: Path
) -> None:
    liu("import", str(seed_file))
    r = liu("sessions", "reindex")
    assert r.returncode == 0 and "indexed 1 sessions" in r.stdout
    for p in liu_home.glob("index.sqlite3*"):
        p.unlink()
    assert json.loads(liu("sessions", "list", "--json").stdout)[0]["id"] == SEED_ID


BAD_FILES: list[tuple[str, bytes, str]] = [
    ("no-front-matter.md", b"## User (2026-01-31 10:53:09)\nhi\n", ":1: no front matter"),
    ("broken-yaml.md", b"---\nsession_id: [x\n---\n", ":2: front matter is not valid YAML"),
    ("list-front.md", b"---\n- 1\n---\n", ":2: front matter is a list"),
    (
        "unknown-role.md",
        b"---\nsession_id: a\n---\n\n## Tool (2026-01-31 10:53:09)\nx\n",
        ":5: unknown role 'Tool'",
    ),
    (
        "bad-time.md",
        b"---\nsession_id: a\n---\n\n## User (2026-02-30 10:53:09)\nx\n",
        ":5: bad timestamp",
    ),
    ("truncated.md", b"---\nsession_id: a\ntitle: cut o", ":1: front matter never closed"),
    ("binary.md", b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50, ": binary file"),
    ("utf16.md", "---\nsession_id: a\n---\n".encode("utf-16"), ": UTF-16 text"),
    ("latin1.md", "---\nsession_id: a\ntitle: é\n---\n".encode("latin-1"), ":3: not UTF-8"),
    ("empty.md", b"", ": empty file"),
    (
        "bad-trailer.md",
        b"---\nsession_id: a\n---\n\n## Assistant (2026-01-31 10:53:09)\nok\n\n"
        b"<!-- usage: {bad} -->\n",
        ":8: trailer `usage` is not valid JSON",
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_get_one_line_exit_2_and_no_change(
    name: str, data: bytes, expected: str, tmp_path: Path, liu_home: Path
) -> None:
    bad = tmp_path / name
    bad.write_bytes(data)
    before = _store_snapshot(liu_home)
    r = liu("import", str(bad))
    assert r.returncode == 2
    assert r.stdout.startswith(f"failed: {bad}{expected}")
    assert r.stdout.count("\n") == 1 and "Traceback" not in r.stderr + r.stdout
    assert _store_snapshot(liu_home) == before


def test_crlf_and_a_folder_import_with_a_mix(tmp_path: Path, seed_text: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "crlf.md").write_bytes(seed_text.replace("\n", "\r\n").encode())
    (folder / "junk.md").write_bytes(b"")
    r = liu("import", str(folder))
    assert r.returncode == 2
    lines = r.stdout.splitlines()
    assert lines[0].startswith("imported: ") and lines[1].startswith("failed: ")
    assert len(json.loads(liu("sessions", "list", "--json").stdout)) == 1


def test_unknown_id_is_one_line_not_a_traceback() -> None:
    r = liu("sessions", "show", "deadbeef")
    assert r.returncode == 2
    assert r.stderr == "liu: no session deadbeef: see `liu sessions list`\n"


def test_a_20_megabyte_file_imports(tmp_path: Path) -> None:
    from datetime import datetime

    from tui.core import fileformat
    from tui.core.session import Message, Role, Session

    para = "Streaming markdown with `code`, **bold** and 流式输出.\n" * 20
    s = Session(
        title="big",
        messages=[
            Message(Role.USER if i % 2 == 0 else Role.ASSISTANT, datetime(2026, 1, 1), para.strip())
            for i in range(20_500)
        ],
    )
    big = tmp_path / "big.md"
    big.write_text(fileformat.write(s))
    assert big.stat().st_size > 20_000_000
    r = liu("import", str(big))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("imported: ")
    listed = json.loads(liu("sessions", "list", "--json").stdout)
    assert listed[0]["messages"] == 20_500
