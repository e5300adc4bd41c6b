"""``spbe-share catalog lint``: documentation quality of catalog entries, as levels 0-4.

In the spirit of YunoHost's package_linter: each check (:mod:`.checks`) has an id, a
severity and a doc link; an entry's level follows from the worst finding:

* 0 (invalid): the entry does not validate (``catalog validate``);
* 1 (needs work): at least one error;
* 2 (fair): no error, at least one warning;
* 3 (good): only informational findings;
* 4 (excellent): no finding at all.

Pure reading: linting changes nothing. ``docs/lint.md`` is the reference of every check.

May import: catalog and the foundations. Imported by: site, cli.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .checks import CHECKS, LEVELS, Severity
from .findings import EntryLint, Finding

if TYPE_CHECKING:
    from ..catalog.loader import LoadedEntry


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
