"""apt in a private folder: which ``.deb`` files does a fresh server need? (pure parts)

The operator's machine runs apt with its own configuration files but a private folder
(:class:`AptDir`) for sources, package lists, the dpkg status and the download cache, so
neither this machine's sources nor its installed packages influence the answer:

1. ``apt-get update`` from the target OS's suites (mirror read from this machine's apt
   sources or given);
2. the *minimal system* is simulated from an empty status: every ``Priority: required``
   package, ``apt``, ``openssh-server`` and ``python3`` (what ``debootstrap --variant=minbase
   --include=openssh-server,python3`` installs);
3. of that simulation only the packages *every* such system has are assumed installed
   (:func:`conservative_base`: reached from the roots through dependencies without
   alternatives; apt and debootstrap may pick different alternatives, ``usrmerge`` versus
   ``usr-is-merged`` for one), minus what would leave a dependency unmet
   (:func:`consistent_subset`), written as a dpkg status file (:func:`status_text`);
4. installing the needed packages is simulated against that status: the answer.

Assuming less is installed than really is only makes the bundle a little larger: the
target's apt then picks what it lacks from the bundle. Every function here is pure; the
argument lists are compared by equality in the unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..imaging.apt import deb822_stanzas

BASE_ROOTS = ("apt", "openssh-server", "python3")


@dataclass(frozen=True)
class SourceLine:
    uri: str
    suite: str
    components: tuple[str, ...]
    keyring: str


def sources_list_text(lines: Sequence[SourceLine], *, arch: str) -> str:
    """One-line-format ``sources.list`` (one suite per line)."""
    return "".join(
        f"deb [arch={arch} signed-by={s.keyring}] {s.uri} {s.suite} {' '.join(s.components)}\n"
        for s in lines
    )


@dataclass(frozen=True)
class AptDir:
    """The private apt folder of one OS and architecture."""

    root: Path

    @property
    def sources_list(self) -> Path:
        return self.root / "sources.list"

    @property
    def empty_dir(self) -> Path:
        return self.root / "empty.d"

    @property
    def lists(self) -> Path:
        return self.root / "lists"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def empty_status(self) -> Path:
        return self.root / "state" / "status.empty"

    @property
    def base_status(self) -> Path:
        return self.root / "state" / "status.base"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def debs(self) -> Path:
        return self.root / "debs"

    def dirs(self) -> list[Path]:
        return [
            self.empty_dir,
            self.lists / "partial",
            self.state,
            self.cache / "archives" / "partial",
            self.debs,
        ]

    def options(self, *, arch: str, status: Path | None = None, sandbox_user: str = "root") -> list[str]:
        """``-o`` options that point apt at this folder only (this machine's lists and status unused)."""
        pairs = [
            ("Dir::Etc::SourceList", str(self.sources_list)),
            ("Dir::Etc::SourceParts", str(self.empty_dir)),
            ("Dir::Etc::Preferences", str(self.empty_dir / "preferences")),
            ("Dir::Etc::PreferencesParts", str(self.empty_dir)),
            ("Dir::State", str(self.state)),
            ("Dir::State::Lists", str(self.lists)),
            ("Dir::State::status", str(status or self.empty_status)),
            ("Dir::Cache", str(self.cache)),
            ("Dir::Cache::pkgcache", ""),
            ("Dir::Cache::srcpkgcache", ""),
            ("APT::Architecture", arch),
            ("APT::Architectures", arch),
            ("APT::Install-Recommends", "false"),
            ("APT::Install-Suggests", "false"),
            ("APT::Sandbox::User", sandbox_user),
            ("Debug::NoLocking", "true"),
        ]
        out: list[str] = []
        for key, value in pairs:
            out += ["-o", f"{key}={value}"]
        return out


def update_argv(d: AptDir, *, arch: str, sandbox_user: str = "root") -> list[str]:
    return ["apt-get", *d.options(arch=arch, sandbox_user=sandbox_user), "-q", "update"]


def dumpavail_argv(d: AptDir, *, arch: str) -> list[str]:
    return ["apt-cache", *d.options(arch=arch), "dumpavail"]


def simulate_argv(d: AptDir, packages: Sequence[str], *, arch: str, status: Path) -> list[str]:
    return ["apt-get", *d.options(arch=arch, status=status), "-q", "-s", "install", *packages]


def show_argv(d: AptDir, pins: Sequence[Pin], *, arch: str) -> list[str]:
    return ["apt-cache", *d.options(arch=arch), "show", *(p.spec for p in pins)]


def download_argv(d: AptDir, pins: Sequence[Pin], *, arch: str, sandbox_user: str = "root") -> list[str]:
    """``apt-get download`` writes into its working directory (run it in ``d.cache``)."""
    return ["apt-get", *d.options(arch=arch, sandbox_user=sandbox_user), "-q", "download", *(p.spec for p in pins)]


# ---------------------------------------------------------------- parsing apt's answers


@dataclass(frozen=True, order=True)
class Pin:
    """One package at one version."""

    name: str
    version: str
    arch: str

    @property
    def spec(self) -> str:
        return f"{self.name}={self.version}"


_INST = re.compile(r"^Inst (?P<name>[^\s:]+)(?::\S+)? (?:\[[^\]]*\] )?\((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)")


def parse_simulation(text: str) -> list[Pin]:
    """The packages ``apt-get -s install`` would install (``Inst name (version ... [arch])``)."""
    out: list[Pin] = []
    for line in text.splitlines():
        m = _INST.match(line)
        if m:
            out.append(Pin(m["name"], m["version"], m["arch"]))
    return out


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """deb822 stanzas (``apt-cache show``, dpkg status, Packages) in order; keys keep their case."""
    return list(iter_stanzas(text.splitlines()))


def iter_stanzas(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """The deb822 reader of :mod:`spbe_share.imaging.apt` (python-debian)."""
    return deb822_stanzas(lines)


def only_fields(lines: Iterable[str], fields: Sequence[str]) -> Iterator[str]:
    """The lines of ``fields`` (and the blank lines between stanzas) of a deb822 text: the
    whole archive's ``dumpavail`` (~50 MB) is read for two fields, so only they are parsed."""
    heads = tuple(f"{f}:" for f in fields)
    return (line for line in lines if not line.strip() or line.startswith(heads))


def format_stanza(fields: Mapping[str, str]) -> str:
    return "".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n"


def required_packages(stanzas: Iterable[Mapping[str, str]]) -> list[str]:
    """Names of every ``Priority: required`` package (sorted, each once)."""
    return sorted({s["Package"] for s in stanzas if s.get("Priority") == "required" and "Package" in s})


def relations(field: str) -> list[list[str]]:
    """``a (>= 1), b:any | c`` -> ``[["a"], ["b", "c"]]`` (versions and arch qualifiers dropped)."""
    out: list[list[str]] = []
    for rel in field.replace("\n", " ").split(","):
        alts = []
        for alt in rel.split("|"):
            name = alt.strip().split(" ", 1)[0].split("(", 1)[0].split("[", 1)[0].strip()
            name = name.split(":", 1)[0]
            if name:
                alts.append(name)
        if alts:
            out.append(alts)
    return out


def conservative_base(records: Iterable[Mapping[str, str]], roots: Iterable[str]) -> set[str]:
    """Packages every minimal system has: ``roots`` and what they need without a choice.

    ``records`` are the simulated minimal system's packages (one record each). A dependency
    with alternatives (``a | b``) is not followed: which one a real install chose is unknown.
    A dependency on a virtual package is followed only when one record provides it.
    """
    by_name = {r["Package"]: r for r in records if "Package" in r}
    providers: dict[str, set[str]] = {}
    for name, r in by_name.items():
        for rel in relations(r.get("Provides", "")):
            providers.setdefault(rel[0], set()).add(name)
    seen: set[str] = set()
    todo = [n for n in roots if n in by_name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        r = by_name[name]
        for field in ("Pre-Depends", "Depends"):
            for alts in relations(r.get(field, "")):
                if len(alts) != 1:
                    continue
                dep = alts[0]
                if dep in by_name:
                    todo.append(dep)
                elif len(providers.get(dep, ())) == 1:
                    todo.append(next(iter(providers[dep])))
    return seen


def consistent_subset(records: Iterable[Mapping[str, str]], names: Iterable[str]) -> set[str]:
    """The largest part of ``names`` whose dependencies are all met inside it.

    A package whose dependency (``a | b``) has no alternative left is dropped, then what
    needed it, until nothing changes: the dpkg status written from the rest is consistent,
    so apt resolves against it without trying to repair it. What is dropped gets bundled.
    """
    by_name = {r["Package"]: r for r in records if r.get("Package") in set(names)}
    providers: dict[str, set[str]] = {}
    for name, r in by_name.items():
        for rel in relations(r.get("Provides", "")):
            providers.setdefault(rel[0], set()).add(name)
    keep = set(by_name)

    def met(alts: list[str]) -> bool:
        return any(a in keep or providers.get(a, set()) & keep for a in alts)

    changed = True
    while changed:
        changed = False
        for name in sorted(keep):
            r = by_name[name]
            if not all(met(alts) for f in ("Pre-Depends", "Depends") for alts in relations(r.get(f, ""))):
                keep.discard(name)
                changed = True
    return keep


# Fields that only describe a download; everything else of a record goes into the status,
# because apt tells two records of one version apart by their dependency fields.
DOWNLOAD_FIELDS = {"Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512", "Description-md5", "Tag"}


def status_text(records: Iterable[Mapping[str, str]], names: Iterable[str]) -> str:
    """A dpkg status file declaring ``names`` installed (records as apt knows them)."""
    wanted = set(names)
    out = []
    for r in sorted((r for r in records if r.get("Package") in wanted), key=lambda r: r["Package"]):
        fields = {"Package": r["Package"], "Status": "install ok installed"}
        fields.update({k: v for k, v in r.items() if k != "Package" and k not in DOWNLOAD_FIELDS})
        out.append(format_stanza(fields))
    return "".join(out)


def index_stanza(record: Mapping[str, str], *, filename: str, size: int, sha256: str) -> str:
    """One ``Packages`` stanza of a flat local repository (``deb [trusted=yes] file:DIR ./``)."""
    fields = {k: v for k, v in record.items() if k not in DOWNLOAD_FIELDS}
    fields.update({"Filename": f"./{filename}", "Size": str(size), "SHA256": sha256})
    return format_stanza(fields)


def deb_filename(pin: Pin) -> str:
    """The file name ``apt-get download`` gives (``:`` of an epoch written ``%3a``)."""
    return f"{pin.name}_{pin.version.replace(':', '%3a')}_{pin.arch}.deb"
