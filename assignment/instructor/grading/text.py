"""Text from a submission made safe to write and to show.

Student code controls the text of its exceptions, and a student controls the
names of their files and the strings in their notebooks. Such text may hold
lone surrogates (``"\\ud800"``, or a file name that is not valid UTF-8, which
Python decodes to ``"\\udcff"``): nbformat accepts them, but writing the
notebook as UTF-8 then fails and nbgrader loses that student's notebook. And
Markdown cells render HTML, so a name like ``<img onerror=...>`` shown in one
would run script in formgrader. The helpers here keep such text readable and
inert.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
# Punctuation that Markdown reads as plain text in the middle of a line ("_", "*", "`", "[", "<", "&"...
# are not among them: they start emphasis, code, links, HTML or references).
_PLAIN = " ./,:;()-"


def utf8_safe(text: str) -> str:
    """``text`` with every character UTF-8 cannot encode (lone surrogates) written as a ``\\uXXXX`` escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def utf8_safe_json(document: str) -> str:
    """A JSON document (such as ``nbformat.writes``' output) that can be written as UTF-8.

    A lone surrogate can only stand inside a JSON string; it is replaced by an escaped
    backslash and its code, so that the string, read back, shows ``\\ud800`` as text
    (what ``utf8_safe`` shows) instead of turning into a surrogate again.
    """
    return _SURROGATE.sub(lambda found: "\\\\u%04x" % ord(found.group()), document)


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a character UTF-8 cannot encode."""
    return _SURROGATE.search(text) is not None


def markdown_literal(text: str) -> str:
    """``text`` for a Markdown cell, shown as it is and never read as Markdown or HTML.

    Letters, digits and plain punctuation (``_PLAIN``) stay; every other printable character
    becomes an HTML character reference (``<`` -> ``&#60;``), which Markdown and HTML
    show as the character itself; a control or invisible character (a newline, a
    right-to-left override) is shown as its escape (``\\x0a``).
    """
    shown = []
    for char in utf8_safe(text):
        if (char.isascii() and char.isalnum()) or char in _PLAIN:
            shown.append(char)
        elif char.isprintable():
            shown.append(f"&#{ord(char)};")
        else:
            shown.append("&#92;" + (f"x{ord(char):02x}" if ord(char) < 256 else f"u{ord(char):04x}"))
    return "".join(shown)
