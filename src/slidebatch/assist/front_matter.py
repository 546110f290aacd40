"""A document's leading front matter block: YAML-looking ``key: value`` lines between ``---``.

Only a block at the very start whose lines all look like YAML (a lowercase key, a colon, a
value; indented or ``- item`` lines continuing a key) counts. Rules around prose
(``---\\n  Our plan is bold\\n---``) or a capitalised label with a sentence
(``Summary: revenue grew 20%``) are the document's text, not its metadata.
"""

from __future__ import annotations

import re

_RULE = re.compile(r"^-{3,}\s*$")
_KEY = re.compile(r"^([a-z_][a-z0-9_-]*)\s*:(?:\s+(.*?))?\s*$")
_CONTINUED = re.compile(r"^(?:\s+\S|-\s)")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The front matter's top-level values (quotes removed) and the text after the block.

    Without such a block: ``({}, text)``.
    """
    lines = text.splitlines()
    if not lines or not _RULE.match(lines[0]):
        return {}, text
    end = next((i for i in range(1, len(lines)) if _RULE.match(lines[i])), None)
    if end is None:
        return {}, text
    fields: dict[str, str] = {}
    keyed = False
    for line in lines[1:end]:
        found = _KEY.match(line)
        if found:
            fields[found.group(1)] = (found.group(2) or "").strip().strip("'\"")
            keyed = True
        elif line.strip() and not (keyed and _CONTINUED.match(line)):
            return {}, text
    return fields, "\n".join(lines[end + 1 :])
