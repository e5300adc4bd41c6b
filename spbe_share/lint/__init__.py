"""``spbe-share catalog lint``: documentation quality of catalog entries, as levels 0-4.

In the spirit of YunoHost's package_linter: each check (:mod:`.checks`) has an id, a
severity and a doc link; an entry's level follows from the worst finding:

* 0 (invalid): the entry does not validate (``catalog validate``);
* 1 (needs work): at least one error;
* 2 (fair): no error, at least one warning;
* 3 (good): only informational findings;
* 4 (excellent): no finding at all.

Pure reading: linting changes nothing. ``docs/lint.md`` is the reference of every check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checks import CHECKS, LEVELS, Severity

if TYPE_CHECKING:
    from ..catalog.loader import LoadedEntry


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


def lint_entry(le: LoadedEntry) -> EntryLint:
    """Every finding of a valid entry, sorted by file, line and check."""
    from .context import LintContext
    from .doc_checks import check_docs
    from .entry_checks import check_entry_fields

    ctx = LintContext.open(le)
    findings = check_entry_fields(ctx) + check_docs(ctx)
    findings.sort(key=lambda f: (f.file != le.path, str(f.file), f.line, f.check, f.message))
    return EntryLint(le.id, le.source, le.path, findings, sorted(set(ctx.files_read)))


def lint_invalid(entry_file: Path, problems: list[str], *, source: str) -> EntryLint:
    """An entry that does not validate: level 0, one finding per validation problem."""
    findings = []
    for p in problems:
        # problems are "file:line: field: message"; keep the line for the finding
        rest = p[len(str(entry_file)) + 1 :] if p.startswith(f"{entry_file}:") else p
        line_s, _, msg = rest.partition(": ")
        line = int(line_s) if line_s.isdigit() else 1
        findings.append(Finding("entry-invalid", entry_file, line, msg if line_s.isdigit() else p))
    return EntryLint(entry_file.parent.name, source, entry_file, findings, [entry_file])


def lint_file(entry_file: Path, *, source: str = "builtin", commit: str | None = None,
              repo_root: Path | None = None) -> EntryLint:  # fmt: skip
    from ..catalog.loader import check_entry

    loaded, problems = check_entry(entry_file, source=source, commit=commit, repo_root=repo_root)
    if loaded is None:
        return lint_invalid(entry_file, problems, source=source)
    return lint_entry(loaded)


__all__ = ["CHECKS", "LEVELS", "EntryLint", "Finding", "Severity", "level_of", "lint_entry", "lint_file"]
