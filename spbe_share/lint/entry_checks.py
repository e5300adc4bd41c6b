"""Checks of the entry's fields (spbe-app.yaml), some read against its install guide."""

from __future__ import annotations

import re

from ..catalog.assets import asset_problem
from ..catalog.publiccode.validator import grapheme_len
from .context import LintContext
from .findings import Finding

OFFICIAL_HOST = re.compile(r"(^|\.)go\.id$")
# a setting named like this names data the app keeps (a database, its file, a data folder)
DATA_NAME = re.compile(r"(^|_)(db|database|basis_data|schema|data_dir|datadir|bucket)(_|$)")
MAX_POST_INSTALL = 1000


def check_entry_fields(ctx: LintContext) -> list[Finding]:
    e = ctx.le.entry
    out: list[Finding] = []
    for i, c in enumerate(e.donor.contacts):
        loc = ("donor", "contacts", i)
        if not c.email and not (c.phone or "").strip():
            out.append(ctx.at("contact-unreachable", loc, f"contact {c.name!r} has neither email nor phone"))
        if not c.role:
            out.append(ctx.at("contact-no-role", loc, f"contact {c.name!r} has no role (e.g. pengelola aplikasi)"))
    for i, r in enumerate(e.releases):
        if not [x for x in r.changelog if x.strip()]:
            out.append(ctx.at("release-no-changelog", ("releases", i),
                              f"release {r.version} has no changelog lines"))  # fmt: skip
        for j, reg in enumerate(r.regulations):
            host = (reg.uri.host or "").lower()
            if reg.uri.scheme != "https" or not OFFICIAL_HOST.search(host):
                out.append(ctx.at(
                    "regulation-uri-unofficial", ("releases", i, "regulations", j, "uri"),
                    f"{reg.name[:60]!r} links to {reg.uri}; link the official text (https, a .go.id JDIH)",
                ))  # fmt: skip
    for lang in ("id", "en"):
        n = grapheme_len(" ".join(getattr(e.description, lang).split()))
        if n < 150:
            out.append(ctx.at("description-short", ("description", lang),
                              f"description.{lang} has {n} characters; write at least 150"))  # fmt: skip
        n = grapheme_len(" ".join(getattr(e.summary, lang).split()))
        if n > 150:
            out.append(ctx.at("summary-too-long", ("summary", lang),
                              f"summary.{lang} has {n} characters; publiccode.yml cuts it at 150"))  # fmt: skip
    if not [x for x in e.sharing.adopter_provides if x.strip()]:
        out.append(ctx.at("adopter-provides-empty", ("sharing", "adopter_provides"),
                          "sharing.adopter_provides is empty: say what the adopter Pemda must provide"))  # fmt: skip
    if not e.keywords:
        out.append(ctx.at("keywords-missing", ("keywords",), "no keywords: the catalog search finds less"))
    if not e.logo:
        out.append(ctx.at("logo-missing", ("id",), "no logo: the web catalog shows the app's initials"))
    else:
        ctx.files_read.append(ctx.le.entry_dir / e.logo)
        why = asset_problem(ctx.le.entry_dir, e.logo)
        if why:
            out.append(ctx.at("logo-unsafe", ("logo",), f"{e.logo}: {why}; the web catalog leaves it out"))
    for i, st in enumerate(e.settings):
        if not st.immutable and DATA_NAME.search(st.name):
            out.append(ctx.at("setting-data-mutable", ("settings", i),
                              f"setting {st.name!r} seems to name stored data; mark it immutable: true so"
                              " `config set` cannot point the app at an empty one"))  # fmt: skip
    for i, s in enumerate(e.secrets):
        if not (s.description or "").strip():
            out.append(ctx.at("secret-no-description", ("secrets", i),
                              f"secret {s.name} has no description"))  # fmt: skip
    if e.secrets and e.first_login is None:
        out.append(ctx.at("first-login-missing", ("secrets",),
                          "no first_login: after an install the adopter is not told which account to log in"
                          " with, nor how to read its first password"))  # fmt: skip
    if e.first_login is not None and e.first_login.state_path is None:
        out.append(ctx.at("first-login-unchecked", ("first_login",),
                          "first_login has no state_path: spbe-share status cannot tell whether the first"
                          " password is still in use"))  # fmt: skip
    elif e.first_login is not None and not any(c.health and c.health.type == "http" for c in e.components):
        out.append(ctx.at("first-login-state-unreachable", ("first_login", "state_path"),
                          "first_login.state_path is read on the address of an http health check, and no"
                          " component has one"))  # fmt: skip
    if e.post_install_message is not None:
        for lang in ("id", "en"):
            n = grapheme_len(getattr(e.post_install_message, lang))
            if n > MAX_POST_INSTALL:
                out.append(ctx.at("post-install-message-long", ("post_install_message", lang),
                                  f"post_install_message.{lang} has {n} characters; at most {MAX_POST_INSTALL}"
                                  " (it is printed after every install)"))  # fmt: skip
    backed = set(e.backup.volumes)
    for i, comp in enumerate(e.components):
        for j, v in enumerate(comp.volumes):
            if v.name not in backed:
                out.append(ctx.at("volume-not-backed-up", ("components", i, "volumes", j),
                                  f"volume {v.name!r} of component {comp.name!r} is not in backup.volumes"))  # fmt: skip
        if comp.health is None:
            out.append(ctx.at("component-no-health", ("components", i),
                              f"component {comp.name!r} has no health check"))  # fmt: skip
    out += _roles(ctx)
    out += _against_guides(ctx)
    return out


# The role a host has for keeping backup copies: it carries no component (issue 19, item 5).
BACKUP_ROLE = "backup"


def _roles(ctx: LintContext) -> list[Finding]:
    e = ctx.le.entry
    out: list[Finding] = []
    for i, r in enumerate(e.roles):
        if r.name != BACKUP_ROLE and not e.components_of(r.name):
            out.append(ctx.at("role-no-component", ("roles", i),
                              f"role {r.name!r} carries no component: a host would be prepared for nothing"))  # fmt: skip
        if r.recommended is None:
            out.append(ctx.at("role-no-recommended", ("roles", i),
                              f"role {r.name!r} has only a minimum: say what the adopter should prepare"
                              " (recommended)"))  # fmt: skip
    return out


def _against_guides(ctx: LintContext) -> list[Finding]:
    e = ctx.le.entry
    out: list[Finding] = []
    install = ctx.doc("install")
    change = ctx.doc("sop.manajemen_perubahan")
    if install.error is None:
        for i, s in enumerate(e.settings):
            if not re.search(rf"(?<![\w]){re.escape(s.name)}(?![\w])", install.text):
                out.append(ctx.at("setting-undocumented", ("settings", i),
                                  f"setting {s.name!r} is not mentioned in {install.ref.relpath}"))  # fmt: skip
        for i, role in enumerate(e.roles):
            if not re.search(rf"(?<![\w]){re.escape(role.name)}(?![\w])", install.text):
                out.append(ctx.at("role-undocumented", ("roles", i),
                                  f"role {role.name!r} is not mentioned in {install.ref.relpath}"))  # fmt: skip
    guides = install.text + "\n" + change.text
    for i, r in enumerate(e.releases):
        if r.migrates_data and r.version not in guides:
            out.append(ctx.at(
                "release-migration-undocumented", ("releases", i, "migrates_data"),
                f"release {r.version} migrates data but neither {install.ref.relpath} nor "
                f"{change.ref.relpath} mentions {r.version}",
            ))  # fmt: skip
    return out
