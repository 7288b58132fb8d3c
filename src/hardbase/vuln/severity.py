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
