"""The first login after an install, as the operator is told it: the account, the login page,
the command that reveals the first password (never the password), and the donor's
post-install message (pure).

The entry says it (``first_login``: the user and the secret holding its first password;
``post_install_message``: text per language). ``install`` prints the hint; ``spbe-share
credentials`` (:mod:`spbe_share.ops.credentials`) reveals the password on a terminal or seals it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..workspace import Workspace

PROGRAM = "spbe-share"


@dataclass(frozen=True)
class LoginHint:
    app: str
    target: str
    user: str | None  # None: the entry names no first login
    secret: str | None
    login_urls: list[str] = field(default_factory=list)
    message: dict[str, str] = field(default_factory=dict)  # language -> the donor's text (outside data)
    workspace: str | None = None  # given when it is not the one spbe-share finds by itself

    @property
    def command(self) -> list[str]:
        """The command that reveals the first password (an argument list)."""
        where = ["--workspace", self.workspace] if self.workspace else []
        return [PROGRAM, *where, "credentials", self.app, "--target", self.target]

    def message_in(self, language: str) -> str | None:
        return self.message.get(language) or self.message.get("id") or None

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "secret": self.secret, "login_urls": self.login_urls,
                "command": self.command if self.user else None, "message": self.message}


def login_urls(urls: Sequence[str], path: str | None) -> list[str]:
    """The app's URLs with the login page's path (``http://h:8080/`` + ``/login``)."""
    if not path:
        return list(urls)
    return [url.rstrip("/") + path for url in urls]


def explicit_workspace(ws: Workspace) -> str | None:
    """``ws``'s folder when a command must name it (``--workspace``): when it is not the one
    spbe-share uses without the option ($SPBE_SHARE_HOME, else the default; read here)."""
    from ..workspace import default_home

    return None if ws.home == default_home().resolve() else str(ws.home)


def login_hint(entry: Entry, *, target: str, urls: Sequence[str], workspace: str | None = None) -> LoginHint:
    login = entry.first_login
    message = entry.post_install_message.model_dump() if entry.post_install_message is not None else {}
    if login is None:
        return LoginHint(app=entry.id, target=target, user=None, secret=None, login_urls=list(urls), message=message,
                         workspace=workspace)
    return LoginHint(app=entry.id, target=target, user=login.user, secret=login.secret,
                     login_urls=login_urls(urls, login.path), message=message, workspace=workspace)


__all__ = ["PROGRAM", "LoginHint", "explicit_workspace", "login_hint", "login_urls"]
