"""``spbe-share support-bundle``: what a donor needs to help an adopter, redacted and sealed.

Collected (each a file of the bundle):

- ``versions.json``: spbe-share's version, the serving release (version, bundle digest,
  signer, images, values), the controller's Python;
- ``deploy-spec.json``: the serving release's deploy spec (what runs, its config files);
- ``history.json``: every attempt the target recorded, the journal and the lock;
- ``last-failed-run.json`` and ``last-failed-run.log``: the newest failed run of this app on
  this target in the workspace (its failed tasks and the tail of its output);
- ``preflight.json``: the preflight checks of the app against the target now;
- ``containers.json``, ``logs/<component>.log``, ``host.json``: read on the target
  (``module_utils/spbe_support.py``): container states, their logs since ``--since``, OS,
  memory, load, disk use, the engine's version.

Redaction happens ON the target, for every file, the controller's ones included (they travel
in the request and come back redacted): the install's secret values (the target holds them;
they never reach the controller), then e-mail addresses, phone numbers and NIK, then the
entry's own ``support.redact`` rules. The target's answer is outside data: read with a cap,
bounded JSON, strict model, file names validated.

The bundle (:mod:`.supportfile`) is sealed to the donor's age key: ``--seal-to`` (a key or a
file), else the catalog entry's ``support.age_recipient``; without one it is refused unless
``--no-seal``. Reads only: nothing on the target changes; audited.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..errors import Conflict, InvalidInput, RemoteFailed, SpbeError
from ..outside import OutsideJSONError, loads_json, loads_model, run_capped
from ..records import state
from .bundles import catalog_entry
from .checks import checked_target, read_state, require_slug
from .context import OpContext
from .core import operation
from .history import history_rows
from .supportfile import FILE_NAME, Index, write_bundle

if TYPE_CHECKING:
    from ..workspace import Workspace

MAX_ANSWER = 64 << 20
MAX_DOC = 2 << 20
MAX_LOG_BYTES = 2 << 20
TIMEOUT_S = 300
MAX_RUNS_SCANNED = 300
MAX_EVENTS = 400
SINCE = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> int:
    """``30m``, ``24h``, ``7d`` -> seconds (a plain one-line error otherwise)."""
    m = SINCE.match(text.strip())
    if not m:
        raise InvalidInput(f"--since {text!r}: expected a number and a unit, e.g. 30m, 24h or 7d")
    return int(m.group(1)) * UNIT_S[m.group(2)]


# ---------------------------------------------------------------- the controller's part


def _status_of(run_dir: Path) -> str | None:
    for status in sorted((run_dir / "artifacts").glob("*/status"))[:5]:
        try:
            return status.read_text(encoding="utf-8", errors="replace")[:40].strip()
        except OSError:
            return None
    return None


def last_failed_run(ws: Workspace, *, target: str, app: str) -> Path | None:
    """The newest run folder of ``app`` on ``target`` whose playbook failed (None: none kept)."""
    if not ws.runs_dir.is_dir():
        return None
    suffix = f"-{target}-{app}"
    runs = sorted((p for p in ws.runs_dir.iterdir() if p.name.endswith(suffix) and p.is_dir()), reverse=True)
    for run in runs[:MAX_RUNS_SCANNED]:
        if _status_of(run) == "failed":
            return run
    return None


def run_events(run_dir: Path) -> dict[str, Any]:
    """What a failed run did: its tasks in order, each failed or unreachable result with its
    message (bounded), and the tail of its output."""
    events: list[dict[str, Any]] = []
    files = sorted((run_dir / "artifacts").glob("*/job_events/*.json"),
                   key=lambda p: int(p.name.split("-", 1)[0]) if p.name.split("-", 1)[0].isdigit() else 0)
    for path in files[-5000:]:
        try:
            raw = path.read_bytes()[:MAX_DOC]
            ev = loads_json(raw)
        except (OSError, OutsideJSONError):
            continue
        if not isinstance(ev, dict):
            continue
        kind = ev.get("event")
        data: dict[str, Any] = ev["event_data"] if isinstance(ev.get("event_data"), dict) else {}
        if kind == "playbook_on_task_start":
            events.append({"task": str(data.get("task", ""))[:300]})
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
            events.append({"event": kind, "task": str(data.get("task", ""))[:300], "host": str(data.get("host", ""))[:100],
                           "msg": str(res.get("msg", ""))[:4000], "stderr": str(res.get("stderr", ""))[-2000:]})
    stdout = ""
    for out in sorted((run_dir / "artifacts").glob("*/stdout"))[:1]:
        try:
            with out.open("rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - (256 << 10)))
                stdout = f.read().decode("utf-8", "replace")
        except OSError:
            stdout = ""
    return {"run": run_dir.name, "status": "failed", "events": events[-MAX_EVENTS:], "stdout_tail": stdout}


def _json(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, default=str)[:MAX_DOC]


# ---------------------------------------------------------------- the target's part


class SupportAnswer(BaseModel):
    """The target's answer (untrusted)."""

    model_config = ConfigDict(extra="forbid")
    files: dict[Annotated[str, Field(pattern=FILE_NAME)], Annotated[str, Field(max_length=8 << 20)]] = Field(
        max_length=150)
    redactions: int = Field(ge=0)


def collect_argv(ws: Workspace, target: Any) -> list[str]:
    from ..remote.scripts import program_argv

    return program_argv(ws, target, "spbe_support")


