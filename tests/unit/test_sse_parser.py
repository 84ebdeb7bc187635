"""`wire.SSEParser` read by read: whatever the reads' boundaries, the same events.

The parser cuts one-line `data:` events out of a read whole and reads anything else line
by line; these tests split bodies at every point, so each event is met by both paths.
"""

from __future__ import annotations

import random

from tui.providers.wire import SSEParser

BODY = (
    ": keep-alive\n\n"
    'data: {"a":1}\n\n'
    'data:{"no":"space"}\n\n'
    "event: message_start\n"
    'data: {"b":2}\n\n'
    "data: first line\n"
    "data: second line\n\n"
    "id: 7\n"
    "retry: 100\n"
    "data: after id\n\n"
    "\n\n\n"
    "data: crlf\r\n\r\n"
    "data:\n\n"
    "data: [DONE]\n\n"
    "data: unterminated"
)

EXPECTED = [
    ("", '{"a":1}'),
    ("", '{"no":"space"}'),
    ("message_start", '{"b":2}'),
    ("", "first line\nsecond line"),
    ("", "after id"),
    ("", "crlf"),
    ("", ""),
    ("", "[DONE]"),
    ("", "unterminated"),
]


def read(pieces: list[str]) -> tuple[list[tuple[str, str]], SSEParser]:
    parser = SSEParser()
    events: list[tuple[str, str]] = []
    for piece in pieces:
        events += parser.events(piece)
    events += parser.events("", final=True)
    return events, parser


def test_the_whole_body_in_one_read() -> None:
    events, parser = read([BODY])
    assert events == EXPECTED
    assert parser.not_sse is None


def test_every_split_into_two_reads_gives_the_same_events() -> None:
    for cut in range(len(BODY) + 1):
        events, _ = read([BODY[:cut], BODY[cut:]])
        assert events == EXPECTED, f"split at {cut}: {BODY[:cut]!r}"


def test_many_random_splits_give_the_same_events() -> None:
    chance = random.Random(5)
    for _ in range(300):
        cuts = sorted(chance.sample(range(1, len(BODY)), chance.randint(2, 12)))
        pieces = [BODY[a:b] for a, b in zip([0, *cuts], [*cuts, len(BODY)], strict=True)]
        events, _ = read(pieces)
        assert events == EXPECTED, pieces


def test_one_byte_at_a_time() -> None:
    events, _ = read(list(BODY))
    assert events == EXPECTED


def test_a_line_that_is_not_sse_before_any_event_is_kept_for_the_error() -> None:
    for body in ('{"error": {"message": "no"}}', "hello from a proxy\n", "<html>\n\n"):
        for cut in range(len(body) + 1):
            events, parser = read([body[:cut], body[cut:]])
            assert events == []
            assert parser.not_sse == body.strip(), (body, cut)


def test_a_line_that_is_not_sse_after_an_event_is_ignored() -> None:
    body = 'data: {"a":1}\n\nnonsense here\ndata: {"b":2}\n\n'
    for cut in range(len(body) + 1):
        events, parser = read([body[:cut], body[cut:]])
        assert events == [("", '{"a":1}'), ("", '{"b":2}')], cut
        assert parser.not_sse is None


def test_a_stream_of_one_line_events_leaves_only_the_open_event_pending() -> None:
    parser = SSEParser()
    events = parser.events("data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4")
    assert events == [("", "1"), ("", "2"), ("", "3")]
    assert parser.pending == "data: 4"
