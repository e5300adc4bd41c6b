"""What the checks of one entry share: the entry, its YAML lines, its parsed documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import mdocs
from ..yamlio import LoadedYaml, format_loc, load_yaml
from .findings import Finding

if TYPE_CHECKING:
    from ..catalog.loader import LoadedEntry


@dataclass
class LintContext:
    le: LoadedEntry
    yaml: LoadedYaml
    docs: list[mdocs.Doc]
    files_read: list[Path] = field(default_factory=list)

    @classmethod
    def open(cls, le: LoadedEntry) -> LintContext:
        md = mdocs.parser(lint=True)
        docs = [mdocs.read_doc(le, ref, md) for ref in mdocs.doc_refs(le)]
        ctx = cls(le, load_yaml(le.path), docs, [le.path])
        ctx.files_read += [d.path for d in docs]
        return ctx

    def at(self, check: str, loc: tuple[str | int, ...], message: str) -> Finding:
        """A finding about a field of spbe-app.yaml."""
        return Finding(check, self.le.path, self.yaml.line_of(loc), message, field=format_loc(loc))

    def doc(self, key: str) -> mdocs.Doc:
        return next(d for d in self.docs if d.ref.key == key)
