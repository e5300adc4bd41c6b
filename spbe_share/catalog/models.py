"""Typed model of a catalog entry, ``catalog/<app-id>/spbe-app.yaml``.

Strict: unknown keys are errors. Paths under ``logo``, ``docs`` and ``manifests`` are
relative to the entry's folder; ``build.context`` and ``config[].template`` are relative
to the catalog repository's root (the folder that holds ``catalog/``), so one repository
can carry ``catalog/``, ``shared_apps/`` and ``templates/`` side by side.

``docs/spbe-app.example.yaml`` is a fully commented example of every field.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal

import semver
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    model_validator,
)

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
ENV_NAME = r"^[A-Z][A-Z0-9_]*$"
# Kemendagri region code: province "94", regency/city "94.71", district "94.71.01", village "94.71.01.1001"
KODE_WILAYAH = r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$"

Slug = Annotated[str, Field(pattern=SLUG, description="lowercase letters, digits and '-'")]
SemVer = Annotated[str, Field(pattern=SEMVER, description="Semantic Versioning 2.0.0")]
EnvName = Annotated[str, Field(pattern=ENV_NAME)]
KodeWilayah = Annotated[str, Field(pattern=KODE_WILAYAH, description="kode wilayah Kemendagri")]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
# A full git commit hash (SHA-1, or SHA-256 repositories): short hashes are ambiguous.
GIT_COMMIT = r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$"
GitCommit = Annotated[str, Field(pattern=GIT_COMMIT, description="full git commit hash (lowercase hex)")]


def semver_key(version: str) -> semver.Version:
    """Sort key for SemVer strings: the ``semver`` library's version, whose ordering is SemVer
    2.0.0 §11 (numeric pre-release identifiers compare as numbers, ``1.0.0-rc.2`` <
    ``1.0.0-rc.10`` < ``1.0.0``; build metadata does not count). ValueError when not SemVer."""
    if not re.match(SEMVER, version):
        raise ValueError(f"not a SemVer version: {version!r}")
    return semver.Version.parse(version)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_relpath(value: str) -> str:
    if value.startswith("/") or "\\" in value or any(p == ".." for p in value.split("/")):
        raise ValueError("must be a relative path inside the repository, without '..'")
    return value


RelPath = Annotated[
    str,
    Field(min_length=1, description="relative path inside the repository, without '..'"),
    AfterValidator(_check_relpath),
]


class Text(Strict):
    """A text in Bahasa Indonesia (``id``) and English (``en``)."""

    id: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Contact(Strict):
    name: str = Field(min_length=1)
    role: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = None


class Donor(Strict):
    pemda: str = Field(min_length=1, description="e.g. Provinsi Papua")
    kode_wilayah: KodeWilayah
    unit: str = Field(min_length=1, description="e.g. Dinas Komunikasi dan Informatika")
    contacts: list[Contact] = Field(min_length=1)


class Jenis(StrEnum):
    umum = "umum"
    khusus = "khusus"


class Layanan(StrEnum):
    publik = "publik"
    administrasi_pemerintahan = "administrasi_pemerintahan"


class Classification(Strict):
    """SPBE classification (Perpres 95/2018)."""

    jenis: Jenis = Field(description="aplikasi umum or aplikasi khusus")
    layanan: Layanan = Field(description="layanan publik or administrasi pemerintahan")
    domain: str = Field(min_length=1, description="business area, e.g. 'Kearsipan dan Persuratan'")


class Scope(StrEnum):
    install = "install"
    support = "support"
    source = "source"
    training = "training"


class Sharing(Strict):
    mou_required: bool
    scope: list[Scope] = Field(min_length=1)
    support_months: int = Field(ge=0, description="support period after installation, in months")
    adopter_provides: list[str] = Field(default_factory=list)


class OperatingSystem(Strict):
    name: Literal["debian", "ubuntu", "rhel", "rocky", "almalinux"]
    versions: list[str] = Field(min_length=1)


class Requirements(Strict):
    cpu_cores: int = Field(ge=1)
    memory_mb: int = Field(ge=64)
    disk_gb: int = Field(ge=1, description="free disk the app needs, data included")
    os: list[OperatingSystem] = Field(min_length=1)
    ports: list[PortNumber] = Field(default_factory=list, description="ports that must be free")
    concurrent_users: int = Field(ge=1)


ROLE_NAME = r"^[a-z][a-z0-9_]{0,31}$"
RoleName = Annotated[str, Field(pattern=ROLE_NAME, description="lowercase letters, digits and '_' (e.g. web)")]


class RoleSize(Strict):
    """What one host carrying a role needs (several roles on one host: their sums)."""

    cpu_cores: int = Field(ge=1)
    memory_mb: int = Field(ge=64)
    disk_gb: int = Field(ge=1, description="free disk on the host's spbe-share root, data included")


class Role(Strict):
    """A kind of host an app spreads over (``web``, ``database``, ``backup``...); its components
    name it in ``components[].role``. A role may carry no component (``backup``: the host that
    keeps the copies). Preflight fails on a host under ``minimum`` and warns under ``recommended``."""

    name: RoleName
    description: str | None = None
    minimum: RoleSize
    recommended: RoleSize | None = Field(default=None, description="default: the minimum")

    @model_validator(mode="after")
    def _recommended_not_below_minimum(self) -> Role:
        if self.recommended is not None:
            for key, low in self.minimum.model_dump().items():
                if getattr(self.recommended, key) < low:
                    raise ValueError(f"recommended {key} {getattr(self.recommended, key)} is below the minimum {low}")
        return self

    @property
    def wanted(self) -> RoleSize:
        return self.recommended or self.minimum


def at(loc: tuple[str | int, ...], problem: ValueError) -> ValidationError:
    """``problem`` reported at field ``loc`` of the file (``file:line: field: message``), not at
    the entry as a whole as a model validator's ValueError is."""
    return ValidationError.from_exception_data(
        "Entry", [{"type": "value_error", "loc": loc, "input": None, "ctx": {"error": problem}}]
    )


