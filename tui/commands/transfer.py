"""`liu import` and `liu export`: session files in and out of the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.library import Library

MAX_IMPORT_BYTES = 256 * 1024 * 1024


def register(sub: Any) -> None:
    im = sub.add_parser("import", help="copy session files (or folders of them) into the store")
    im.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    im.add_argument(
        "--force", action="store_true", help="replace a different session that has the same id"
    )
    im.set_defaults(run=cmd_import)

    ex = sub.add_parser("export", help="write a session as markdown or JSON")
    ex.add_argument("id")
    ex.add_argument("-o", "--output", help="file to write (default: standard output)")
    ex.add_argument("--format", choices=("md", "json"), default="md")
    ex.set_defaults(run=cmd_export)


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.md") if q.is_file()))
        else:
            out.append(p)
    return out


def import_one(lib: Library, path: Path, force: bool) -> tuple[str, str]:
    """(outcome, detail) with outcome imported / skipped / failed; the store changes only on
    imported."""
    from tui.core import fileformat
    from tui.core.errors import SessionFileError
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            return "failed", f"{path}: {size // 2**20} MB is larger than a session can be"
        data = path.read_bytes()
    except FileNotFoundError:
        return "failed", f"{path}: no such file"
    except OSError as e:
        return "failed", f"{path}: cannot read: {e.strerror}"
    try:
        result = fileformat.parse_bytes(data, str(path))
    except SessionFileError as e:
        return "failed", str(e)
    if result.problems:
        p = result.problems[0]
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        return "failed", f"{path}:{p.line}: {p.message}{more}"
    session = result.session
    existing = lib.index.path_of(session.session_id) or lib.store.find(
        session.session_id, scan=False
    )
    if existing is not None:
        try:
            same = fileformat.write(lib.store.read(existing).session) == fileformat.write(session)
        except SessionFileError:
            same = False
        if same:
            return "skipped", f"{path}: already there ({session.session_id[:8]})"
        if not force:
            return "failed", (
                f"{path}: a different session with id {session.session_id[:8]} is already in "
                "the store (use --force to replace it)"
            )
        lib.store.replace(session, existing)
        return "imported", f"{path} -> {existing.name} (replaced)"
    target = lib.store.create(session)
    return "imported", f"{path} -> {target.name}"


def cmd_import(args: argparse.Namespace) -> int:
    from tui.core.library import Library

    lib = Library.open()
    files = _files(args.paths)
    if not files:
        print("liu: nothing to import", file=sys.stderr)
        return 2
    failed = 0
    for path in files:
        outcome, detail = import_one(lib, path, args.force)
        failed += outcome == "failed"
        print(f"{outcome}: {detail}")
    return 2 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    from tui.core import fileformat
    from tui.core.export import session_to_json
    from tui.core.library import Library
    from tui.core.store import write_atomic

    lib = Library.open()
    row = lib.resolve(args.id)
    session = lib.store.read(row.path).session
    if args.format == "json":
        text = json.dumps(session_to_json(session), ensure_ascii=False, indent=2) + "\n"
    else:
        text = fileformat.write(session)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        out = Path(args.output)
        write_atomic(out, text.encode("utf-8"))
        print(f"exported {row.session_id[:8]} to {out}", file=sys.stderr)
    return 0
