"""What ``catalog lint`` finds: one :class:`Finding` per problem, and an entry's level from
the worst of them (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import CHECKS, LEVELS, Severity


@dataclass(frozen=True)
class Finding:
    check: str
    file: Path
    line: int
    message: str  # one line, English (the CLI's language); the site shows the check's title
    field: str | None = None  # field path in spbe-app.yaml, when the finding is about one

    @property
    def severity(self) -> Severity:
        return CHECKS[self.check].severity

    def line_text(self, shown: Path | str | None = None) -> str:
        where = f"{shown if shown is not None else self.file}:{self.line}"
        fld = f" {self.field}:" if self.field else ""
        return f"{where}:{fld} {self.check} ({self.severity}): {self.message} [{CHECKS[self.check].doc}]"

    def as_dict(self, *, base: Path | None = None) -> dict[str, Any]:
        f = self.file
        if base is not None and f.is_relative_to(base):
            f = f.relative_to(base)
        return {
            "check": self.check,
            "severity": self.severity.value,
            "file": f.as_posix(),
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "doc": CHECKS[self.check].doc,
        }


def level_of(findings: list[Finding]) -> int:
    sev = {f.severity for f in findings}
    if any(f.check == "entry-invalid" for f in findings):
        return 0
    if Severity.error in sev:
        return 1
    if Severity.warning in sev:
        return 2
    if Severity.info in sev:
        return 3
    return 4


@dataclass
class EntryLint:
    """The findings of one entry, its level, and the files read (for caching)."""

    app: str
    source: str
    entry_file: Path
    findings: list[Finding]
    files_read: list[Path] = field(default_factory=list)

    @property
    def level(self) -> int:
        return level_of(self.findings)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.value] += 1
        return out

    def quality(self) -> dict[str, Any]:
        """What ``catalog list --json`` shows as ``quality``."""
        return {"level": self.level, "name": LEVELS[self.level][1], **self.counts()}

    def as_dict(self, *, base: Path | None = None) -> dict[str, Any]:
        return {
            "app": self.app,
            "source": self.source,
            "file": str(self.entry_file),
            "level": self.level,
            "level_name": LEVELS[self.level][1],
            "counts": self.counts(),
            "findings": [f.as_dict(base=base) for f in self.findings],
        }


__all__ = ["EntryLint", "Finding", "level_of"]
