"""Read and write the session format of FORMAT.md. Nothing else touches a session file's text.

`parse` is lenient where nothing is lost (a trailer with broken JSON is kept raw and reported
in `ParseResult.problems`) and strict where the file cannot be understood (`SessionFileError`
naming the file and line). `write` is the inverse: `parse(write(s)).session == s`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from tui.core.errors import SessionFileError
from tui.core.session import Cost, Message, Role, Session, Status, Usage

TIMESTAMP = "%Y-%m-%d %H:%M:%S"
_TS_SHAPE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
_TIMESTAMP_EXACT = re.compile(_TS_SHAPE, re.ASCII)
# A line the reader treats as structure. The same patterns decide what gets escaped on write,
# so escaping and reading can never disagree.
_HEADING = re.compile(r"## (User|Assistant|System) \((.*)\)[ \t]*")
_OTHER_HEADING = re.compile(rf"## (\w+) \(({_TS_SHAPE})\)[ \t]*")
_TRAILER = re.compile(r"<!-- ([A-Za-z_][\w-]*): (.*) -->[ \t]*")
_ESCAPED = re.compile(r"(\\+)(.*)", re.DOTALL)
_TRAILER_START = re.compile(r"<!-- [A-Za-z_][\w-]*:")

# libyaml's loader (when PyYAML has it) for giant front matter only: it is many times faster,
# but reads a few rare line-break characters (NEL, U+2028) differently from what
# yaml.safe_dump wrote, so ordinary files go through the pure-Python loader.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FAST_LOADER_FROM = 64 * 1024

_KNOWN_FRONT = {
    "assistant_id",
    "created_at",
    "current_step",
    "model_id",
    "session_id",
    "title",
    "total_cost",
    "total_usage",
}
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens")
_COST_KEYS = ("input_cost", "output_cost", "total_cost", "currency")


@dataclass
class Problem:
    """Something a lenient read kept but a careful user should hear about."""

    line: int
    message: str


@dataclass
class ParseResult:
    session: Session
    problems: list[Problem] = field(default_factory=list)


def _is_structural(line: str) -> bool:
    # Anything that starts like a trailer counts, complete or not, so that an unescaped
    # incomplete one can only mean a file cut short.
    return bool(
        _HEADING.fullmatch(line) or _OTHER_HEADING.fullmatch(line) or _TRAILER_START.match(line)
    )


def escape_line(line: str) -> str:
    """One more backslash on a line that would read as structure (reversible for any input)."""
    m = _ESCAPED.fullmatch(line)
    core = m.group(2) if m else line
    return "\\" + line if _is_structural(core) else line


def unescape_line(line: str) -> str:
    m = _ESCAPED.fullmatch(line)
    if m and _is_structural(m.group(2)):
        return line[1:]
    return line


def _dump_json(value: Any) -> str:
    # `>` as \u003e so no value can close the comment early.
    return json.dumps(value, ensure_ascii=True).replace(">", "\\u003e")


# ---------------------------------------------------------------- reading


def decode(data: bytes, path: str) -> str:
    """Bytes to text with the checks that give a clear line instead of garbage.

    A NUL byte alone does not make a file binary: a model may send one, and the session that
    holds it must stay readable. Binary is what does not start like a session and has NULs.
    """
    if not data.strip():
        raise SessionFileError(path, "empty file: not a session")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise SessionFileError(path, "UTF-16 text: save it as UTF-8 and try again")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:8192] and not data.startswith(b"---"):
        raise SessionFileError(path, "binary file: not a session")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SessionFileError(
            path,
            f"not UTF-8 (byte 0x{data[e.start]:02x}); convert it, e.g. `iconv -f latin1 -t utf-8`",
            line,
        ) from None
    return text.replace("\r\n", "\n")


def parse_bytes(data: bytes, path: str = "<session>") -> ParseResult:
    return parse(decode(data, path), path)


def parse(text: str, path: str = "<session>") -> ParseResult:
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        raise SessionFileError(path, "no front matter: a session starts with a `---` line", 1)
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
    if end is None:
        raise SessionFileError(path, "front matter never closed with `---` (truncated?)", 1)
    front = _parse_front(lines[1:end], path)
    problems: list[Problem] = []
    messages = _parse_messages(text, lines, end + 1, path, problems)
    session = _session_from(front, messages, path)
    _check_counts(front, session, len(lines), problems)
    return ParseResult(session, problems)


def _parse_front(lines: list[str], path: str) -> dict[str, Any]:
    try:
        text = "\n".join(lines)
        loader = _FAST_LOADER if len(text) > _FAST_LOADER_FROM else yaml.SafeLoader
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SessionFileError(path, f"front matter is not valid YAML: {problem}", line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SessionFileError(
            path, f"front matter is a {type(data).__name__}, not a mapping of keys", 2
        )
    return data


def _parse_time(value: str, path: str, line: int) -> datetime:
    """`TIMESTAMP` exactly. (Checked by shape, then read by `fromisoformat`: strptime took
    a quarter of the time to parse a 500-message session.)"""
    try:
        if _TIMESTAMP_EXACT.fullmatch(value) is None:
            raise ValueError(value)
        return datetime.fromisoformat(value)
    except ValueError:
        raise SessionFileError(
            path, f"bad timestamp {value!r}: expected YYYY-MM-DD HH:MM:SS", line
        ) from None


def _heading_lines(text: str, start: int) -> list[int]:
    """The indices (from `start`) of the lines of `text` that start with "## ", found by
    searching the text, not by a look at each of its lines."""
    found = [0] if text.startswith("## ") and start == 0 else []
    line, counted = 0, 0
    at = text.find("\n## ")
    while at != -1:
        line += text.count("\n", counted, at + 1)
        counted = at + 1
        if line >= start:
            found.append(line)
        at = text.find("\n## ", at + 1)
    return found


def _parse_messages(
    text: str, lines: list[str], start: int, path: str, problems: list[Problem]
) -> list[Message]:
    messages: list[Message] = []
    body: list[str] = []
    body_start = start
    current: tuple[Role, datetime] | None = None

    def close() -> None:
        if current is not None:
            messages.append(_build_message(current, body, body_start, path, problems))
        elif any(line.strip() for line in body):
            first = next(i for i, line in enumerate(body) if line.strip())
            raise SessionFileError(
                path, "text before the first `## Role (time)` heading", body_start + first + 1
            )

    # Only lines starting "## " can be headings: the rest are taken a slice at a time.
    taken = start
    for i in _heading_lines(text, start):
        line = lines[i]
        m = _HEADING.fullmatch(line)
        if m:
            body.extend(lines[taken:i])
            close()
            current = (Role(m.group(1)), _parse_time(m.group(2), path, i + 1))
            body, body_start = [], i + 1
            taken = i + 1
            continue
        other = _OTHER_HEADING.fullmatch(line)
        if other:
            raise SessionFileError(
                path,
                f"unknown role {other.group(1)!r}: expected User, Assistant or System",
                i + 1,
            )
    body.extend(lines[taken:])
    close()
    return messages


def _strip_blank(lines: list[str]) -> list[str]:
    a, b = 0, len(lines)
    while a < b and not lines[a].strip():
        a += 1
    while b > a and not lines[b - 1].strip():
        b -= 1
    return lines[a:b]


def _build_message(
    head: tuple[Role, datetime],
    body: list[str],
    body_start: int,
    path: str,
    problems: list[Problem],
) -> Message:
    msg = Message(role=head[0], created_at=head[1])
    # Trailers: the unescaped comment lines at the end, blank lines between them allowed.
    end = len(body)
    while end > 0 and not body[end - 1].strip():
        end -= 1
    if end > 0 and _TRAILER_START.match(body[end - 1]) and not _TRAILER.fullmatch(body[end - 1]):
        problems.append(
            Problem(body_start + end, "trailer comment cut short (truncated file?); kept as text")
        )
    trailers: list[tuple[int, str, str]] = []
    while end > 0:
        line = body[end - 1]
        m = _TRAILER.fullmatch(line)
        if m:
            trailers.append((body_start + end, m.group(1), m.group(2)))
            end -= 1
        elif not line.strip() and trailers:
            end -= 1
        else:
            break
    trailers.reverse()
    text_lines = _strip_blank(body[:end])
    msg.text = "\n".join(text_lines)
    # Only a line starting with a backslash can be escaped: most messages have none.
    if msg.text.startswith("\\") or "\n\\" in msg.text:
        msg.text = "\n".join(unescape_line(line) for line in text_lines)
    for line_no, key, raw in trailers:
        _apply_trailer(msg, key, raw, line_no, problems)
    return msg


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _apply_trailer(msg: Message, key: str, raw: str, line_no: int, problems: list[Problem]) -> None:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        problems.append(
            Problem(line_no, f"trailer `{key}` is not valid JSON ({e.msg}); kept unchanged")
        )
        msg.extra_trailers.append((key, raw))
        return
    if key == "usage" and isinstance(value, dict):
        msg.usage = Usage(
            prompt_tokens=_int_or_none(value.get("prompt_tokens")),
            completion_tokens=_int_or_none(value.get("completion_tokens")),
            total_tokens=_int_or_none(value.get("total_tokens")),
            reasoning_tokens=_int_or_none(value.get("reasoning_tokens")),
            cached_tokens=_int_or_none(value.get("cached_tokens")),
            extra={k: v for k, v in value.items() if k not in (*_USAGE_KEYS, "cached_tokens")},
        )
    elif key == "cost" and isinstance(value, dict):
        msg.cost = Cost(
            input_cost=_num_or_none(value.get("input_cost")),
            output_cost=_num_or_none(value.get("output_cost")),
            total_cost=_num_or_none(value.get("total_cost")),
            currency=str(value.get("currency") or "USD"),
            extra={k: v for k, v in value.items() if k not in _COST_KEYS},
        )
    elif key == "model" and isinstance(value, str):
        msg.model = value
    elif key == "reasoning" and isinstance(value, str):
        msg.reasoning = value
    elif key == "status" and isinstance(value, dict):
        msg.status = Status(
            state=str(value.get("state", "interrupted")),
            reason=str(value.get("reason", "unknown")),
            extra={k: v for k, v in value.items() if k not in ("state", "reason")},
        )
    else:
        msg.extra_trailers.append((key, raw))


def _session_from(front: dict[str, Any], messages: list[Message], path: str) -> Session:
    session_id = front.get("session_id")
    if not isinstance(session_id, str) or not session_id.strip():
        raise SessionFileError(path, "front matter has no `session_id`", 2)
    created = front.get("created_at")
    if isinstance(created, datetime):
        created_at = created.replace(tzinfo=None)
    elif isinstance(created, str):
        try:
            created_at = datetime.fromisoformat(created).replace(tzinfo=None)
        except ValueError:
            raise SessionFileError(
                path, f"bad created_at {created!r}: expected ISO 8601", 2
            ) from None
    elif created is None:
        created_at = messages[0].created_at if messages else datetime(1970, 1, 1)
    else:
        raise SessionFileError(path, f"bad created_at {created!r}: expected ISO 8601", 2)
    return Session(
        session_id=session_id,
        title=str(front.get("title") or ""),
        created_at=created_at,
        model_id=str(front.get("model_id") or ""),
        assistant_id=str(front.get("assistant_id") or "general-assistant"),
        messages=messages,
        extra={k: v for k, v in front.items() if k not in _KNOWN_FRONT},
    )


def _check_counts(
    front: dict[str, Any], session: Session, n_lines: int, problems: list[Problem]
) -> None:
    """Front matter that counts more than the file holds means the end was cut off."""
    step = front.get("current_step")
    if isinstance(step, int) and step > session.current_step:
        problems.append(
            Problem(
                n_lines,
                f"front matter counts {step} finished replies but the file holds "
                f"{session.current_step} (truncated?)",
            )
        )
        return
    usage = front.get("total_usage")
    tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
    held = session.totals().total_tokens
    if isinstance(tokens, int) and tokens > held:
        problems.append(
            Problem(
                n_lines,
                f"front matter counts {tokens} tokens but the replies in the file hold {held} "
                "(truncated?)",
            )
        )


# ---------------------------------------------------------------- writing


def front_matter(session: Session) -> dict[str, Any]:
    totals = session.totals()
    data: dict[str, Any] = dict(session.extra)
    data.update(
        assistant_id=session.assistant_id,
        created_at=session.created_at.isoformat(timespec="microseconds"),
        current_step=session.current_step,
        model_id=session.model_id,
        session_id=session.session_id,
        title=session.title,
        total_cost={"currency": totals.currency, "total_cost": totals.cost},
        total_usage={
            "completion_tokens": totals.completion_tokens,
            "prompt_tokens": totals.prompt_tokens,
            "total_tokens": totals.total_tokens,
        },
    )
    return data


def _trailer_lines(msg: Message) -> list[str]:
    out: list[str] = []

    def add(key: str, value: Any) -> None:
        out.append(f"<!-- {key}: {_dump_json(value)} -->")

    if msg.usage is not None:
        u = msg.usage
        usage: dict[str, Any] = {k: getattr(u, k) for k in _USAGE_KEYS}
        if u.cached_tokens is not None:
            usage["cached_tokens"] = u.cached_tokens
        usage.update(u.extra)
        add("usage", usage)
    if msg.cost is not None:
        c = msg.cost
        cost: dict[str, Any] = {k: getattr(c, k) for k in _COST_KEYS}
        cost.update(c.extra)
        add("cost", cost)
    if msg.model is not None:
        add("model", msg.model)
    if msg.reasoning is not None:
        add("reasoning", msg.reasoning)
    if msg.status is not None:
        add("status", {"state": msg.status.state, "reason": msg.status.reason, **msg.status.extra})
    out.extend(f"<!-- {key}: {raw} -->" for key, raw in msg.extra_trailers)
    return out


def write(session: Session) -> str:
    parts = ["---\n", yaml.safe_dump(front_matter(session), allow_unicode=True, sort_keys=True)]
    parts.append("---\n")
    for msg in session.messages:
        parts.append(f"\n## {msg.role.value} ({msg.created_at.strftime(TIMESTAMP)})\n")
        if msg.text:
            parts.append("\n".join(escape_line(line) for line in msg.text.split("\n")) + "\n")
        trailers = _trailer_lines(msg)
        if trailers:
            parts.append("\n" + "\n".join(trailers) + "\n")
    return "".join(parts)