def collect_on_target(ws: Workspace, target: Any, request: dict[str, Any]) -> SupportAnswer:
    """Run ``spbe_support`` on the target (one SSH connection); its answer, validated."""
    try:
        proc = run_capped(collect_argv(ws, target), limit=MAX_ANSWER, timeout=TIMEOUT_S,
                          input=json.dumps(request).encode())
    except OSError as exc:
        raise RemoteFailed(f"{target.name}: collecting the support data could not start ({type(exc).__name__})"
                           ) from None
    if proc.timed_out:
        raise RemoteFailed(f"{target.name}: collecting the support data did not finish within {TIMEOUT_S}s")
    if proc.too_big:
        raise RemoteFailed(f"{target.name}: the support data is larger than {MAX_ANSWER} bytes; try a shorter --since")
    if proc.returncode != 0:
        last = proc.stderr_text.strip().splitlines()[-1:] or ["no message"]
        raise RemoteFailed(f"{target.name}: collecting the support data failed (exit {proc.returncode}): {last[0][:300]}")
    return loads_model(proc.stdout, SupportAnswer, where=f"{target.name}: the support data", error=RemoteFailed)


# ---------------------------------------------------------------- the operation


@dataclass
class SupportResult:
    out: Path
    index: Index

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), **self.index.model_dump(mode="json")}


def _recipients(ctx: OpContext, *, seal_to: Sequence[str], no_seal: bool, entry: Any) -> list[str]:
    from ..sealing import recipient_from

    if seal_to and no_seal:
        raise InvalidInput("--seal-to and --no-seal: choose one")
    if no_seal:
        return []
    if seal_to:
        return [recipient_from(v) for v in seal_to]
    if entry.support.age_recipient:
        return [entry.support.age_recipient]
    raise InvalidInput(f"no age key of the donor of {entry.id} is known (the entry has no support.age_recipient):"
                       " pass --seal-to age1...|FILE, or --no-seal to write it in clear")


def support_bundle(ctx: OpContext, *, app: str, target_name: str, out: Path, since_s: int = 86400,
                   seal_to: Sequence[str] = (), no_seal: bool = False) -> SupportResult:
    """Collect, redact on the target, seal and write the support bundle to ``out``. Audited."""
    with operation(ctx, name="support-bundle", app=app, target=target_name) as op:
        require_slug(app, what="app")
        if out.exists():
            raise Conflict(f"{out} exists: choose another --out (a support bundle is never overwritten)")
        entry = catalog_entry(ctx, app)
        recipients = _recipients(ctx, seal_to=seal_to, no_seal=no_seal, entry=entry)
        target = checked_target(ctx, target_name)
        st = read_state(ctx, target=target, app=app)
        current = st.current
        docs: dict[str, str] = {}
        docs["versions.json"] = _json({
            "spbe_share": __version__, "controller_python": platform.python_version(), "app": app,
            "target": target.name,
            "serving": None if current is None else {
                "version": current.version, "bundle_digest": current.bundle_digest, "signer": current.signer,
                "images": current.images, "values": current.values, "when": current.when, "result": current.result},
        })
        containers: list[dict[str, str]] = [
            {"container": state.container_name(target.name, app, c.name), "component": c.name} for c in entry.components]
        if current is not None and current.deploy:
            try:
                spec = st.deploy(current.deploy, what=f"{app} {current.version}")
                docs["deploy-spec.json"] = _json(spec.model_dump(mode="json"))
                containers = [{"container": c.name, "component": c.component} for c in spec.containers]
            except SpbeError as exc:
                docs["deploy-spec.json"] = _json({"error": exc.message})
        docs["history.json"] = _json({
            "attempts": history_rows(st),
            "journal": st.journal.as_data() if st.journal is not None else st.journal_problem,
            "lock": st.lock.describe() if st.lock else st.lock_problem,
        })
        failed = last_failed_run(ctx.ws, target=target.name, app=app)
        if failed is not None:
            events = run_events(failed)
            docs["last-failed-run.log"] = events.pop("stdout_tail")[-MAX_DOC:]
            docs["last-failed-run.json"] = _json(events)
        ctx.cancel.check()
        docs["preflight.json"] = _preflight(ctx, target=target, entry=entry)
        ctx.cancel.check()
        answer = collect_on_target(ctx.ws, target, {
            "app_dir": state.app_dir(target.root, app), "containers": containers, "since_s": since_s,
            "max_log_bytes": MAX_LOG_BYTES, "rules": [r.model_dump() for r in entry.support.redact], "docs": docs,
        })
        ctx.cancel.check()
        index = write_bundle(out, files={k: v.encode() for k, v in answer.files.items()}, meta={
            "app": app, "target": target.name, "created": state.iso(ctx.now), "created_by": ctx.operator,
            "since_s": since_s, "redactions": answer.redactions,
        }, sealed_to=recipients)
        op.note(out=str(out), sealed_to=recipients, files=len(index.files))
        return SupportResult(out=out, index=index)


def _preflight(ctx: OpContext, *, target: Any, entry: Any) -> str:
    from .preflight import run_preflight

    try:
        report = run_preflight(ctx.ws, target=target, entry=entry, progress=None, cancel=ctx.cancel)
    except SpbeError as exc:
        return _json({"error": exc.message})
    return _json(report.as_dict())


__all__ = ["SupportResult", "last_failed_run", "parse_since", "run_events", "support_bundle"]
