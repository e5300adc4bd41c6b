"""Offline validator for publiccode.yml, standard versions 0.x.
One file on purpose (771 lines): the rules of the reference parser, in its order, to be compared with it.

It follows the rules of the reference parser (italia/publiccode-parser-go, v0 schema) for
everything that can be decided from the file and its folder alone; checks that need the
network (URL reachability, oEmbed video URLs, remote logos) or Italy's iPA code list are
not made, and are never faked.

Two passes:

1. *decode*: the YAML node tree is checked against the v0 schema the way a strict YAML 1.2
   decoder into typed structs would: unknown keys, wrong types ("wrong type for this
   field"; ``yes``/``on`` are strings in YAML 1.2, not booleans). A top-level key with a
   type error anywhere below it is then treated as absent, as the reference parser does,
   so the usual follow-up errors ("... is a required field") appear too.
2. *validate*: the decoded values against the rules (required keys, enumerations,
   vocabularies, lengths in grapheme clusters, URLs, dates, e-mails, BCP 47 tags,
   ISO 3166-1 countries, SPDX expressions, files next to the publiccode.yml).

Field paths use the reference parser's naming: ``description.en.shortDescription``,
``categories[0]``, ``dependsOn.open[0].versionMax``, ``description[en-US].features``.
"""

# Over 500 lines on purpose: the publiccode.yml v0 standard transcribed check by check; splitting it would split the standard.

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from ...errors import InvalidInput, ValidationFailed
from ...yamlio import MAX_YAML_BYTES, LoadedYaml, compose_yaml, parse_yaml, read_bounded
from . import vocab

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Problem:
    line: int
    field: str  # reference-parser path, "" for the whole file
    message: str
    level: Literal["error", "warning"] = "error"

    def format(self, display: str) -> str:
        tag = "" if self.level == "error" else "warning: "
        return f"{display}:{self.line}: {self.field or '(file)'}: {tag}{self.message}"


@dataclass
class PubliccodeReport:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    version: str | None = None
    data: dict[str, Any] | None = None  # the decoded document (None if it could not be read)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self, *, display: str | None = None, warnings: bool = True) -> list[str]:
        shown = display or str(self.path)
        return [p.format(shown) for p in self.problems if warnings or p.level == "error"]

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationFailed(
                [p.format(str(self.path)) for p in self.errors],
                message=f"{self.path}: not a valid publiccode.yml ({len(self.errors)} "
                f"error{'s' if len(self.errors) != 1 else ''})",
            )


# --------------------------------------------------------------------------- schema (v0)


class _Str:
    pass


class _Bool:
    pass


class _StrOrList:
    pass


@dataclass
class _List:
    item: Any


@dataclass
class _Map:
    value: Any


@dataclass
class _Obj:
    fields: dict[str, Any]


S, B = _Str(), _Bool()
_STRS = _List(S)
_ORG = _Obj({"name": S, "uri": S})
_DESC = _Obj(
    {
        "localisedName": S, "genericName": S, "shortDescription": S, "longDescription": S,
        "documentation": S, "apiDocumentation": S, "features": _STRS, "screenshots": _STRS,
        "videos": _STRS, "awards": _STRS,
    }
)
_DEP = _List(_Obj({"name": S, "versionMin": S, "versionMax": S, "optional": B, "version": S}))
_IT = _Obj(
    {
        "countryExtensionVersion": S,
        "conforme": _Obj(
            {"lineeGuidaDesign": B, "modelloInteroperabilita": B, "misureMinimeSicurezza": B, "gdpr": B}
        ),
        "riuso": _Obj({"codiceIPA": S}),
        "piattaforme": _Obj({"spid": B, "pagopa": B, "cie": B, "anpr": B, "io": B}),
    }
)
SCHEMA_V0 = _Obj(
    {
        "publiccodeYmlVersion": S, "name": S, "applicationSuite": S, "url": S, "landingURL": S,
        "isBasedOn": _StrOrList(), "softwareVersion": S, "releaseDate": S, "logo": S,
        "monochromeLogo": S, "organisation": _ORG, "inputTypes": _STRS, "outputTypes": _STRS,
        "platforms": _STRS, "categories": _STRS, "usedBy": _STRS, "fundedBy": _List(_ORG),
        "roadmap": S, "developmentStatus": S, "softwareType": S,
        "intendedAudience": _Obj({"scope": _STRS, "countries": _STRS, "unsupportedCountries": _STRS}),
        "description": _Map(_DESC),
        "legal": _Obj({"license": S, "mainCopyrightOwner": S, "repoOwner": S, "authorsFile": S}),
        "maintenance": _Obj(
            {
                "type": S,
                "contractors": _List(_Obj({"name": S, "email": S, "website": S, "until": S})),
                "contacts": _List(_Obj({"name": S, "email": S, "affiliation": S, "phone": S})),
            }
        ),
        "localisation": _Obj({"localisationReady": B, "availableLanguages": _STRS}),
        "dependsOn": _Obj({"open": _DEP, "proprietary": _DEP, "hardware": _DEP}),
        "supports": _List(_Obj({"id": S})),
        "IT": _IT,
        "it": _IT,
    }
)