class Build(Strict):
    context: RelPath = Field(description="image source folder, relative to the repository root")
    dockerfile: str = "Dockerfile"


class Port(Strict):
    container: PortNumber
    published: PortNumber | None = Field(default=None, description="host port; default: same")
    protocol: Literal["tcp", "udp"] = "tcp"

    @property
    def host_port(self) -> int:
        return self.published or self.container


class Volume(Strict):
    name: Slug
    path: str = Field(pattern=r"^/", description="mount point inside the container")


class HttpCheck(Strict):
    type: Literal["http"]
    port: PortNumber = Field(description="container port")
    path: str = Field(default="/healthz", pattern=r"^/")
    interval_s: int = Field(default=2, ge=1)
    timeout_s: int = Field(default=120, ge=1)


class CommandCheck(Strict):
    type: Literal["command"]
    command: list[str] = Field(min_length=1, description="run inside the container, exit 0 = healthy")
    interval_s: int = Field(default=2, ge=1)
    timeout_s: int = Field(default=120, ge=1)


HealthCheck = Annotated[HttpCheck | CommandCheck, Field(discriminator="type")]


PG_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"


class PostgresRole(Strict):
    """The PostgreSQL role whose password a secret is (rotation ``postgresql-role``)."""

    component: Slug = Field(description="the component running the PostgreSQL server")
    role: str = Field(pattern=PG_IDENT, description="the role (plain identifier)")


class Secret(Strict):
    """A secret named but never valued: generated per deployment, mounted at /run/secrets/NAME.

    ``rotation`` says whether ``spbe-share secrets rotate`` may change it after installation:
    ``never`` (the app's data depends on it, e.g. a key that wraps signing keys),
    ``restart`` (a new value takes effect when the components using it restart) or
    ``postgresql-role`` (the password of ``postgresql_role``: spbe-share changes it in the
    database first, with ``ALTER ROLE`` run by the server's superuser, then in the app).
    Unset: not rotatable (refused, like ``never``, but without the warning).
    """

    name: EnvName
    description: str | None = None
    length: int = Field(default=32, ge=16, le=256)
    rotation: Literal["never", "restart", "postgresql-role"] | None = None
    postgresql_role: PostgresRole | None = Field(
        default=None, description="required with rotation: postgresql-role (and only then)"
    )

    @model_validator(mode="after")
    def _rotation(self) -> Secret:
        if self.rotation == "postgresql-role" and self.postgresql_role is None:
            raise ValueError("rotation postgresql-role needs postgresql_role: {component, role}")
        if self.rotation != "postgresql-role" and self.postgresql_role is not None:
            raise ValueError("postgresql_role is only used with rotation: postgresql-role")
        return self


