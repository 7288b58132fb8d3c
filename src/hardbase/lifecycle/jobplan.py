"""A job's plan: what a rebuild is for, kept with the job so a resumed job judges the same.

The state database stores it as JSON (`Job.plan`); `JobPlan.from_json` reads it
back, tolerating the fields an older hardbase did not write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LockChange:
    """One package the relock moved: added (no `old`), removed (no `new`) or upgraded."""

    package: str
    arch: str
    old: str
    new: str

    def to_json(self) -> dict[str, str]:
        return {"package": self.package, "arch": self.arch, "old": self.old, "new": self.new}

    def describe(self) -> str:
        return f"{self.package} {self.old or '(new)'} -> {self.new or '(removed)'}"


@dataclass(frozen=True)
class JobPlan:
    """Why a job rebuilds, and what its gate checks the rebuild against."""

    mode: str = ""  # how the lock was made: full | minimal | lock
    targets: tuple[str, ...] = ()  # the binary packages the relock was asked to move
    fixes: tuple[str, ...] = ()  # the fix keys the publish records as remediated
    fix_findings: tuple[str, ...] = ()  # the findings the rebuild must remove
    baseline: tuple[str, ...] = ()  # `ID|PACKAGE` of the findings the image had before
    changes: tuple[LockChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "targets": list(self.targets),
            "fixes": list(self.fixes),
            "fix_findings": list(self.fix_findings),
            "baseline": list(self.baseline),
            "changes": [c.to_json() for c in self.changes],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> JobPlan:
        def strings(name: str) -> tuple[str, ...]:
            value = doc.get(name, [])
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        changes = doc.get("changes", [])
        return cls(
            mode=str(doc.get("mode", "")),
            targets=strings("targets"),
            fixes=strings("fixes"),
            fix_findings=strings("fix_findings"),
            baseline=strings("baseline"),
            changes=tuple(
                LockChange(
                    str(c.get("package", "")),
                    str(c.get("arch", "")),
                    str(c.get("old") or ""),
                    str(c.get("new") or ""),
                )  # fmt: skip
                for c in (changes if isinstance(changes, list) else [])
                if isinstance(c, Mapping)
            ),
        )

    def fixed_ids(self) -> tuple[str, ...]:
        """The vulnerability ids of the findings the job fixes, sorted."""
        ids = [k.split(":")[1] for k in self.fix_findings if k.count(":") >= 2]
        return tuple(sorted(set(ids)))
