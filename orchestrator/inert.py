"""Text from outside made inert before any view shows it: the one sanitizer of every view.

Commit subjects and authors, compiler messages and source lines, git's and tools' messages are written
by others. A control character among them is shown as what it is (`\\x1b`, `\\u202e`), never sent raw:
to a terminal an ESC starts a sequence that clears the screen or sets the window title, a carriage
return hides what came before it, a bidirectional override reorders what is shown; a mail header or an
XML document with one is malformed. Tabs stay (harmless anywhere); newlines stay only where a view
writes several lines of its own (`inert_text`).

Rich markup in such text is a separate matter, handled where rich is called: console views pass text
as `Text` objects or with `markup=False`, never inside a markup string.
"""

from __future__ import annotations

import re

# C0 controls but tab, DEL, C1 controls, and the bidirectional embeddings, overrides and isolates
# (what "Trojan Source" uses), the line and paragraph separators.
_CONTROLS = [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
_SHOWN = {code: (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _CONTROLS}
_FIELD = str.maketrans(_SHOWN)
_DOCUMENT = str.maketrans({code: shown for code, shown in _SHOWN.items() if code != 0x0A})
_JSON = str.maketrans({code: f"\\u{code:04x}" for code in _CONTROLS if code >= 0x7F})  # json.dumps escapes the C0 ones itself
_ANY = re.compile("[" + "".join(re.escape(chr(code)) for code in _CONTROLS) + "]")


def inert(text: str) -> str:
    """One field (a subject, a message, a path) with every control character shown, a newline too."""
    return text.translate(_FIELD) if _ANY.search(text) else text


def inert_text(text: str) -> str:
    """A document a view wrote (markdown, XML, a mail's body): its own newlines kept, every other
    control character shown."""
    return text.translate(_DOCUMENT) if _ANY.search(text) else text


def inert_json(text: str) -> str:
    """JSON written with ensure_ascii=False: DEL, C1 and bidirectional controls escaped as \\uXXXX (JSON
    escapes the rest itself), so the document reads the same and is safe on a terminal."""
    return text.translate(_JSON) if _ANY.search(text) else text
