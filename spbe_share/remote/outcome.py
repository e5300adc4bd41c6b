"""What a finished playbook run means: its failure as the right error (lock held, host key
changed, unreachable, data without secrets, a task failed) and the data it published
(``set_stats``), validated by a strict model before the controller uses it (the target is not
trusted)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import (
    Conflict,
    HostKeyMismatch,
    InvalidInput,
    Locked,
    RemoteFailed,
    Unreachable,
)
from ..records import state
from .runner import RunResult

M = TypeVar("M", bound=BaseModel)


def raise_for_run(result: RunResult, target: str, what: str, *, app: str | None = None) -> None:
    """Turn a failed run into the right error (lock, host key, unreachable, remote failure)."""
    if result.ok:
        return
    log = f"(full log: {result.run_dir / 'artifacts' / 'run' / 'stdout'})"
    if result.failed_result.get("spbe_locked") is True:
        holder = result.failed_result.get("holder")
        h = holder if isinstance(holder, dict) else {}
        if result.failed_result.get("stale") is True:
            hint = (
                f"its lease ran out, so its holder is gone: `spbe-share unlock {app or 'APP'} --target {target}"
                " --reason TEXT` breaks it (recorded in the audit log)"
            )
        else:
            hint = "if that operation is really dead, its lease runs out and `spbe-share unlock` can break it"
        raise Locked(
            f"{target}: {result.failed_message}",
            details=[f"holder: {h.get('who')} pid {h.get('pid')} on {h.get('host')} since {h.get('since')}", hint],
        )
    if result.failed_result.get("spbe_refused") is True:
        raise InvalidInput(f"{target}: {result.failed_message}")
    if result.failed_result.get("spbe_data_without_secrets") is True:
        raise data_without_secrets(result, target, app=app)
    if result.host_key_failed:
        raise HostKeyMismatch(
            f"{target}: the host key does not match the pinned one; refusing to connect {log}",
            details=[result.unreachable_message or result.failed_message or ""],
        )
    if result.unreachable_message is not None:
        raise Unreachable(f"{target}: unreachable during {what}: {result.unreachable_message} {log}")
    raise RemoteFailed(f"{target}: {what} failed at task '{result.failed_task}': {result.failed_message} {log}")


def data_without_secrets(result: RunResult, target: str, *, app: str | None = None) -> Conflict:
    """The refusal of ``tasks/data_secrets.yml`` (install, upgrade, restore): the app's data
    exists on the target but its secrets do not, so nothing was started. Says how to go on."""
    found = result.failed_result
    app = str(app or found.get("app") or found.get("invocation", {}).get("module_args", {}).get("app") or "APP")
    if not state.SLUG.match(app):
        app = "APP"
    return Conflict(
        f"{target}: {result.failed_message}",
        details=[
            "to go on, either:",
            f"  put the data's secrets back from a backup (sealed to your key) and restore it: spbe-share restore"
            f" {app} BACKUP_ID --target {target}   (backups fetched to this workspace: spbe-share backup list {app}"
            f" --target {target})",
            f"  or start over without that data: spbe-share install {app} --target {target} --reset-data"
            " (it is archived on the target first, and you confirm)",
        ],
    )


def host_data(run: RunResult, *, target: str, key: str, model: type[M]) -> M:
    """``set_stats`` data ``key`` of ``target``, validated by ``model`` (RemoteFailed if invalid)."""
    data = run.stats.get(target, {}).get(key)
    if data is None:
        raise RemoteFailed(f"{target}: the playbook returned no {key} (see {run.run_dir})")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise RemoteFailed(
            f"{target}: the target returned invalid {key} data: {where}: {first['msg']}; nothing was used"
        ) from None


__all__ = ["M", "data_without_secrets", "host_data", "raise_for_run"]
