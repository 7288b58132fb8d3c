"""Severity buckets, and how CVSS vectors, Debian urgencies and free text map onto them."""

from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)


class Severity(enum.IntEnum):
    """Ordered severity buckets; the integer order is the gate order."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | None) -> Severity:
        """Map a free-text severity ('High', 'moderate', 'unimportant', ...) to a bucket."""
        if not text:
            return cls.UNKNOWN
        key = text.strip().lower().replace("*", "").strip()
        return _WORDS.get(key, cls.UNKNOWN)


_WORDS: dict[str, Severity] = {
    "unknown": Severity.UNKNOWN,
    "not yet assigned": Severity.UNKNOWN,
    "none": Severity.NEGLIGIBLE,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,
    "end-of-life": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def from_score(score: float) -> Severity:
    """The CVSS v3/v4 qualitative rating of a base score."""
    if score <= 0.0:
        return Severity.NEGLIGIBLE
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


def score_vector(vector: str) -> float | None:
    """The base score of a CVSS v2, v3.x or v4.0 vector, or None when it does not parse."""
    from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
    from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

    text = vector.strip()
    try:
        if text.startswith("CVSS:4"):
            return float(CVSS4(text).base_score)
        if text.startswith("CVSS:3"):
            return float(CVSS3(text).scores()[0])
        if text.startswith("AV:") or text.startswith("(AV:"):
            return float(CVSS2(text.strip("()")).scores()[0])
    except (CVSSError, ValueError, KeyError, TypeError) as exc:
        log.debug("ignoring CVSS vector %r: %s", vector, exc)
        return None
    return None


def from_urgency(urgency: str | None) -> Severity:
    """A Debian security tracker urgency ('low', 'medium**', 'unimportant', ...)."""
    return Severity.parse(urgency)


# A Debian changelog's `urgency=` says how fast an upload should migrate, not how bad
# the issue is; it is only a fallback, and findings say where it came from.
_CHANGELOG_URGENCIES: dict[str, Severity] = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "emergency": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
}


def from_changelog_urgency(urgency: str | None) -> Severity:
    """The bucket of a Debian changelog entry's `urgency=` (low, medium, high, emergency,
    critical; anything else is unknown)."""
    if not urgency:
        return Severity.UNKNOWN
    word = urgency.strip().lower().split()[0].rstrip(",")
    return _CHANGELOG_URGENCIES.get(word, Severity.UNKNOWN)


# The `--fail-on` and `--severity` choices, lowest first.
GATE_LEVELS = ("unknown", "negligible", "low", "medium", "high", "critical")


def parse_levels(text: str) -> frozenset[Severity]:
    """A comma-separated severity list (`HIGH,CRITICAL`, any case); ValueError names a bad one."""
    out: set[Severity] = set()
    for word in text.split(","):
        key = word.strip().lower()
        if not key:
            continue
        if key not in GATE_LEVELS:
            raise ValueError(f"{word.strip()!r} is not one of {', '.join(GATE_LEVELS)}")
        out.add(Severity[key.upper()])
    if not out:
        raise ValueError(f"the list names no severity; use some of {', '.join(GATE_LEVELS)}")
    return frozenset(out)
