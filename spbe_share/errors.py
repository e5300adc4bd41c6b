"""One error hierarchy; the CLI maps each class to an exit code in one place.

Library code raises these; it never prints and never calls ``sys.exit``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (see README, "Exit codes")."""

    OK = 0
    INTERNAL = 1  # a bug: please report it
    INVALID_INPUT = 2  # bad file, bad option value, failed validation
    NOT_FOUND = 3  # unknown app, version, target, source, agreement
    NO_AGREEMENT = 4  # no active MoU/PKS covers the operation
    PREFLIGHT_FAILED = 5  # the target does not meet the app's requirements
    VERIFICATION_FAILED = 6  # bundle digest/signature, host key mismatch, template refused by the sandbox, changed agreement document
    LOCKED = 7  # another operation holds the lock on target+app
    REMOTE_FAILED = 8  # failed on the target, or the target answered with an invalid record
    CONFLICT = 9  # already exists (published version, target name, ...)
    UNREACHABLE = 10  # a source or target could not be reached
    ENVIRONMENT = 11  # a required local tool/service is missing (docker engine, ssh, ...)
    CANCELLED = 12  # interrupted (SIGINT/SIGTERM); the target was cleaned up (lock released, attempt recorded)
    ROLLED_BACK = 13  # an upgrade (or a `config set`) failed and was undone: the old release (settings) serves again
    FINDINGS = 14  # `audit --fail-on`: a finding at or above that severity, or an install that could not be audited


class SpbeError(Exception):
    """Base of every error the user can act on. ``str(err)`` is one line."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[str] = list(details or [])


class InvalidInput(SpbeError):
    exit_code = ExitCode.INVALID_INPUT


class ValidationFailed(InvalidInput):
    """Several ``file:line: field.path: message`` problems, all reported at once."""

    def __init__(self, problems: list[str], *, message: str | None = None) -> None:
        n = len(problems)
        super().__init__(message or f"{n} problem{'s' if n != 1 else ''} found", details=problems)
        self.problems = problems


class NotFound(SpbeError):
    exit_code = ExitCode.NOT_FOUND


class NoAgreement(SpbeError):
    exit_code = ExitCode.NO_AGREEMENT


class PreflightFailed(SpbeError):
    exit_code = ExitCode.PREFLIGHT_FAILED


class VerificationFailed(SpbeError):
    exit_code = ExitCode.VERIFICATION_FAILED


class HostKeyMismatch(VerificationFailed):
    pass


class Locked(SpbeError):
    exit_code = ExitCode.LOCKED


class RemoteFailed(SpbeError):
    exit_code = ExitCode.REMOTE_FAILED


class Conflict(SpbeError):
    exit_code = ExitCode.CONFLICT


class Unreachable(SpbeError):
    exit_code = ExitCode.UNREACHABLE


class EnvironmentProblem(SpbeError):
    exit_code = ExitCode.ENVIRONMENT


class Cancelled(SpbeError):
    """The operator interrupted the operation (SIGINT/SIGTERM); see ``remote/interrupts.py``."""

    exit_code = ExitCode.CANCELLED


class RolledBack(SpbeError):
    """An upgrade failed after the old release stopped; it was undone (data restored, old release
    healthy again) and recorded as ``rolled_back`` with its cause."""

    exit_code = ExitCode.ROLLED_BACK


class FindingsAbove(SpbeError):
    """``audit --fail-on SEVERITY`` found what it was asked to fail on."""

    exit_code = ExitCode.FINDINGS


class PartlyFailed(SpbeError):
    """An operation over several targets in which some failed; exits with the first failure's code."""

    def __init__(self, message: str, *, first: SpbeError, details: list[str] | None = None) -> None:
        super().__init__(message, details=details)
        self.first = first
        self.exit_code = first.exit_code
