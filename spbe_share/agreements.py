"""MoU/PKS agreements between a donor and an adopter Pemda, and the rule that gates deploys.

One YAML file per agreement in ``ws.agreements_dir`` (file name from the number, e.g.
``NK_001_2026.yml``); the signed document, when given, is copied to
``ws.agreements_dir/documents/`` with its SHA-256 recorded::

    number: NK/001/2026
    apps: [e-office]
    donor: {pemda: Provinsi Papua, kode_wilayah: "91"}
    adopter: {pemda: Kota Sorong, kode_wilayah: "96.71"}
    scope: [install, support]          # install, support, source, training
    signed: 2026-01-15                 # valid from this day ...
    valid_until: 2028-01-15            # ... through this day
    signatories: ["Budi, Kepala Diskominfo"]
    document: {file: documents/NK_001_2026.pdf, sha256: ..., original_name: pks.pdf}

:func:`require_agreement` answers "may this operation happen?" and says precisely why not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .catalog.models import KODE_WILAYAH, SLUG, RelPath, Scope
from .errors import Conflict, InvalidInput, NoAgreement, NotFound
from .files import atomic_file, atomic_write_text
from .workspace import Workspace
from .yamlio import dump_yaml, load_yaml, validate_model

NUMBER = r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,99}$"


def _kode_must_be_text(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f'kode wilayah must be quoted text, e.g. "{value}" (YAML read a number)')
    return value


KodeWilayah = Annotated[
    str, BeforeValidator(_kode_must_be_text), Field(pattern=KODE_WILAYAH, description='e.g. "96.71"')
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Party(_Strict):
    pemda: str = Field(min_length=1)
    kode_wilayah: KodeWilayah


class Document(_Strict):
    file: RelPath = Field(description="relative to the agreements folder, without '..'")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    original_name: str | None = None


class Agreement(_Strict):
    number: str = Field(pattern=NUMBER)
    apps: list[Annotated[str, Field(pattern=SLUG)]] = Field(min_length=1)
    donor: Party
    adopter: Party
    scope: list[Scope] = Field(min_length=1)
    signed: dt.date
    valid_until: dt.date
    signatories: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    document: Document | None = None

    @model_validator(mode="after")
    def _check(self) -> Agreement:
        if self.valid_until <= self.signed:
            raise ValueError(f"valid_until ({self.valid_until}) must be after signed ({self.signed})")
        if len(set(self.apps)) != len(self.apps):
            raise ValueError("apps: listed twice")
        if len(set(self.scope)) != len(self.scope):
            raise ValueError("scope: listed twice")
        return self

    def state_on(self, day: dt.date) -> str:
        """``active``, ``expired`` or ``future`` (valid from ``signed`` through ``valid_until``)."""
        if day < self.signed:
            return "future"
        if day > self.valid_until:
            return "expired"
        return "active"

    def covers(self, scope: Scope | str) -> bool:
        return Scope(scope) in self.scope


def file_name(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", number) + ".yml"


def _to_yaml_data(a: Agreement) -> dict[str, Any]:
    data = a.model_dump(mode="json", exclude_none=True)
    data["signed"] = a.signed  # unquoted YAML dates read better by hand
    data["valid_until"] = a.valid_until
    return data


def load_agreement(path: Path) -> Agreement:
    return validate_model(Agreement, load_yaml(path))


def load_agreements(ws: Workspace) -> list[Agreement]:
    """Every agreement, sorted by number. Bad files raise with ``file:line: field`` lines."""
    d = ws.agreements_dir
    if not d.is_dir():
        return []
    out: list[Agreement] = []
    problems: list[str] = []
    for path in sorted(d.glob("*.yml")) + sorted(d.glob("*.yaml")):
        try:
            out.append(load_agreement(path))
        except InvalidInput as exc:
            problems.extend(exc.details or [exc.message])
    if problems:
        raise InvalidInput(f"{d}: broken agreement file(s)", details=problems)
    seen: dict[str, int] = {}
    for a in out:
        seen[a.number] = seen.get(a.number, 0) + 1
    dup = [n for n, c in seen.items() if c > 1]
    if dup:
        raise InvalidInput(f"{d}: agreement number {dup[0]!r} is recorded in more than one file")
    return sorted(out, key=lambda a: a.number)


def get_agreement(ws: Workspace, number: str) -> Agreement:
    for a in load_agreements(ws):
        if a.number == number:
            return a
    raise NotFound(f"no agreement numbered {number!r} (see `spbe-share mou list`)")


def document_status(ws: Workspace, a: Agreement) -> str | None:
    """``ok``, ``missing`` or ``modified`` for the stored document (None if there is none)."""
    if a.document is None:
        return None
    path = ws.agreements_dir / a.document.file
    if not path.is_file():
        return "missing"
    return "ok" if _sha256(path) == a.document.sha256 else "modified"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_OPTION_OF = {
    "number": "--number",
    "apps": "--app",
    "donor": "--donor",
    "donor.pemda": "--donor",
    "donor.kode_wilayah": "--donor-kode",
    "adopter": "--adopter",
    "adopter.pemda": "--adopter",
    "adopter.kode_wilayah": "--adopter-kode",
    "scope": "--scope",
    "signed": "--signed",
    "valid_until": "--valid-until",
    "signatories": "--signatory",
}


def _parse_date(value: str | dt.date, option: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from None


def parse_scope(values: Sequence[str], option: str = "--scope") -> list[Scope]:
    out: list[Scope] = []
    for raw in values:
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            try:
                s = Scope(part)
            except ValueError:
                allowed = ", ".join(s.value for s in Scope)
                raise InvalidInput(f"{option}: unknown scope {part!r} (allowed: {allowed})") from None
            if s not in out:
                out.append(s)
    if not out:
        raise InvalidInput(f"{option}: give at least one scope")
    return out


def build_agreement(
    *,
    number: str,
    apps: Sequence[str],
    donor: str,
    donor_kode: str,
    adopter: str,
    adopter_kode: str,
    scope: Sequence[str],
    signed: str | dt.date,
    valid_until: str | dt.date,
    signatories: Sequence[str] = (),
) -> Agreement:
    """Validate CLI-style values; errors name the option (``--adopter-kode: ...``)."""
    signed_d = _parse_date(signed, "--signed")
    until_d = _parse_date(valid_until, "--valid-until")
    if until_d <= signed_d:
        raise InvalidInput(f"--valid-until: {until_d} must be after --signed {signed_d}")
    scopes = parse_scope(scope)
    try:
        return Agreement.model_validate(
            {
                "number": number,
                "apps": list(dict.fromkeys(apps)),
                "donor": {"pemda": donor, "kode_wilayah": donor_kode},
                "adopter": {"pemda": adopter, "kode_wilayah": adopter_kode},
                "scope": scopes,
                "signed": signed_d,
                "valid_until": until_d,
                "signatories": list(signatories),
            }
        )
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
            key = ".".join(loc)
            opt = _OPTION_OF.get(key) or _OPTION_OF.get(loc[0] if loc else "", key or "(agreement)")
            msg = err["msg"]
            if "kode_wilayah" in key:
                msg = f"invalid kode wilayah {err.get('input')!r} (expected like 91, 96.71, 96.71.01)"
            problems.append(f"{opt}: {msg}")
        raise InvalidInput(problems[0], details=problems[1:]) from None


def add_agreement(
    ws: Workspace,
    agreement: Agreement,
    *,
    document: Path | None = None,
    replace: bool = False,
) -> Path:
    """Store ``agreement`` (and a copy of ``document``); returns the YAML file's path."""
    existing = {a.number: a for a in load_agreements(ws)}
    if agreement.number in existing and not replace:
        raise Conflict(f"agreement {agreement.number!r} is already recorded")
    if document is None and agreement.document is None and agreement.number in existing:
        # replacing the record without a new scan keeps the signed document already stored
        agreement = agreement.model_copy(update={"document": existing[agreement.number].document})
    target = ws.agreements_dir / file_name(agreement.number)
    if target.exists() and agreement.number not in existing:
        raise Conflict(f"{target} already holds another agreement; choose another number")
    ws.ensure()
    ws.agreements_dir.mkdir(parents=True, exist_ok=True)
    if document is not None:
        if not document.is_file():
            raise InvalidInput(f"--document: {document}: no such file")
        if not re.match(r"^\.[a-z0-9]{1,8}$", document.suffix.lower()):
            raise InvalidInput(f"--document: {document.name}: give the scan a usual extension (.pdf, .jpg, .png)")
        docs = ws.agreements_dir / "documents"
        docs.mkdir(exist_ok=True)
        rel = f"documents/{file_name(agreement.number)[:-4]}{document.suffix.lower()}"
        with atomic_file(ws.agreements_dir / rel, mode=0o600) as out, document.open("rb") as src:
            shutil.copyfileobj(src, out)
        digest = _sha256(ws.agreements_dir / rel)
        agreement = agreement.model_copy(
            update={"document": Document(file=rel, sha256=digest, original_name=document.name)}
        )
    text = f"# MoU/PKS {agreement.number} (spbe-share mou add)\n" + dump_yaml(_to_yaml_data(agreement))
    atomic_write_text(target, text, mode=0o600)
    return target


