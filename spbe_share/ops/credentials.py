"""``spbe-share credentials``: the first login of an installed app, handed over safely.

The entry names the account (``first_login.user``) and the secret holding its first password
(``first_login.secret``). The value is read from the target over the pinned SSH connection by
the secrets helper (:func:`spbe_share.remote.secretsync.read_secrets`: stdin/stdout only, never
Ansible, never a file here), then either returned for the CLI to show on a terminal, or sealed
to a named officer's age public key (:mod:`spbe_share.sealing`) and written to a new file.
Either way one audit line says who revealed which account's password of which app where, and
how (terminal, or sealed to whom) -- never the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from ..plans.login import LoginHint, login_hint
from .backups import catalog_entry
from .checks import checked_target, require_slug
from .context import OpContext
from .core import operation


@dataclass
class Credentials:
    """The first login (the password: memory only; never logged or printed by accident)."""

    hint: LoginHint
    password: str | None = field(default=None, repr=False)
    sealed_to: str | None = None
    sealed_file: Path | None = None

    def as_dict(self) -> dict[str, Any]:  # no value in it
        return {**self.hint.as_dict(), "sealed_to": self.sealed_to,
                "sealed_file": str(self.sealed_file) if self.sealed_file else None}


def hint_for(ctx: OpContext, *, app: str, target_name: str) -> LoginHint:
    """The first-login hint of ``app`` on ``target_name`` (from the catalog entry and the
    URLs this workspace last recorded there); nothing contacted."""
    from ..records.state import load_cached

    require_slug(app, what="app")
    entry = catalog_entry(ctx, app)
    urls = next((r.urls for r in load_cached(ctx.ws, target_name) if r.app == app), [])
    return login_hint(entry, target=target_name, urls=urls)


def reveal(ctx: OpContext, *, app: str, target_name: str, seal_to: Path | None = None,
           out: Path | None = None) -> Credentials:
    """Read the first password of ``app`` on ``target_name``. With ``seal_to`` (an age public
    key file) it is sealed to that key and written to ``out`` (new file) instead of returned."""
    from ..remote.secretsync import read_secrets
    from ..sealing import read_recipient, seal, write_sealed

    how = "sealed" if seal_to is not None else "terminal"
    with operation(ctx, name="credentials", app=app, target=target_name) as op:
        op.note(shown=how)
        hint = hint_for(ctx, app=app, target_name=target_name)
        if hint.user is None or hint.secret is None:
            raise NotFound(f"the catalog entry of {app} names no first login (first_login); see its install guide")
        op.note(user=hint.user, secret=hint.secret)
        recipient = None
        if seal_to is not None:
            if out is None:
                raise InvalidInput("--seal-to needs --out FILE (where the sealed credentials go)")
            if out.exists() or out.is_symlink():
                raise InvalidInput(f"--out {out}: exists already; choose another file")
            recipient = read_recipient(seal_to)
            op.note(sealed_to=recipient, out=str(out))
        target = checked_target(ctx, target_name)
        found = read_secrets(ctx.ws, target, app=app, names=[hint.secret])
        value = found.values.get(hint.secret)
        if value is None:
            raise NotFound(f"{target.name}: {app} has no secret {hint.secret} (is it installed there?)")
        op.started = True
        if recipient is None:
            return Credentials(hint=hint, password=value)
        assert out is not None  # noqa: S101 - checked above
        sealed = seal(app=app, target=target.name, values={hint.secret: value}, to=[recipient], now=ctx.now)
        write_sealed(out, sealed.data)
        return Credentials(hint=hint, sealed_to=recipient, sealed_file=out)


__all__ = ["Credentials", "hint_for", "reveal"]
