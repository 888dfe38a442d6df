"""Hostile HTTP requests for the fuzz target (tests/test_fuzz_http.py): mutations, bytes, headers.

Each example starts from a valid request of the route's dialect (fuzz_seeds) and mutates it the
ways clients get it wrong: wrong types, missing and extra fields (also other dialects' fields),
huge and negative numbers, nested junk, any Unicode and lone surrogates. Its bytes may then be
broken (truncated, not UTF-8, compressed, empty), its headers odd (content types, duplicate or
non-ASCII credentials, foreign hosts and origins) and its framing chunked. ``send`` writes the
request on a raw socket, so bytes an HTTP client would refuse to send reach the gateway too.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from fuzz_seeds import SEEDS
from hypothesis import strategies as st

TOKEN = "fuzz-token-0123456789"
PUBLIC_HOST = "gateway.fuzz.test"


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


#: Field names of every dialect, so mutations add fields another dialect (or no one) knows.
FIELD_NAMES = sorted({k for seeds in SEEDS.values() for seed in seeds for k in _all_keys(seed)})
FIELD_NAMES += ["n", "logprobs", "previous_response_id", "background", "functions", "input"]

# --- values ------------------------------------------------------------------------------------

_LONE_SURROGATES = ["\ud800", "a\udfffb", "\ud83d", "\ude00\ud83d"]
_ODD_TEXT = [
    "",
    " ",
    "\x00",
    "\u202e\u0301\ufeff",
    "😀" * 3,
    "x" * 70_000,
    "${GATEWAY_TOKEN}",
    "{{ 7*7 }}",
    "../../etc/passwd",
]
_EDGE_NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63), 10**40, 0.5, -0.0, 1e308, 1e-308]

_text = st.text(st.characters(exclude_categories=()), max_size=30)
_strings = _text | st.sampled_from(_ODD_TEXT + _LONE_SURROGATES)
_numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(_EDGE_NUMBERS)
)
_scalars = st.none() | st.booleans() | _numbers | _strings
#: Any JSON value, nested a little.
junk = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | _text, inner, max_size=4)
    ),
    max_leaves=12,
)


@dataclass(frozen=True)
class Nested:
    """A list ``depth`` deep, written out only in the bytes (Python's own json and repr would
    hit their recursion limits first)."""

    depth: int

    def marker(self) -> str:
        return f"@nested-{self.depth}@"

    def text(self) -> str:
        return "[" * self.depth + "]" * self.depth


def _repeated(value: str | list[Any]) -> str | list[Any]:
    """``value`` repeated up to about 64 KiB: long, and still far below limits.max_body_bytes
    (a body past it is closed on, which is not what this target tests)."""
    size = len(json.dumps(value, default=repr))
    return value * max(2, min(1000, 65536 // size))


@st.composite
def _replacement(draw: Any, value: Any) -> Any:
    """Another value in place of ``value``: junk, or a variation of its own type."""
    kind = draw(st.sampled_from(["junk", "junk", "own", "wrap", "deep"]))
    if kind == "junk":
        return draw(junk)
    if kind == "wrap":  # the right value one level too deep or too shallow
        return draw(st.sampled_from([[value], {"text": value}, {"type": "text", "text": value}]))
    if kind == "deep":
        return Nested(draw(st.sampled_from([50, 900, 5000, 100_000])))
    if isinstance(value, bool):
        return draw(st.sampled_from([not value, 0, 1, "true", None]))
    if isinstance(value, int | float):
        return draw(_numbers | st.just(str(value)))
    if isinstance(value, str):
        return draw(_strings | st.just(_repeated(value)) | st.just(value.upper()))
    if isinstance(value, list):
        return draw(st.sampled_from([[], _repeated(value), value[::-1], [None], [value]]))
    if isinstance(value, dict):
        extra = {draw(st.sampled_from(FIELD_NAMES) | _text): draw(junk)}
        return draw(st.sampled_from([{}, {**value, **extra}, list(value.values()), extra]))
    return draw(junk)


@st.composite
def mutated(draw: Any, value: Any, depth: int = 0) -> Any:
    """``value`` with one change somewhere inside: replaced, deleted or added."""
    children = list(value) if isinstance(value, dict) else []
    children = list(range(len(value))) if isinstance(value, list) else children
    if children and depth < 12 and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(children))
        copy = dict(value) if isinstance(value, dict) else list(value)
        action = draw(st.sampled_from(["descend"] * 5 + ["delete", "add"]))
        if action == "delete":
            del copy[key]
        elif action == "add" and isinstance(copy, dict):
            copy[draw(st.sampled_from(FIELD_NAMES) | _text)] = draw(junk)
        elif action == "add":
            copy.insert(key, draw(junk | st.just(value[key])))
        else:
            copy[key] = draw(mutated(value[key], depth + 1))
        return copy
    return draw(_replacement(value))


@st.composite
def mutated_body(draw: Any, seeds: list[dict[str, Any]]) -> Any:
    """A seed with zero to four mutations."""
    body: Any = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 4))):
        body = draw(mutated(body))
    return body


# --- bytes -------------------------------------------------------------------------------------


def _json(value: Any, **options: Any) -> str:
    nested: list[Nested] = []

    def default(obj: Any) -> str:
        assert isinstance(obj, Nested)
        nested.append(obj)
        return obj.marker()

    text = json.dumps(value, default=default, **options)
    for obj in nested:
        text = text.replace(json.dumps(obj.marker()), obj.text(), 1)
    return text


# surrogatepass: a lone surrogate becomes the 3 bytes UTF-8 forbids, not an exception here.
_ENCODINGS = {
    "escaped": lambda v: _json(v).encode(),
    "utf-8": lambda v: _json(v, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    "indented": lambda v: _json(v, indent=2).encode(),
    "utf-16": lambda v: _json(v, ensure_ascii=False).encode("utf-16", "surrogatepass"),
    "latin-1": lambda v: _json(v, ensure_ascii=False).encode("latin-1", "replace"),
}


@st.composite
def body_bytes(draw: Any, value: Any) -> bytes:
    """``value`` as JSON bytes in some encoding, and sometimes broken afterwards."""
    encoding = draw(st.sampled_from(["escaped", "escaped", "utf-8", "utf-8", *_ENCODINGS]))
    raw = _ENCODINGS[encoding](value)
    damage = draw(
        st.sampled_from(
            ["none"] * 10
            + ["truncate", "bad-byte", "bom", "trailing", "binary", "empty", "gzip", "array"]
        )
    )
    if damage == "truncate":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if damage == "bad-byte":
        at = draw(st.integers(0, len(raw)))
        bad = draw(
            st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"])
        )
        return raw[:at] + bad + raw[at:]
    if damage == "bom":
        return b"\xef\xbb\xbf" + raw
    if damage == "trailing":
        return raw + draw(st.sampled_from([b" ", b"\n{}", b"garbage", b"]", b"\x00"]))
    if damage == "binary":
        return draw(st.binary(max_size=300))
    if damage == "empty":
        return b""
    if damage == "gzip":
        return gzip.compress(raw)
    if damage == "array":
        return b"[" + raw + b"]"
    return raw


# --- headers -----------------------------------------------------------------------------------

_AUTH = [
    [(b"x-api-key", TOKEN.encode())],
    [(b"x-api-key", TOKEN.encode())],
    [(b"Authorization", b"Bearer " + TOKEN.encode())],
    [(b"Authorization", b"Bearer " + TOKEN.encode())],
    [(b"X-Api-Key", TOKEN.encode()), (b"Authorization", b"Bearer " + TOKEN.encode())],
    [(b"x-api-key", TOKEN.encode()), (b"x-api-key", b"wrong")],
    [(b"x-api-key", b"wrong"), (b"x-api-key", TOKEN.encode())],
    [(b"Authorization", b"Bearer wrong"), (b"x-api-key", TOKEN.encode())],
    [(b"x-api-key", TOKEN.encode() + b"\xff\xfe")],
    [(b"x-api-key", b"\xc3\xa9" * 40)],
    [(b"Authorization", b"Bearer")],
    [(b"Authorization", b"bearer " + TOKEN.encode())],
    [(b"Authorization", b"Basic Zm9vOmJhcg==")],
    [(b"Authorization", b"Bearer  " + TOKEN.encode() + b" ")],
    [(b"x-api-key", b"")],
    [],
]
_CONTENT_TYPES = [
    b"application/json",
    b"application/json",
    b"application/json; charset=utf-8",
    None,
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=xyz",
    b"application/json; charset=utf-16",
    b"application/json; charset=\xff",
    b"",
]
_HOSTS = [b"good"] * 8 + [b"evil.example", PUBLIC_HOST.encode(), b"localhost", b"\xff", b"[::1"]
_ORIGINS = [None] * 8 + [b"null", b"https://evil.example", b"vscode-file://vscode-app", b"\xfe"]
_VERSIONS = [b"2023-06-01", b"2023-06-01", None, b"", b"1999-01-01\xff"]


@st.composite
def headers(draw: Any, port: int, anthropic: bool) -> list[tuple[bytes, bytes]]:
    """Header lines as sent: credentials, content type, host, origin, and odd extra ones."""
    lines: list[tuple[bytes, bytes]] = []
    host = draw(st.sampled_from(_HOSTS))
    if host == b"good":
        host = b"127.0.0.1:%d" % port
    lines.append((b"Host", host))
    if draw(st.integers(0, 9)) == 0:
        lines.append((b"Host", b"other.example"))
    lines += draw(st.sampled_from(_AUTH))
    content_type = draw(st.sampled_from(_CONTENT_TYPES))
    if content_type is not None:
        lines.append((b"Content-Type", content_type))
    version = (
        draw(st.sampled_from(_VERSIONS))
        if anthropic
        else draw(st.sampled_from([None] * 3 + _VERSIONS))
    )
    if version is not None:
        lines.append((b"anthropic-version", version))
    origin = draw(st.sampled_from(_ORIGINS))
    if origin is not None:
        lines.append((b"Origin", origin))
    extra = st.tuples(
        st.sampled_from([b"Accept-Encoding", b"Content-Encoding", b"anthropic-beta", b"X-Odd",
                         b"Accept", b"X-Forwarded-For", b"X-Forwarded-Host", b"Cookie"]),
        st.binary(max_size=40).map(lambda v: v.replace(b"\r", b"").replace(b"\n", b"")),
    )  # fmt: skip
    lines += draw(st.lists(extra, max_size=3))
    return lines


# --- the wire ----------------------------------------------------------------------------------


@dataclass
class Sent:
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunked: bool = False

    def header(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def wire(self) -> bytes:
        lines = [b"POST " + self.target + b" HTTP/1.1"]
        lines += [k + b": " + v for k, v in self.headers]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part)
                for part in (self.body[i : i + 700] for i in range(0, len(self.body), 700))
            )
            body += b"0\r\n\r\n"
        else:
            lines.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def send(port: int, request: Sent, timeout: float) -> Answer:
    """Sends ``request`` on a new connection; the whole answer, read until the server closes.

    Raises TimeoutError when no complete answer came within ``timeout`` seconds.
    """
    started = time.monotonic()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer before it has read the whole body: that answer is read below.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request.wire())
        while True:
            sock.settimeout(max(0.01, timeout - (time.monotonic() - started)))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(
                    f"no complete answer within {timeout} s: {data[:300]!r}"
                ) from None
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), f"not an HTTP answer: {data[:300]!r}"
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    if answer_headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Answer(int(status_line.split()[1]), answer_headers, body, time.monotonic() - started)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out
