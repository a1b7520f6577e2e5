"""What the learner's server did, in plain words, for a failure that no entry
of TROUBLESHOOTING.md names: what the page showed, or what the check's
clients sent and what the server sent back or did instead (harness/clients.py
records it), and what the page or the client expected. Never the check's bare
exception: a learner cannot act on "Expecting value: line 1 column 1".

Each sentence comes with its kind, so that the verdict says once what many
checks saw (every check that opens a room meets the same frames).
"""

import json
import re
from typing import NamedTuple

# The chat's one promise, as the room page reads it (data.message).
EXPECTED_FRAME = '{"message": "<the text>"}'
CHAT_LOG = re.compile(
    r"should show (?P<expected>\[.*\]) in #chat-log, but shows (?P<shown>\[.*\])"
)

# What the page's checks say when they fail, in the learner's terms.
PAGE_FAILURES = (
    (
        r"never opened its WebSocket",
        "the room page never opened its WebSocket to /ws/chat/<room>/: does "
        "its script open ws://<host>/ws/chat/<room>/?",
    ),
    (
        r"Unable to locate element.*#(?P<id>[\w-]+)",
        "the page has no element with id '{id}': compare your template with "
        "the tutorial's (the checks find elements by these ids).",
    ),
    (
        r"did not go to /chat/",
        "the index page did not go to /chat/<room>/: check its script and the "
        "room URL in chat/urls.py.",
    ),
)


class Said(NamedTuple):
    kind: str  # failures of one kind are told once
    sentence: str


def in_plain_words(excinfo, exchanges) -> Said:
    message = str(excinfo.value)
    for pattern, sentence in PAGE_FAILURES:
        match = re.search(pattern, message)
        if match:
            return Said(pattern, sentence.format(**match.groupdict()))
    match = CHAT_LOG.search(message)
    if match:
        return what_the_page_showed(**match.groupdict())
    if "received nothing" in message:
        return what_never_came(exchanges)
    return what_the_server_did(exchanges) or what_the_check_expected(excinfo)


def what_the_page_showed(expected, shown):
    if "'undefined'" in shown:
        return Said(
            "page shows undefined",
            "the room page wrote 'undefined' in #chat-log where each message "
            'should be: it shows the "message" of every frame your server sends '
            f"(data.message), and your server's frames have none; it expects {EXPECTED_FRAME}.",
        )
    if shown == "[]":
        return Said(
            "page shows nothing",
            f"nothing appeared in the room page's #chat-log, where it expected "
            f'{expected}: the page writes there the "message" of each JSON frame '
            "its WebSocket receives, and none came, or none it could read.",
        )
    return Said(
        "page shows other lines",
        f"the room page showed {shown} in #chat-log where it expected {expected}.",
    )


def what_never_came(exchanges):
    sent = [each for each in exchanges if each.event == "sent"]
    if not sent:
        return Said(
            "nothing came",
            "your server sent nothing to a client that waited for a message, "
            f"where it expected {EXPECTED_FRAME}.",
        )
    return Said(
        "nothing came",
        f'a client of room "{sent[-1].room}" sent {sent[-1].data}, and your server '
        "sent nothing back, where every client of the room expected "
        f"{expected_for(sent[-1].data)}.",
    )


def what_the_server_did(exchanges):
    """What the server last did to a client, when that was wrong; else None."""
    if not exchanges:
        return None
    last = exchanges[-1]
    if last.event == "received":
        return what_the_server_sent(last, exchanges)
    if last.event == "closed":
        why = f" ({last.data})" if last.data else ""
        return Said(
            "closed",
            f'your server closed the socket of a client of room "{last.room}"{why}, '
            f"where the client expected {EXPECTED_FRAME}.",
        )
    if last.event == "refused":
        return Said(
            "refused",
            f'your server refused the WebSocket of room "{last.room}" with '
            f"{last.data} instead of accepting it: the room page's socket could "
            "not open.",
        )
    if last.event == "unanswered":
        return Said(
            "unanswered",
            "your server never finished the WebSocket handshake of room "
            f'"{last.room}": the room page\'s socket could not open.',
        )
    return None


def what_the_server_sent(received, exchanges):
    """A frame the room page cannot show, said with what it answered."""
    shown = received.data
    try:
        frame = json.loads(received.data)
    except ValueError:
        frame, shown = None, f"the text {received.data!r}"
        what = "that is not JSON, and the room page reads every frame as JSON"
    else:
        if isinstance(frame, dict) and "message" in frame:
            return None  # a chat message: what was wrong is what the check expected
        what = 'the room page shows the "message" of each frame (data.message)'
    sent = answered(frame, exchanges)
    after = (
        f' after a client of room "{sent.room}" sent {sent.data}'
        if sent
        else f' to a client of room "{received.room}"'
    )
    expected = expected_for(sent.data) if sent else EXPECTED_FRAME
    return Said(
        "frame without message",
        f"your server sent {shown}{after}: {what}, so it expected {expected}.",
    )


def answered(frame, exchanges):
    """The frame a client sent that the server's frame answers: the one whose
    text it carries, else the last one sent."""
    sent = [each for each in exchanges if each.event == "sent"]
    values = set(frame.values()) if isinstance(frame, dict) else set()
    carried = [each for each in sent if message_of(each.data) in values]
    return (carried or sent or [None])[-1]


def message_of(data):
    try:
        return json.loads(data)["message"]
    except (ValueError, TypeError, KeyError):
        return None


def expected_for(sent):
    """The frame every client of the room should get for what was sent."""
    text = message_of(sent)
    return EXPECTED_FRAME if text is None else json.dumps({"message": text})


def what_the_check_expected(excinfo):
    """The check's own words, framed, for what no record explains."""
    lines = str(excinfo.value).strip().splitlines()
    message = lines[0] if lines else excinfo.typename
    compared = re.match(r"assert (?P<got>.+) == (?P<expected>.+)$", message)
    if compared:
        return Said(
            message,
            f"the check got {compared['got']} from your server where it expected "
            f"{compared['expected']}.",
        )
    return Said(
        message,
        f"the check stopped on {excinfo.typename} ({message}) before your server "
        "did anything that explains it: the details file has the traceback.",
    )