_NULL_TAG = "tag:yaml.org,2002:null"
_YAML12_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


class _Bad:
    """Marker for a value that failed to decode."""


_BAD = _Bad()


# --------------------------------------------------------------------------- field paths


@dataclass(frozen=True)
class _Lang:
    """A description language key: ``.en`` when alphabetic, else ``[en-US]`` (as the reference)."""

    key: str


Part = str | int | _Lang


def fmt_field(parts: Iterable[Part]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif isinstance(p, _Lang):
            out += f".{p.key}" if re.fullmatch(r"[A-Za-z]+", p.key) else f"[{p.key}]"
        else:
            out += f".{p}" if out else p
    return out


# --------------------------------------------------------------------------- value checks


def grapheme_len(text: str) -> int:
    import regex

    return len(regex.findall(r"\X", text))


def is_date(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_url(value: str) -> bool:
    """A URL with a scheme and a host, or an opaque URI such as ``urn:a:b`` (any scheme)."""
    if not value or any(c.isspace() for c in value):
        return False
    try:
        u = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", u.scheme or ""):
        return False
    if u.scheme.lower() == "file":
        return True
    return bool(u.netloc or u.fragment or (u.path and not u.path.startswith("/")))


def is_http_url(value: str) -> bool:
    if not value or any(c.isspace() for c in value):
        return False
    try:
        u = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return u.scheme.lower() in ("http", "https") and bool(u.hostname)


def is_uri(value: str) -> bool:
    """organisation/fundedBy ``uri``: an HTTP(S) URL or a URN (``urn:<nid>:<nss>``)."""
    if is_http_url(value):
        return True
    return bool(re.fullmatch(r"(?i)urn:[a-z0-9][a-z0-9-]{0,31}:\S+", value))


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MIME = re.compile(r"^ *([A-Za-z0-9][A-Za-z0-9!#$&^_-]{0,126})/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}) *$")


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def is_bcp47(tag: str) -> bool:
    """A well-formed BCP 47 tag whose subtags are registered (IANA registry, shipped offline)."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*", tag):
        return False  # rejects POSIX locales such as en_GB
    import langcodes

    try:
        return bool(langcodes.tag_is_valid(tag))
    except Exception:  # langcodes raises on some malformed tags
        return False


def is_country(code: str) -> bool:
    """ISO 3166-1 alpha-2, all upper case or (deprecated) all lower case."""
    return (code.isupper() or code.islower()) and code.upper() in vocab.COUNTRIES


@lru_cache(maxsize=1)
def _spdx_licensing() -> Any:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


_LICENSE_REF = re.compile(r"(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+")


def is_spdx_expression(expr: str) -> bool:
    """A valid SPDX license expression (ids from the SPDX list, ``WITH`` exceptions, ``LicenseRef-``)."""
    if not expr.strip():
        return False
    # a LicenseRef-/DocumentRef- id is user-defined: any SPDX id stands in for it in the syntax check
    checked = _LICENSE_REF.sub("MIT", expr)
    info = _spdx_licensing().validate(checked, strict=True)
    return not info.errors


# --------------------------------------------------------------------------- files


def _png_ok(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 33


def _image_format(path: Path) -> str | None:
    """Sniff an image file's format; None if it is no image we know."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if _png_ok(head):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\x1f\x8b"):
        return "svgz"
    text = head.lstrip().lower()
    if text.startswith(b"<?xml") or text.startswith(b"<svg") or b"<svg" in text:
        return "svg"
    return None


# --------------------------------------------------------------------------- the validator


class _Validator:
    def __init__(self, doc: LoadedYaml, root: yaml.Node, base_dir: Path) -> None:
        self.doc = doc
        self.root = root
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.type_errors = 0

    # -- reporting
    def line(self, loc: Iterable[Part]) -> int:
        plain = tuple(p.key if isinstance(p, _Lang) else p for p in loc)
        return self.doc.line_of(plain)

    def error(self, loc: tuple[Part, ...], message: str, *, dotted: bool = False) -> None:
        name = fmt_field(tuple(p.key if dotted and isinstance(p, _Lang) else p for p in loc))
        self.problems.append(Problem(self.line(loc), name, message))

    def warn(self, loc: tuple[Part, ...], message: str) -> None:
        name = fmt_field(tuple(p.key if isinstance(p, _Lang) else p for p in loc))
        self.problems.append(Problem(self.line(loc), name, message, "warning"))

    # -- pass 1: decode
    def key_at_line(self, line: int) -> str:
        """The path the reference parser names for a decoding error on ``line`` (1-based)."""

        def walk(node: yaml.Node, path: str) -> str | None:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    key = f"{path}.{k.value}" if path else str(k.value)
                    if k.start_mark.line + 1 == line:
                        return key
                    if not isinstance(v, yaml.ScalarNode):
                        found = walk(v, key)
                        if found is not None:
                            return found
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    key = f"{path}[{i}]"
                    if item.start_mark.line + 1 == line:
                        return key
                    if not isinstance(item, yaml.ScalarNode):
                        found = walk(item, key)
                        if found is not None:
                            return found
            return None

        return walk(self.root, "") or ""

    def type_error(self, node: yaml.Node) -> _Bad:
        line = node.start_mark.line + 1
        self.type_errors += 1
        self.problems.append(Problem(line, self.key_at_line(line), "wrong type for this field"))
        return _BAD

    def decode(self, node: yaml.Node, spec: Any, loc: tuple[Part, ...]) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return None
        if isinstance(spec, _Str):
            if not isinstance(node, yaml.ScalarNode):
                return self.type_error(node)
            return node.value
        if isinstance(spec, _Bool):
            if not isinstance(node, yaml.ScalarNode):
                return self.type_error(node)
            if node.tag == "tag:yaml.org,2002:bool" and not node.style and node.value in _YAML12_BOOLS:
                return _YAML12_BOOLS[node.value]
            return self.type_error(node)
        if isinstance(spec, _StrOrList):
            if isinstance(node, yaml.ScalarNode):
                return [node.value]
            return self.decode(node, _STRS, loc)
        if isinstance(spec, _List):
            if not isinstance(node, yaml.SequenceNode):
                return self.type_error(node)
            items = [self.decode(item, spec.item, (*loc, i)) for i, item in enumerate(node.value)]
            return [x for x in items if x is not _BAD]
        if isinstance(spec, _Map):
            if not isinstance(node, yaml.MappingNode):
                return self.type_error(node)
            out: dict[str, Any] = {}
            for k, v in node.value:
                val = self.decode(v, spec.value, (*loc, _Lang(str(k.value))))
                if val is not _BAD:
                    out[str(k.value)] = val
            return out
        assert isinstance(spec, _Obj)
        if not isinstance(node, yaml.MappingNode):
            return self.type_error(node)
        obj: dict[str, Any] = {}
        for k, v in node.value:
            name = str(k.value)
            if name not in spec.fields:
                self.problems.append(Problem(k.start_mark.line + 1, fmt_field((*loc, name)), f'unknown field "{name}"'))
                continue
            val = self.decode(v, spec.fields[name], (*loc, name))
            if val is not _BAD:
                obj[name] = val
        return obj

    def decode_root(self) -> dict[str, Any]:
        if not isinstance(self.root, yaml.MappingNode):
            self.problems.append(Problem(1, "", "the document must be a mapping of keys to values"))
            return {}
        out: dict[str, Any] = {}
        for k, v in self.root.value:
            name = str(k.value)
            if name not in SCHEMA_V0.fields:
                self.problems.append(Problem(k.start_mark.line + 1, name, f'unknown field "{name}"'))
                continue
            before = self.type_errors
            val = self.decode(v, SCHEMA_V0.fields[name], (name,))
            if val is not _BAD and self.type_errors == before:
                out[name] = val
        return out

    # -- pass 2: rules
    def required_str(self, obj: dict[str, Any] | None, key: str, loc: tuple[Part, ...]) -> str | None:
        value = (obj or {}).get(key)
        if not value:
            self.error((*loc, key), f"{key} is a required field")
            return None
        return str(value)

    def one_of(self, value: str | None, choices: tuple[str, ...], loc: tuple[Part, ...]) -> None:
        if value is not None and value not in choices:
            quoted = [f'"{c}"' for c in choices]
            listed = ", ".join(quoted[:-1]) + " or " + quoted[-1]
            self.error(loc, f"{loc[-1]} must be one of the following: {listed}")

    def http_url(self, value: Any, loc: tuple[Part, ...], name: str | None = None) -> None:
        if value is not None and not is_http_url(str(value)):
            self.error(loc, f"{name or loc[-1]} must be an HTTP URL")

    def relative_or_url(self, value: str, loc: tuple[Part, ...], *, dotted: bool = False) -> bool:
        if value.startswith("/"):
            self.error(loc, "is an absolute path. Only relative paths or HTTP(s) URLs allowed", dotted=dotted)
            return False
        if value.startswith("file:"):
            self.error(loc, "is a file:// URL. Only relative paths or HTTP(s) URLs allowed", dotted=dotted)
            return False
        return True

    def local_file(self, value: str) -> Path | None:
        """The local file a relative path names; None for a URL (checked only with network)."""
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
            return None
        return (self.base_dir / value).resolve()

    def check_logo(self, value: str, key: str) -> None:
        if not self.relative_or_url(value, (key,)):
            return
        path = self.local_file(value)
        if path is None:
            return
        if path.suffix.lower() not in vocab.LOGO_EXTENSIONS:
            self.error((key,), f"invalid file extension for: {path}")
            return
        if not path.is_file():
            self.error((key,), f"no such file: {path}")
            return
        if path.suffix.lower() == ".png" and _image_format(path) != "png":
            self.error((key,), "image: unknown format")

    def validate(self, d: dict[str, Any]) -> None:  # noqa: C901 - one rule list, top to bottom
        self.required_str(d, "name", ())
        url = self.required_str(d, "url", ())
        if url is not None and not is_url(url):
            self.error(("url",), "url must be a valid URL")
        if d.get("landingURL") is not None:
            self.http_url(d["landingURL"], ("landingURL",))
        for i, u in enumerate(d.get("isBasedOn") or []):
            if not is_url(u):
                self.error(("isBasedOn", i), f"isBasedOn[{i}] must be a valid URL")
        if d.get("releaseDate") is not None and not is_date(d["releaseDate"]):
            self.error(("releaseDate",), "releaseDate must be a date with format 'YYYY-MM-DD'")
        if d.get("logo"):
            self.check_logo(d["logo"], "logo")
        if d.get("monochromeLogo"):
            self.warn(("monochromeLogo",), "This key is DEPRECATED and will be removed in the future. Use 'logo' instead")
            self.check_logo(d["monochromeLogo"], "monochromeLogo")
        org = d.get("organisation")
        if org is not None:
            uri = self.required_str(org, "uri", ("organisation",))
            if uri is not None and not is_uri(uri):
                self.error(("organisation", "uri"), "uri is not a valid URI")
        for key in ("inputTypes", "outputTypes"):
            if d.get(key) is not None:
                self.warn((key,), "This key is DEPRECATED and will be removed in the future. It's safe to drop it")
                for i, m in enumerate(d[key]):
                    if not _MIME.match(m or ""):
                        self.error((key, i), f"{key}[{i}] is not a valid MIME type")
        if not d.get("platforms"):
            self.error(("platforms",), "platforms must contain more than 0 items")
        for i, c in enumerate(d.get("categories") or []):
            if c not in vocab.CATEGORIES:
                self.error(
                    ("categories", i),
                    f"categories[{i}] must be a valid category (see https://github.com/publiccodeyml/"
                    "publiccode.yml/blob/main/docs/standard/categories-list.rst)",
                )
        for i, f in enumerate(d.get("fundedBy") or []):
            uri = self.required_str(f, "uri", ("fundedBy", i))
            if uri is not None and not is_uri(uri):
                self.error(("fundedBy", i, "uri"), "uri is not a valid URI")
        if d.get("roadmap") is not None:
            self.http_url(d["roadmap"], ("roadmap",))
        self.one_of(self.required_str(d, "developmentStatus", ()), vocab.DEVELOPMENT_STATUS, ("developmentStatus",))
        self.one_of(self.required_str(d, "softwareType", ()), vocab.SOFTWARE_TYPES, ("softwareType",))
        self.validate_audience(d.get("intendedAudience"))
        self.validate_description(d.get("description"))
        self.validate_legal(d.get("legal") or {})
        self.validate_maintenance(d.get("maintenance") or {})
        loc = d.get("localisation") or {}
        if loc.get("localisationReady") is None:
            self.error(("localisation", "localisationReady"), "localisationReady is a required field")
        langs = loc.get("availableLanguages")
        if langs is None:
            self.error(("localisation", "availableLanguages"), "availableLanguages is a required field")
        elif not langs:
            self.error(("localisation", "availableLanguages"), "availableLanguages must contain more than 0 items")
        for i, lang in enumerate(langs or []):
            if not is_bcp47(lang or ""):
                self.error(("localisation", "availableLanguages", i), f"availableLanguages[{i}] must be a valid BCP 47 language")
        for kind, deps in (d.get("dependsOn") or {}).items():
            for i, dep in enumerate(deps or []):
                if dep is not None and not dep.get("name"):
                    self.error(("dependsOn", kind, i, "name"), "name is a required field")
        for i, sup in enumerate(d.get("supports") or []):
            ident = (sup or {}).get("id")
            if not ident:
                self.error(("supports", i, "id"), "id is a required field")
            elif ident.startswith("alias:"):
                if ident[len("alias:"):] not in vocab.SUPPORT_ALIASES:
                    self.error(
                        ("supports", i, "id"),
                        "id contains an unknown alias (see https://github.com/publiccodeyml/"
                        "publiccode.yml/blob/main/docs/standard/aliases-list.rst)",
                    )
            elif not is_uri(ident):
                self.error(("supports", i, "id"), "id must be an alias, an HTTP URL or a URN")
        self.validate_it(d)

    def validate_audience(self, aud: dict[str, Any] | None) -> None:
        if aud is None:
            return
        for i, s in enumerate(aud.get("scope") or []):
            if s not in vocab.SCOPES:
                self.error(
                    ("intendedAudience", "scope", i),
                    f"scope[{i}] must be a valid scope (see https://github.com/publiccodeyml/"
                    "publiccode.yml/blob/main/docs/standard/scope-list.rst)",
                )
        for key in ("countries", "unsupportedCountries"):
            for i, c in enumerate(aud.get(key) or []):
                c = c or ""
                if not is_country(c):
                    self.error(
                        ("intendedAudience", key, i),
                        f"{key}[{i}] must be a valid ISO 3166-1 alpha-2 two-letter country code",
                    )
                elif c.islower():
                    self.warn(
                        ("intendedAudience", key, i),
                        f"Lowercase country codes are DEPRECATED. Use uppercase instead ('{c.upper()}')",
                    )

    def validate_description(self, desc: dict[str, Any] | None) -> None:
        if not desc:
            self.error(("description",), "description must contain more than 0 items")
            return
        for lang in desc:
            if not is_bcp47(lang):
                self.error(("description",), "description must be a valid BCP 47 language")
                break
        for lang, entry in desc.items():
            e = entry or {}
            base: tuple[Part, ...] = ("description", _Lang(lang))
            generic = e.get("genericName")
            if generic:
                self.warn((*base, "genericName"), "This key is DEPRECATED and will be removed in the future. It's safe to drop it")
                if grapheme_len(generic) > 35:
                    self.error((*base, "genericName"), "genericName must be a maximum of 35 characters in length")
            short = self.required_str(e, "shortDescription", base)
            if short is not None and grapheme_len(short) > 150:
                self.error((*base, "shortDescription"), "shortDescription must be a maximum of 150 characters in length")
            long = self.required_str(e, "longDescription", base)
            if long is not None:
                n = grapheme_len(long)
                if n < 150:
                    self.error((*base, "longDescription"), "longDescription must be at least 150 characters in length")
                elif n > 10000:
                    self.error((*base, "longDescription"), "longDescription must be a maximum of 10000 characters in length")
            for key in ("documentation", "apiDocumentation"):
                if e.get(key) is not None:
                    self.http_url(e[key], (*base, key))
            if not e.get("features"):
                self.error((*base, "features"), "features must contain more than 0 items")
            for i, v in enumerate(e.get("videos") or []):
                if v is not None and not is_http_url(v):
                    self.error((*base, "videos", i), f"videos[{i}] must be an HTTP URL")
            for i, shot in enumerate(e.get("screenshots") or []):
                loc = (*base, "screenshots", i)
                if not self.relative_or_url(shot or "", loc, dotted=True):
                    continue
                path = self.local_file(shot or "")
                if path is None:
                    continue
                if not path.is_file():
                    self.error(loc, f"'{shot}' is not an image: no such file: {path}", dotted=True)
                elif path.suffix.lower() not in vocab.IMAGE_EXTENSIONS or _image_format(path) is None:
                    self.error(loc, f"'{shot}' is not an image: unknown format", dotted=True)

    def validate_legal(self, legal: dict[str, Any]) -> None:
        lic = self.required_str(legal, "license", ("legal",))
        if lic is not None and not is_spdx_expression(lic):
            self.error(("legal", "license"), "license must be a valid license (see https://spdx.org/licenses)")
        if legal.get("repoOwner") is not None:
            self.warn(("legal", "repoOwner"), "This key is DEPRECATED and will be removed in the future. Use 'organisation.name' instead")
        authors = legal.get("authorsFile")
        if authors is not None:
            self.warn(("legal", "authorsFile"), "This key is DEPRECATED and will be removed in the future. It's safe to drop it")
            if self.relative_or_url(authors, ("legal", "authorsFile")):
                path = self.local_file(authors)
                if path is not None and not path.is_file():
                    self.error(("legal", "authorsFile"), f"'{path}' does not exist: no such file: {path}")

    def validate_maintenance(self, m: dict[str, Any]) -> None:
        mtype = self.required_str(m, "type", ("maintenance",))
        self.one_of(mtype, vocab.MAINTENANCE_TYPES, ("maintenance", "type"))
        contractors = m.get("contractors")
        contacts = m.get("contacts")
        if mtype == "contract" and not contractors:
            self.error(("maintenance", "contractors"), 'contractors is a required field when "type" is "contract"')
        if mtype != "contract" and contractors is not None:
            self.error(("maintenance", "contractors"), 'contractors must not be present unless "type" is "contract"')
        if mtype in ("community", "internal") and not contacts:
            self.error(("maintenance", "contacts"), f'contacts is a required field when "type" is "{mtype}"')
        for i, c in enumerate(contractors or []):
            base = ("maintenance", "contractors", i)
            c = c or {}
            self.required_str(c, "name", base)
            if c.get("email") and not is_email(c["email"]):
                self.error((*base, "email"), "email must be a valid email address")
            if c.get("website") is not None:
                self.http_url(c["website"], (*base, "website"))
            until = self.required_str(c, "until", base)
            if until is not None and not is_date(until):
                self.error((*base, "until"), "until must be a date with format 'YYYY-MM-DD'")
        for i, c in enumerate(contacts or []):
            base = ("maintenance", "contacts", i)
            c = c or {}
            self.required_str(c, "name", base)
            if c.get("email") and not is_email(c["email"]):
                self.error((*base, "email"), "email must be a valid email address")

    def validate_it(self, d: dict[str, Any]) -> None:
        section = d.get("IT")
        if d.get("it") is not None:
            self.warn(("it",), "Lowercase country codes are DEPRECATED and will be removed in the future. Use 'IT' instead")
            if section is not None:
                self.error(("it",), "'IT' key already present. Remove this key")
            else:
                section = d["it"]
        if section is None:
            return
        key = "IT" if d.get("IT") is not None else "it"
        self.one_of(section.get("countryExtensionVersion"), vocab.IT_EXTENSION_VERSIONS, (key, "countryExtensionVersion"))
        if section.get("conforme") is not None:
            self.warn((key, "conforme"), "This key is DEPRECATED and will be removed in the future. It's safe to drop it")
        # riuso.codiceIPA needs Italy's iPA code list: not checked offline.


# --------------------------------------------------------------------------- entry points


def validate_publiccode_text(text: str, path: Path, *, base_dir: Path | None = None) -> PubliccodeReport:
    """Validate publiccode.yml text; relative files are looked up in ``base_dir`` (default: the file's folder)."""
    report = PubliccodeReport(path=path)
    try:
        doc = parse_yaml(text, path)
    except InvalidInput as exc:
        rest = exc.message[len(f"{path}:"):] if exc.message.startswith(f"{path}:") else exc.message
        m = re.match(r"^(\d+): (\S+): (.*)$", rest)
        if m:
            name = "" if m[2] in ("(yaml)", "(file)") else m[2]
            report.problems.append(Problem(int(m[1]), name, m[3]))
        else:
            report.problems.append(Problem(1, "", rest))
        return report
    node = compose_yaml(text, path)  # bounded, no aliases: parse_yaml accepted the same text
    if node is None:
        report.problems.append(Problem(1, "", "the file is empty"))
        return report
    v = _Validator(doc, node, (base_dir or path.parent).resolve())
    version_node = None
    if isinstance(node, yaml.MappingNode):
        version_node = next((val for k, val in node.value if k.value == "publiccodeYmlVersion"), None)
    if version_node is None:
        report.problems.append(Problem(1, "publiccodeYmlVersion", "publiccodeYmlVersion is a required field"))
        return report
    if isinstance(version_node, yaml.ScalarNode) and version_node.tag != _NULL_TAG:
        version = version_node.value
        report.version = version
        line = version_node.start_mark.line + 1
        if version not in vocab.SUPPORTED_VERSIONS:
            report.problems.append(
                Problem(line, "publiccodeYmlVersion", f"unsupported version: '{version}'. "
                        f"Supported versions: {', '.join(vocab.SUPPORTED_VERSIONS)}")
            )
            return report
        if version.startswith("0.2"):
            v.problems.append(
                Problem(line, "publiccodeYmlVersion",
                        f"v{version} is not the latest version, use '0'. Parsing this file as v0.", "warning")
            )
    data = v.decode_root()
    if "publiccodeYmlVersion" not in data and not any(p.field == "publiccodeYmlVersion" for p in v.problems):
        v.problems.append(Problem(1, "publiccodeYmlVersion", "publiccodeYmlVersion is a required field"))
    v.validate(data)
    report.problems = sorted(v.problems, key=lambda p: (p.line, p.level != "error"))
    report.data = data
    return report


def validate_publiccode(path: Path, *, base_dir: Path | None = None) -> PubliccodeReport:
    """Validate one publiccode.yml file offline. Problems come back in the report; nothing is raised
    for an invalid document (see :meth:`PubliccodeReport.raise_for_errors`)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_bounded says why it cannot be read
    if size > MAX_YAML_BYTES:
        return PubliccodeReport(path=path, problems=[Problem(1, "", f"too large ({size} bytes, at most {MAX_YAML_BYTES})")])
    raw = read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return PubliccodeReport(path=path, problems=[Problem(1, "", "Invalid UTF-8")])
    return validate_publiccode_text(text, path, base_dir=base_dir)