class ConfigFile(Strict):
    template: RelPath = Field(description="jinja2 template, relative to the repository root")
    path: str = Field(pattern=r"^/", description="where the rendered file is mounted in the container")


class Component(Strict):
    name: Slug
    image: str = Field(pattern=r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$", description="image name, tag = release version")
    build: Build
    command: list[str] | None = None
    ports: list[Port] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    health: HealthCheck | None = None
    env: dict[EnvName, str] = Field(default_factory=dict)
    secrets: list[EnvName] = Field(default_factory=list, description="names from the entry's 'secrets'")
    config: list[ConfigFile] = Field(default_factory=list)
    depends_on: list[Slug] = Field(default_factory=list)
    role: RoleName | None = Field(default=None, description="the entry's role whose host runs it (entries with roles)")


class Setting(Strict):
    """A per-Pemda value the adopter sets at install (``--set NAME=value``) and may change later
    with ``spbe-share config set`` unless it is ``immutable``.

    Values are strings; ``type``, ``choices``, ``minimum`` and ``maximum`` say which strings are
    valid (checked at install and by ``config set``, before anything reaches a target).
    ``immutable``: fixed once installed (e.g. the name of a database: a new name would start
    the app on an empty one); ``config set`` refuses to change it.
    """

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str = Field(min_length=1)
    default: str | None = None
    required: bool = False
    type: Literal["string", "integer", "boolean"] = Field(
        default="string", description="integer: digits with an optional '-'; boolean: true or false")
    choices: list[str] | None = Field(default=None, min_length=1, description="the only values allowed")
    minimum: int | None = Field(default=None, description="type integer: the smallest value allowed")
    maximum: int | None = Field(default=None, description="type integer: the largest value allowed")
    immutable: bool = Field(default=False, description="fixed at install: `config set` refuses to change it")

    @model_validator(mode="after")
    def _limits(self) -> Setting:
        if (self.minimum is not None or self.maximum is not None) and self.type != "integer":
            raise ValueError("minimum and maximum are for type: integer")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is larger than maximum")
        if self.default is not None and self.default != "":
            problem = self.value_problem(self.default)
            if problem:
                raise ValueError(f"default {self.default!r}: {problem}")
        for choice in self.choices or []:
            problem = self.value_problem(choice)
            if problem:
                raise ValueError(f"choice {choice!r}: {problem}")
        return self

    def value_problem(self, value: str) -> str | None:
        """Why ``value`` is not a valid value of this setting (None: it is). An empty value is
        valid unless the setting is required (checked by the caller)."""
        if value == "":
            return None
        if len(value) > MAX_SETTING_VALUE:
            return f"longer than {MAX_SETTING_VALUE} characters"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if self.type == "boolean" and value not in ("true", "false"):
            return "must be true or false"
        if self.type == "integer":
            if not re.fullmatch(r"-?[0-9]{1,18}", value):
                return "must be a whole number"
            n = int(value)
            if self.minimum is not None and n < self.minimum:
                return f"must be at least {self.minimum}"
            if self.maximum is not None and n > self.maximum:
                return f"must be at most {self.maximum}"
        return None


MAX_SETTING_VALUE = 4096
# a group holding a quantifier, itself repeated: (a+)+, (a|aa)*, (\d{2})+ ... can take exponential time
_NESTED_QUANTIFIER = re.compile(r"\([^()]*(?:[*+?|]|\{\d)[^()]*\)\s*(?:[*+]|\{\d)")


def _check_redact_pattern(value: str) -> str:
    """A redaction rule's regular expression: compiles, and cannot blow up on a long line."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    if _NESTED_QUANTIFIER.search(value):
        raise ValueError("a repeated group that itself repeats (e.g. (a+)+) can take exponential time; simplify it")
    return value


class RedactRule(Strict):
    """Personal data of this app that must not leave a target in a support bundle."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$", description="shown instead of the match")]
    pattern: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_check_redact_pattern)] = Field(
        description="Python regular expression (no nested repetition)")