def require_agreement(
    ws: Workspace,
    *,
    app: str,
    adopter_kode_wilayah: str,
    scope: Scope | str,
    today: dt.date,
) -> Agreement:
    """The active agreement covering ``app`` for this adopter and ``scope`` on ``today``.

    Raises :class:`NoAgreement` with the precise reason: none for this app and adopter,
    expired, not yet valid, or scope not covered.
    """
    try:
        wanted = Scope(scope)
    except ValueError:
        raise InvalidInput(f"unknown scope {scope!r} (allowed: {', '.join(s.value for s in Scope)})") from None
    return choose_agreement(
        load_agreements(ws), app=app, adopter_kode_wilayah=adopter_kode_wilayah, scope=wanted, today=today
    )


def choose_agreement(
    agreements: Sequence[Agreement],
    *,
    app: str,
    adopter_kode_wilayah: str,
    scope: Scope,
    today: dt.date,
) -> Agreement:
    """The pure rule behind :func:`require_agreement`."""
    mine = [a for a in agreements if app in a.apps and a.adopter.kode_wilayah == adopter_kode_wilayah]
    if not mine:
        raise NoAgreement(
            f"no agreement (MoU/PKS) for app {app!r} and adopter kode wilayah {adopter_kode_wilayah}"
            " (record one with `spbe-share mou add`)"
        )
    ok = [a for a in mine if a.state_on(today) == "active" and a.covers(scope)]
    if ok:
        return max(ok, key=lambda a: (a.valid_until, a.number))
    active = [a for a in mine if a.state_on(today) == "active"]
    if active:
        a = active[0]
        have = ", ".join(s.value for s in a.scope)
        raise NoAgreement(f"agreement {a.number} does not cover scope {scope.value} (covers: {have})")
    future = [a for a in mine if a.state_on(today) == "future" and a.covers(scope)]
    if future:
        a = min(future, key=lambda a: a.signed)
        raise NoAgreement(f"agreement {a.number} valid only from {a.signed.isoformat()} (today is {today})")
    expired = [a for a in mine if a.state_on(today) == "expired"]
    if expired:
        a = max(expired, key=lambda a: a.valid_until)
        raise NoAgreement(f"agreement {a.number} expired on {a.valid_until.isoformat()}")
    a = mine[0]
    raise NoAgreement(f"agreement {a.number} does not cover scope {scope.value}")
