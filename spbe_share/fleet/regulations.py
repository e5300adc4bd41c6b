"""Regulations as data: which releases of which apps implement which regulation (pure).

Every release of a catalog entry names the regulations behind it (``releases[].regulations``:
a name and an official URI). The same regulation is one URI with one or several names (a
release may add "(Pasal 40 ayat 4)"); :func:`regulation_index` groups them by URI.

Finding a regulation by what a person types (:func:`find`): the URI itself, a citation such as
``Permendagri 83/2022``, ``UU 43/2009``, ``Perpres No. 95 Tahun 2018`` (matched against the
same citation written out in full, "Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022 ..."),
or any other text, matched case-insensitively inside the names.

"The first release implementing a regulation" of an app is the lowest version that names it;
an install running an older version misses it (:func:`missing_for`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..catalog.models import Entry, semver_key
from ..errors import InvalidInput, NotFound

# long form -> short kind; the longest forms are tried first
_KINDS: dict[str, str] = {
    "undang undang": "uu",
    "uu": "uu",
    "peraturan pemerintah pengganti undang undang": "perppu",
    "perppu": "perppu",
    "peraturan pemerintah": "pp",
    "pp": "pp",
    "peraturan presiden": "perpres",
    "perpres": "perpres",
    "keputusan presiden": "keppres",
    "keppres": "keppres",
    "instruksi presiden": "inpres",
    "inpres": "inpres",
    "peraturan menteri dalam negeri": "permendagri",
    "permendagri": "permendagri",
    "peraturan menteri pendayagunaan aparatur negara dan reformasi birokrasi": "permenpanrb",
    "permenpan rb": "permenpanrb",
    "permenpanrb": "permenpanrb",
    "permenpan": "permenpanrb",
    "peraturan menteri komunikasi dan informatika": "permenkominfo",
    "permenkominfo": "permenkominfo",
    "permen kominfo": "permenkominfo",
    "peraturan menteri keuangan": "pmk",
    "pmk": "pmk",
    "peraturan badan siber dan sandi negara": "perbssn",
    "peraturan bssn": "perbssn",
    "perbssn": "perbssn",
    "peraturan arsip nasional republik indonesia": "peranri",
    "peraturan anri": "peranri",
    "peraturan kepala arsip nasional republik indonesia": "peranri",
    "peraturan menteri pendidikan dan kebudayaan": "permendikbud",
    "permendikbud": "permendikbud",
    "peraturan menteri pendidikan kebudayaan riset dan teknologi": "permendikbudristek",
    "permendikbudristek": "permendikbudristek",
    "permendikbud ristek": "permendikbudristek",
    "peraturan menteri pendidikan dasar dan menengah": "permendikdasmen",
    "permendikdasmen": "permendikdasmen",
    "peraturan daerah": "perda",
    "perda": "perda",
    "surat edaran": "se",
    "se": "se",
}
_KIND_ORDER = sorted(_KINDS, key=len, reverse=True)
_NUMBER_YEAR = (
    re.compile(r"\b(?:nomor|no)\s*([0-9a-z]+)\s+tahun\s+(\d{4})\b"),
    re.compile(r"\b(?:nomor|no)?\s*([0-9]+[a-z]?)\s*/\s*(\d{4})\b"),
    re.compile(r"\b([0-9]+[a-z]?)\s+tahun\s+(\d{4})\b"),
)


def _norm(text: str) -> str:
    """Lowercase, punctuation and dashes to spaces (but keep '/'), single spaces."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^0-9a-z/ ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Citation:
    """``permendagri 83/2022``: the kind (None when not recognised), number and year."""

    kind: str | None
    number: str
    year: str

    def __str__(self) -> str:
        return f"{self.kind or '?'} {self.number}/{self.year}"

    def matches(self, other: Citation) -> bool:
        same = self.number == other.number and self.year == other.year
        return same and (self.kind is None or other.kind is None or self.kind == other.kind)


def parse_citation(text: str) -> Citation | None:
    """The citation written in ``text``, if it names a number and a year (pure)."""
    norm = _norm(text)
    found = None
    for pattern in _NUMBER_YEAR:
        found = pattern.search(norm)
        if found:
            break
    if not found:
        return None
    head = norm[: found.start()].strip()
    kind = None
    for long in _KIND_ORDER:
        if head == long or head.startswith(long + " ") or head.endswith(" " + long):
            kind = _KINDS[long]
            break
    return Citation(kind=kind, number=found.group(1).lstrip("0") or "0", year=found.group(2))