AGE_RECIPIENT = r"^age1[02-9ac-hj-np-z]{58}$"


class Support(Strict):
    """What the donor needs to help an adopter (``spbe-share support-bundle``)."""

    age_recipient: Annotated[str, Field(pattern=AGE_RECIPIENT)] | None = Field(
        default=None, description="the donor's age public key (age1...): support bundles are sealed to it")
    redact: list[RedactRule] = Field(
        default_factory=list, description="more personal data to redact, besides e-mail, phone numbers and NIK")


class FirstLogin(Strict):
    """Who logs in first after an install, and which secret holds that account's first
    password. spbe-share prints the user and the command that reveals the password
    (``spbe-share credentials``), never the password itself."""

    user: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$",
                      description="the first account's user name, e.g. admin")
    secret: EnvName = Field(description="the secret (from 'secrets') holding its first password")
    path: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9._~/-]*$", max_length=200,
                             description="the login page, relative to the app's URL, e.g. /login")
    state_path: str | None = Field(
        default=None, pattern=r"^/[A-Za-z0-9._~/-]*$", max_length=200,
        description="a GET path on the address of the app's http health check, answering without a"
                    " login {\"initial_password_in_use\": true|false} (no secret); spbe-share status reads"
                    " it on the target and warns while the first password is still in use,"
                    " e.g. /api/v1/first-login")


class Database(Strict):
    component: Slug
    engine: Literal["postgresql", "sqlite"]
    name: str = Field(min_length=1, description="database name (postgresql) or file path (sqlite)")


class Backup(Strict):
    volumes: list[Slug] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)


class Regulation(Strict):
    name: str = Field(min_length=1, description="e.g. 'Permenpan RB Nomor 6 Tahun 2025'")
    uri: HttpUrl


class Severity(StrEnum):
    """How bad a flaw is, worst first (the levels of CVSS v3 qualitative ratings)."""

    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"


SEVERITY_ORDER = ("critical", "high", "medium", "low", "unknown")  # worst first; "unknown": no rating
_COMPARATOR = r"(?:>=|<=|>|<|==|!=)?\s*" + SEMVER.strip("^$")
AFFECTED = rf"^\s*{_COMPARATOR}\s*(?:,\s*{_COMPARATOR}\s*)*$"
_ONE = re.compile(r"\s*(>=|<=|>|<|==|!=)?\s*([^,\s]+)\s*")


def affected_by(spec: str, version: str) -> bool:
    """Whether ``version`` is in the range ``spec``: comparators joined by commas, all of which
    must hold (``">=1.0.0, <1.1.0"``; a bare version is ``==``). SemVer precedence (§11)."""
    have = semver_key(version)
    for part in spec.split(","):
        m = _ONE.fullmatch(part)
        if m is None:
            raise ValueError(f"not a version range: {spec!r}")
        op, other = m.group(1) or "==", semver_key(m.group(2))
        ok = {">=": have >= other, "<=": have <= other, ">": have > other, "<": have < other,
              "==": have == other, "!=": have != other}[op]  # fmt: skip
        if not ok:
            return False
    return True


