"""Defence in depth: configured secrets never reach a log line, whatever a caller passes.

Secrets are replaced inside every string of a record (keys and values) before it is
serialized, so scrubbing can never break the JSON structure of a line. An upstream may echo
a key in other forms than the whole of it, so for a secret of at least ``FRAGMENT`` (8)
characters every piece of it that long is masked too, in any case, and so is the secret in
base64 (as in a ``Basic`` header), at each of the three alignments base64 can give it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, Protocol

from pydantic import SecretStr

MASK = "****"
FRAGMENT = 8  # the shortest piece of a secret that is masked on its own
# The pieces a text is probed for first, at every _STRIDE-th place (``mask_fragments``).
PROBE = 5
_STRIDE = FRAGMENT - PROBE + 1
# Up to this length a text's windows are compared with the fragments as a set; longer texts
# are searched for each fragment (about as fast there, and no list of windows is built).
_WINDOWS_UP_TO = 512


def secret_fragments(secret: str) -> frozenset[str]:
    """Every ``FRAGMENT``-long piece of ``secret`` and of its base64 forms, lower-cased."""
    if len(secret) < FRAGMENT:
        return frozenset()
    forms = [secret, *_base64_forms(secret)]
    return frozenset(
        fold(form)[i : i + FRAGMENT] for form in forms for i in range(len(form) - FRAGMENT + 1)
    )


def _base64_forms(secret: str) -> list[str]:
    """``secret`` in base64 as it appears inside a longer encoding, at offsets 0, 1 and 2.

    The characters that depend on the neighbouring bytes are cut off each end.
    """
    raw = secret.encode("utf-8")
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        start = (offset * 4 + 2) // 3 + (1 if offset else 0)
        end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)
        forms.append(encoded[start:end])
    return forms


def fold(text: str) -> str:
    """``text`` lower-cased character by character, so each index still names the same
    character. ``str.lower`` makes two characters of one (``İ``), which shifted every
    mask after it onto the wrong place: the key's characters before it stayed readable."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower()[:1] for c in text)


def fragment_probes(fragments: Iterable[str]) -> frozenset[str]:
    """Every ``PROBE``-long piece of ``fragments``: what ``mask_fragments`` looks for first."""
    return frozenset(f[i : i + PROBE] for f in fragments for i in range(FRAGMENT - PROBE + 1))


def mask_fragments(
    text: str, fragments: frozenset[str], probes: frozenset[str] | None = None
) -> str:
    """``text`` with every run that contains one of ``fragments`` (any case) masked.

    ``probes`` (``fragment_probes(fragments)``, made once by the caller) clears a text
    without a piece of a secret faster: any ``FRAGMENT``-long piece of it holds a
    ``PROBE``-long piece starting at a multiple of ``_STRIDE`` of the text, so when none of
    those (a quarter of the windows) is a probe, no fragment can be in the text.
    """
    if not fragments or len(text) < FRAGMENT:
        return text
    lowered = fold(text)
    if probes is not None and probes.isdisjoint(
        [lowered[i : i + PROBE] for i in range(0, len(lowered) - PROBE + 1, _STRIDE)]
    ):
        return text
    if len(text) <= _WINDOWS_UP_TO and fragments.isdisjoint(
        [lowered[i : i + FRAGMENT] for i in range(len(lowered) - FRAGMENT + 1)]
    ):
        # Every log line's strings pass here, nearly all without a secret: one set test
        # of the text's windows instead of a search per fragment (a 30-character key has
        # about a hundred); 3 us against 18 us for an id.
        return text
    spans: list[tuple[int, int]] = []
    for fragment in fragments:
        start = lowered.find(fragment)
        while start != -1:
            spans.append((start, start + FRAGMENT))
            start = lowered.find(fragment, start + 1)
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    position = 0
    current_start, current_end = spans[0]
    for start, end in spans[1:]:
        if start <= current_end:
            current_end = max(current_end, end)
            continue
        pieces += [text[position:current_start], MASK]
        position = current_end
        current_start, current_end = start, end
    pieces += [text[position:current_start], MASK, text[current_end:]]
    return "".join(pieces)


class _SecretSettings(Protocol):
    @property
    def llm_api_key(self) -> SecretStr | None: ...
    @property
    def gemini_api_key(self) -> SecretStr | None: ...
    @property
    def openai_api_key(self) -> SecretStr | None: ...
    @property
    def database_url(self) -> str | None: ...


class Scrubber:
    """Replaces each configured secret with ``****`` in a JSON-ready structure."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._fragments = frozenset().union(*(secret_fragments(s) for s in self._secrets))
        self._probes = fragment_probes(self._fragments)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, value: str) -> str:
        """``value`` with every secret, piece of one, or base64 form of one masked."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return mask_fragments(value, self._fragments, self._probes)

    def record(self, value: Any) -> Any:
        """A JSON-ready copy of ``value``: containers walked, unknown objects made strings."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.record(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.record(v) for v in value]
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, Enum):
            return self.record(value.value)
        if isinstance(value, PurePath):
            return self.text(str(value))
        return self.text(str(value))


def settings_secrets(settings: _SecretSettings) -> list[str]:
    """The secrets in ``settings``: upstream keys and the database password."""
    found = [
        key.get_secret_value()
        for key in (settings.llm_api_key, settings.gemini_api_key, settings.openai_api_key)
        if key is not None
    ]
    password = _url_password(settings.database_url)
    if password:
        found.append(password)
    return found


def _url_password(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    if "@" not in rest:
        return None
    creds = rest.rpartition("@")[0]
    if ":" not in creds:
        return None
    return creds.split(":", 1)[1] or None