@dataclass(frozen=True)
class Implementation:
    """A release of an app that names the regulation."""

    app: str
    version: str
    date: str
    name: str  # the name as that release writes it


@dataclass
class Regulation:
    """One regulation (one URI) and every release that implements it."""

    uri: str
    names: list[str] = field(default_factory=list)
    implementations: list[Implementation] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The shortest of its names (the others add article numbers and the like)."""
        return min(self.names, key=lambda n: (len(n), n))

    @property
    def citation(self) -> Citation | None:
        return next((c for c in (parse_citation(n) for n in sorted(self.names, key=len)) if c), None)

    @property
    def apps(self) -> list[str]:
        return sorted({i.app for i in self.implementations})

    def first_release(self, app: str) -> str | None:
        """The lowest version of ``app`` naming this regulation (None: the app does not)."""
        versions = [i.version for i in self.implementations if i.app == app]
        return min(versions, key=semver_key) if versions else None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "uri": self.uri,
            "names": sorted(self.names),
            "citation": str(self.citation) if self.citation else None,
            "apps": [
                {"app": app, "first_release": self.first_release(app),
                 "releases": [i.version for i in self.implementations if i.app == app]}
                for app in self.apps
            ],
        }  # fmt: skip


def regulation_index(entries: Iterable[Entry]) -> list[Regulation]:
    """Every regulation named by a release of ``entries``, grouped by URI, sorted by name."""
    by_uri: dict[str, Regulation] = {}
    for entry in entries:
        for release in entry.releases:
            for reg in release.regulations:
                uri = str(reg.uri)
                r = by_uri.setdefault(uri, Regulation(uri=uri))
                if reg.name not in r.names:
                    r.names.append(reg.name)
                r.implementations.append(
                    Implementation(app=entry.id, version=release.version, date=release.date.isoformat(), name=reg.name)
                )
    for r in by_uri.values():
        r.implementations.sort(key=lambda i: (i.app, semver_key(i.version)))
    return sorted(by_uri.values(), key=lambda r: (r.name.lower(), r.uri))


def find(index: Sequence[Regulation], text: str) -> list[Regulation]:
    """Regulations ``text`` names: its URI, its citation, or text inside one of its names."""
    query = text.strip()
    if not query:
        raise InvalidInput("give a regulation: a name, a citation such as 'Permendagri 83/2022', or its URI")
    exact = [r for r in index if r.uri.rstrip("/") == query.rstrip("/")]
    if exact:
        return exact
    cited = parse_citation(query)
    if cited is not None:
        hits = [r for r in index if any((c := parse_citation(n)) and cited.matches(c) for n in r.names)]
        if hits:
            return hits
    needle = _norm(query)
    return [r for r in index if any(needle in _norm(n) for n in r.names) or query.lower() in r.uri.lower()]


def find_one(index: Sequence[Regulation], text: str) -> Regulation:
    """The one regulation ``text`` names; NotFound, or InvalidInput listing the candidates."""
    hits = find(index, text)
    if not hits:
        raise NotFound(f"no release in the catalog names a regulation matching {text!r} (see `spbe-share regulation list`)")
    if len(hits) > 1:
        raise InvalidInput(
            f"{text!r} matches {len(hits)} regulations; name one by its URI or a fuller name",
            details=[f"  {r.name} ({r.uri})" for r in hits],
        )
    return hits[0]


def missing_for(entry: Entry, version: str) -> list[tuple[str, str]]:
    """(name, uri) of regulations named by releases of ``entry`` newer than ``version``
    and by none at or below it: what an install running ``version`` misses."""
    have = semver_key(version)
    done = {str(g.uri) for r in entry.releases if semver_key(r.version) <= have for g in r.regulations}
    out: dict[str, str] = {}
    for r in sorted(entry.releases, key=lambda r: semver_key(r.version)):
        if semver_key(r.version) <= have:
            continue
        for g in r.regulations:
            uri = str(g.uri)
            if uri not in done and uri not in out:
                out[uri] = g.name
    return [(name, uri) for uri, name in out.items()]


def releases_behind(entry: Entry, version: str) -> int:
    """How many releases of ``entry`` are newer than ``version``."""
    have = semver_key(version)
    return sum(1 for r in entry.releases if semver_key(r.version) > have)


__all__ = [
    "Citation",
    "Implementation",
    "Regulation",
    "find",
    "find_one",
    "missing_for",
    "parse_citation",
    "regulation_index",
    "releases_behind",
]