class Advisory(Strict):
    """A security advisory of the donor about the app itself (its flaws, not its packages'),
    listed under the release that fixes it (``fixed_in``), or, while no release fixes it,
    under a release it affects."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(?:-[A-Za-z0-9]+)+$",
                    description="e.g. SPBE-2026-0001, or a CVE/GHSA id when one was assigned")  # fmt: skip
    severity: Severity
    affected: str = Field(pattern=AFFECTED, description="the affected releases: comparators joined by commas,"
                          " all of which hold, e.g. '>=1.0.0, <1.1.0' (a bare version: only that one)")  # fmt: skip
    fixed_in: SemVer | None = Field(default=None, description="the release that fixes it; null: no fix yet")
    description: str = Field(min_length=1, description="what the flaw is and what to do, in Bahasa Indonesia")
    published: dt.date | None = None
    references: list[HttpUrl] = Field(default_factory=list)

    def affects(self, version: str) -> bool:
        return affected_by(self.affected, version)


class Release(Strict):
    version: SemVer
    date: dt.date
    changelog: list[str] = Field(default_factory=list)
    regulations: list[Regulation] = Field(default_factory=list)
    migrates_data: bool = False
    upgrades_from: SemVer | None = Field(default=None, description="oldest version it upgrades from")
    commit: GitCommit | None = Field(
        default=None,
        description=(
            "the commit of this catalog repository that holds the release's source: images of "
            "this release are always built from the component folders at that commit"
        ),
    )
    advisories: list[Advisory] = Field(
        default_factory=list, description="security advisories published with this release (usually: that it fixes)"
    )


class Sop(Strict):
    """The SOPs an LPSE keeps, in Bahasa Indonesia."""

    hak_akses: RelPath
    backup: RelPath
    eskalasi: RelPath
    manajemen_perubahan: RelPath
    risiko_keamanan: RelPath


class Docs(Strict):
    language: Literal["id"] = "id"
    install: RelPath
    user_manual: RelPath
    sop: Sop


class Manifests(Strict):
    compose: RelPath = Field(description="compose-spec manifest of the app")
    ansible_vars: RelPath | None = Field(default=None, description="extra vars for the playbooks")


class Entry(Strict):
    """One shareable app (``spbe-app.yaml``)."""

    schema_version: Literal[1] = 1
    id: Slug
    name: str = Field(min_length=1)
    summary: Text
    description: Text
    source_url: HttpUrl
    logo: RelPath | None = None
    donor: Donor
    license: str = Field(min_length=1, description="SPDX license expression")
    classification: Classification
    sharing: Sharing
    requirements: Requirements
    roles: list[Role] = Field(
        default_factory=list,
        description="hosts the app spreads over; none: every component on one host (requirements)",
    )
    secrets: list[Secret] = Field(default_factory=list)
    settings: list[Setting] = Field(default_factory=list)
    components: list[Component] = Field(min_length=1)
    support: Support = Field(default_factory=Support)
    backup: Backup = Field(default_factory=Backup)
    releases: list[Release] = Field(min_length=1)
    docs: Docs
    manifests: Manifests
    keywords: list[str] = Field(default_factory=list)
    first_login: FirstLogin | None = Field(default=None, description="the account to log in with after install")
    post_install_message: Text | None = Field(
        default=None, description="printed after an install (as plain text, in the operator's language)")

    @model_validator(mode="after")
    def _cross_refs(self) -> Entry:
        names = [c.name for c in self.components]
        _unique(names, "components")
        _unique([r.version for r in self.releases], "releases")
        secret_names = {s.name for s in self.secrets}
        volumes = {v.name for c in self.components for v in c.volumes}
        for c in self.components:
            for s in c.secrets:
                if s not in secret_names:
                    raise ValueError(f"component {c.name!r} uses secret {s!r} not declared in 'secrets'")
            for d in c.depends_on:
                if d not in names:
                    raise ValueError(f"component {c.name!r} depends on unknown component {d!r}")
        for v in self.backup.volumes:
            if v not in volumes:
                raise ValueError(f"backup volume {v!r} is not a volume of any component")
        for db in self.backup.databases:
            if db.component not in names:
                raise ValueError(f"backup database names unknown component {db.component!r}")
        for secret in self.secrets:
            pg = secret.postgresql_role
            if pg is not None:
                if pg.component not in names:
                    raise ValueError(f"secret {secret.name!r}: postgresql_role names unknown component"
                                     f" {pg.component!r}")
                if secret.name not in next(c for c in self.components if c.name == pg.component).secrets:
                    raise ValueError(f"secret {secret.name!r}: component {pg.component!r} must use it (its server"
                                     " initialises the role with it)")
        if self.first_login is not None:
            login = self.first_login.secret
            if login not in secret_names:
                raise ValueError(f"first_login names secret {login!r} not declared in 'secrets'")
            if not any(login in c.secrets for c in self.components):
                raise ValueError(f"first_login names secret {login!r} that no component uses")
        versions = {r.version for r in self.releases}
        for r in self.releases:
            if r.upgrades_from and r.upgrades_from not in versions:
                raise ValueError(f"release {r.version} upgrades_from unknown release {r.upgrades_from}")
        _check_advisories(self)
        _check_roles(self)
        return self

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)

    def components_of(self, role: str) -> list[Component]:
        return [c for c in self.components if c.role == role]

    def advisories(self) -> list[tuple[Release, Advisory]]:
        """Every advisory of the entry with the release that lists it, by id."""
        return sorted(((r, a) for r in self.releases for a in r.advisories), key=lambda ra: ra[1].id)

    def advisory(self, advisory_id: str) -> Advisory | None:
        return next((a for _r, a in self.advisories() if a.id.lower() == advisory_id.lower()), None)

    def release(self, version: str | None = None) -> Release:
        """The named release, or the newest one."""
        if version is None:
            return self.latest
        for r in self.releases:
            if r.version == version:
                return r
        raise KeyError(version)

    @property
    def latest(self) -> Release:
        return max(self.releases, key=lambda r: semver_key(r.version))

    def referenced_files(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        """(field loc, path, base) for every file the entry names; base is 'entry' or 'repo'."""
        out: list[tuple[tuple[str | int, ...], str, str]] = []
        if self.logo:
            out.append((("logo",), self.logo, "entry"))
        out.append((("docs", "install"), self.docs.install, "entry"))
        out.append((("docs", "user_manual"), self.docs.user_manual, "entry"))
        for key, value in self.docs.sop.model_dump().items():
            out.append((("docs", "sop", key), value, "entry"))
        out.append((("manifests", "compose"), self.manifests.compose, "entry"))
        if self.manifests.ansible_vars:
            out.append((("manifests", "ansible_vars"), self.manifests.ansible_vars, "entry"))
        for i, c in enumerate(self.components):
            out.append((("components", i, "build", "context"), c.build.context, "repo"))
            out.append(
                (("components", i, "build", "dockerfile"), f"{c.build.context}/{c.build.dockerfile}", "repo")
            )
            for j, cf in enumerate(c.config):
                out.append((("components", i, "config", j, "template"), cf.template, "repo"))
        return out


def _check_roles(entry: Entry) -> None:
    declared = [r.name for r in entry.roles]
    for i, name in enumerate(declared):
        if name in declared[:i]:
            raise at(("roles", i, "name"), ValueError(f"role {name!r} is declared twice"))
    for i, c in enumerate(entry.components):
        if not declared and c.role is not None:
            raise at(("components", i, "role"), ValueError(
                f"component {c.name!r} names role {c.role!r} but the entry declares no 'roles'"))
        if declared and c.role is None:
            raise at(("components", i), ValueError(
                f"component {c.name!r} has no role (the entry declares roles: {', '.join(declared)})"))
        if declared and c.role not in declared:
            raise at(("components", i, "role"), ValueError(
                f"component {c.name!r} names role {c.role!r}, which is not declared (roles: {', '.join(declared)})"))


def _check_advisories(entry: Entry) -> None:
    versions = [r.version for r in entry.releases]
    seen: set[str] = set()
    for r in entry.releases:
        for a in r.advisories:
            if a.id in seen:
                raise ValueError(f"advisory {a.id} is listed twice")
            seen.add(a.id)
            hit = [v for v in versions if a.affects(v)]
            where = f"release {r.version}: advisory {a.id}"
            if not hit:
                raise ValueError(f"{where}: affected {a.affected!r} names no release of the entry")
            if a.fixed_in is not None:
                if a.fixed_in not in versions:
                    raise ValueError(f"{where}: fixed_in {a.fixed_in} is not a release of the entry")
                if a.affects(a.fixed_in):
                    raise ValueError(f"{where}: fixed_in {a.fixed_in} is in its own affected range {a.affected!r}")
                if r.version != a.fixed_in:
                    raise ValueError(f"{where}: list it under the release that fixes it ({a.fixed_in})")
            elif r.version not in hit:
                raise ValueError(f"{where}: with no fix yet, list it under a release it affects ({', '.join(hit)})")


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} entry {v!r}")
        seen.add(v)
