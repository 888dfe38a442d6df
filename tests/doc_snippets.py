"""The client snippets of docs/, read from the Markdown so that the tests run what a reader
copies: each is the fenced block right after a `<!-- tested: NAME -->` line."""

from __future__ import annotations

import re
import textwrap

from paths import REPO

__all__ = ["for_gateway", "markers", "snippet"]

DOCS = REPO / "docs"
_MARKER = re.compile(r"^([ \t]*)<!-- tested: ([a-z0-9-]+) -->\n", re.M)


def markers() -> dict[str, str]:
    """Every snippet name marked in docs/, with the page it is on."""
    return {
        match.group(2): page.name
        for page in sorted(DOCS.glob("*.md"))
        for match in _MARKER.finditer(page.read_text(encoding="utf-8"))
    }


def snippet(page: str, name: str) -> str:
    """The text of the block marked ``name`` on ``page``, without its fences and indentation."""
    text = (DOCS / page).read_text(encoding="utf-8")
    for match in _MARKER.finditer(text):
        if match.group(2) != name:
            continue
        block = re.match(r"[ \t]*```[a-z]*\n(.*?)^[ \t]*```", text[match.end() :], re.M | re.S)
        assert block, f"docs/{page}: no fenced block right after the marker {name!r}"
        return textwrap.dedent(block.group(1))
    raise AssertionError(f"docs/{page} has no snippet marked {name!r}")


def for_gateway(text: str, url: str, key: str = "client-key", host: str = "") -> str:
    """A snippet pointed at a test gateway: the documented address and placeholders replaced."""
    text = text.replace("http://127.0.0.1:8000", url).replace("<token or anything>", key)
    return text.replace("<tunnel host>", host) if host else text
