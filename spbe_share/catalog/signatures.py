"""Git's SSH signatures on a catalog source: is this commit (or a tag on it) signed by a donor key?

A source added with ``--allowed-signers FILE`` (OpenSSH's allowed-signers format, as
``git config gpg.ssh.allowedSignersFile`` reads it: ``principal [options] ssh-ed25519 AAAA...``)
is only pinned to commits that ``git verify-commit`` accepts, or that carry a tag ``git
verify-tag`` accepts, with that file. Commands are argument lists from the pure builders below
(no shell); commits are full hex ids and tags full ``refs/tags/...`` names, so nothing from the
repository is ever read as an option.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentProblem, InvalidInput, VerificationFailed

COMMIT_RE = r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$"
TIMEOUT = 60
MAX_SIGNERS_BYTES = 256 * 1024


def git_base(repo: Path, allowed_signers: Path) -> list[str]:
    return ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}"]


def verify_commit_argv(repo: Path, allowed_signers: Path, commit: str) -> list[str]:
    return [*git_base(repo, allowed_signers), "verify-commit", _commit(commit)]


def verify_tag_argv(repo: Path, allowed_signers: Path, tag_ref: str) -> list[str]:
    if not tag_ref.startswith("refs/tags/"):
        raise InvalidInput(f"not a full tag name: {tag_ref!r}")
    return [*git_base(repo, allowed_signers), "verify-tag", tag_ref]


def tags_at_argv(repo: Path, commit: str) -> list[str]:
    return ["git", "-C", str(repo), "for-each-ref", "--points-at", _commit(commit), "--format=%(refname)", "refs/tags/"]


def log_argv(repo: Path, old: str, new: str, *, limit: int = 20) -> list[str]:
    span = f"{_commit(old)}..{_commit(new)}"
    return ["git", "-C", str(repo), "log", "--oneline", "--no-decorate", f"--max-count={limit}", span]


def _commit(commit: str) -> str:
    if not re.match(COMMIT_RE, commit):
        raise InvalidInput(f"not a full commit id: {commit!r}")
    return commit


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - argv list, no shell
            argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"},
        )  # fmt: skip
    except FileNotFoundError:
        raise EnvironmentProblem("git is not installed (Debian: apt-get install git)") from None


def check_allowed_signers(path: Path) -> str:
    """The text of an allowed-signers file, refused (exit 2) unless it names at least one key."""
    from ..yamlio import read_bounded

    try:
        raw = read_bounded(path, limit=MAX_SIGNERS_BYTES)
    except InvalidInput as exc:
        raise InvalidInput(f"--allowed-signers: {exc.message}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}:1: (file): not valid UTF-8") from None
    keys = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not re.search(r"(^|\s)(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+|sk-\S+)\s+[A-Za-z0-9+/]+=*(\s|$)", line):
            raise InvalidInput(f"{path}:{n}: (file): expected 'principal [options] ssh-ed25519 AAAA...'")
        keys += 1
    if not keys:
        raise InvalidInput(f"{path}: --allowed-signers: no key in the file")
    return text


@dataclass(frozen=True)
class Signed:
    what: str  # "commit <id>" or "tag refs/tags/..."
    signer: str  # the principal of the allowed-signers file

    def describe(self) -> str:
        return f"{self.what} signed by {self.signer}"


def _principal(output: str) -> str:
    m = re.search(r'Good "git" signature for (\S+) with', output)
    return m.group(1) if m else "an allowed key"


def require_signed(repo: Path, allowed_signers: Path, commit: str, *, source: str) -> Signed:
    """``commit`` is signed, or carries a signed tag, by a key of ``allowed_signers``; else
    :class:`VerificationFailed` (exit 6) saying what git found."""
    proc = _run(verify_commit_argv(repo, allowed_signers, commit))
    if proc.returncode == 0:
        return Signed(f"commit {commit[:12]}", _principal(proc.stderr + proc.stdout))
    why = _last(proc.stderr) or "no signature"
    tags = _run(tags_at_argv(repo, commit))
    for ref in tags.stdout.split() if tags.returncode == 0 else []:
        t = _run(verify_tag_argv(repo, allowed_signers, ref))
        if t.returncode == 0:
            return Signed(f"tag {ref}", _principal(t.stderr + t.stdout))
    if "No principal matched" in proc.stderr:
        why = "signed by a key that is not in the allowed signers"
    elif "no signature" in proc.stderr.lower() or not proc.stderr.strip():
        why = "not signed"
    raise VerificationFailed(
        f"catalog source {source!r}: commit {commit[:12]} is {why} (checked against {allowed_signers},"
        " also the tags on it); the pin does not move"
    )


def short_log(repo: Path, old: str, new: str, *, limit: int = 20) -> list[str]:
    """``git log --oneline old..new`` (at most ``limit`` lines; empty if git cannot say)."""
    proc = _run(log_argv(repo, old, new, limit=limit))
    return [ln for ln in proc.stdout.splitlines() if ln.strip()] if proc.returncode == 0 else []


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
