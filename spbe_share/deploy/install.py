"""``spbe-share install``: check everything locally and read-only, then install over SSH.

Order (nothing changes on the target before every check passed):

1. target resolved, its host key compared with the pinned one;
2. agreement (MoU/PKS) covering app, adopter and scope ``install`` today, when the entry's
   ``sharing.mou_required`` says so (the built-in ``local`` target is a sandbox: exempt, said);
3. values checked against the entry's settings;
4. bundle: the one given, else the cached one in ``ws.bundles_dir``, else built and signed with
   the workspace key; then verified against the trusted keys and extracted (cache keyed by the
   manifest's digest); the entry INSIDE the verified bundle is what gets installed;
5. config templates rendered (jinja2, StrictUndefined) locally;
6. preflight on the target (read-only);
7. the blobs the target lacks shipped as one resumable stream, verified there (``ship.py``;
   content-addressed, so before the lock, while the old release still serves);
8. ``playbooks/install.yml``: lock, check blobs, load images, config, secrets, network,
   volumes, containers, health, release record, unlock (also on failure).

Every outcome, refusals included, is one line in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..catalog.models import Component, Entry
from ..errors import InvalidInput, Locked, NotFound, SpbeError, VerificationFailed
from . import state
from .state import HealthSpec, ReleaseRecord
from .values import ResolvedValues, resolve_values, secret_specs, template_variables

if TYPE_CHECKING:
    from ..bundle.manifest import BundleManifest
    from ..targets import Target
    from ..workspace import Workspace
    from .preflight import PreflightReport
    from .runner import ProgressCallback, RunResult

Say = Callable[[str], None]

PHASES = ("Lock", "Ship", "Load", "Configure", "Start", "Health", "Record")


# ---------------------------------------------------------------- pure builders


def start_order(components: Sequence[Component]) -> list[Component]:
    """Components sorted so each comes after what it depends on (stable otherwise)."""
    by_name = {c.name: c for c in components}
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise InvalidInput(f"components depend on each other in a cycle through {name!r}")
        visiting.add(name)
        for dep in by_name[name].depends_on:
            visit(dep)
        visiting.discard(name)
        done.append(name)

    for c in components:
        visit(c.name)
    return [by_name[n] for n in done]


def config_file_name(index: int, path: str) -> str:
    return f"{index}-{PurePosixPath(path).name}"


def labels_for(app: str, version: str, target: str) -> dict[str, str]:
    return {"id.go.spbe.app": app, "id.go.spbe.version": version, "id.go.spbe.target": target}


def container_specs(
    entry: Entry,
    *,
    version: str,
    target: str,
    root: str,
    bind_address: str,
) -> list[dict[str, Any]]:
    """The ``docker_container`` parameters of every component, in start order (pure)."""
    app = entry.id
    adir = state.app_dir(root, app)
    out = []
    for c in start_order(entry.components):
        mounts: list[dict[str, Any]] = []
        for name in c.secrets:
            mounts.append(
                {
                    "type": "bind",
                    "source": f"{adir}/secrets/{c.name}/{name}",
                    "target": f"/run/secrets/{name}",
                    "read_only": True,
                }
            )
        for i, cf in enumerate(c.config):
            mounts.append(
                {
                    "type": "bind",
                    "source": f"{adir}/config/{c.name}/{config_file_name(i, cf.path)}",
                    "target": cf.path,
                    "read_only": True,
                }
            )
        for v in c.volumes:
            mounts.append({"type": "volume", "source": state.volume_name(target, app, v.name), "target": v.path})
        labels: dict[str, str] = {**labels_for(app, version, target), "id.go.spbe.component": c.name}
        out.append(
            {
                "name": state.container_name(target, app, c.name),
                "component": c.name,
                "image": f"{c.image}:{version}",
                "command": list(c.command) if c.command else [],
                "env": dict(c.env),
                "ports": [f"{bind_address}:{p.host_port}:{p.container}/{p.protocol}" for p in c.ports],
                "mounts": mounts,
                "labels": labels,
            }
        )
    return out


def health_specs(entry: Entry, *, target: str, bind_address: str) -> list[HealthSpec]:
    out: list[HealthSpec] = []
    for c in start_order(entry.components):
        h = c.health
        if h is None:
            continue
        name = state.container_name(target, entry.id, c.name)
        retries = max(1, h.timeout_s // h.interval_s)
        if h.type == "http":
            published = next((p.host_port for p in c.ports if p.container == h.port and p.protocol == "tcp"), None)
            url = f"http://{url_host(bind_address)}:{published}{h.path}" if published else None
            out.append(
                HealthSpec(
                    component=c.name, container=name, type="http", url=url, port=h.port, path=h.path,
                    retries=retries, delay=h.interval_s,
                )
            )
        else:
            out.append(
                HealthSpec(
                    component=c.name, container=name, type="command", command=list(h.command),
                    retries=retries, delay=h.interval_s,
                )
            )
    return out


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def app_urls(entry: Entry, *, bind_address: str) -> list[str]:
    return [
        f"http://{url_host(bind_address)}:{p.host_port}/"
        for c in entry.components
        for p in c.ports
        if p.protocol == "tcp"
    ]


def render_configs(entry: Entry, *, template_root: Path, variables: dict[str, str]) -> list[dict[str, Any]]:
    """Render every ``components[].config[]`` template with jinja2 (StrictUndefined)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - config files, not HTML
    )
    out = []
    for c in entry.components:
        for i, cf in enumerate(c.config):
            try:
                content = env.get_template(cf.template).render(**variables)
            except jinja2.TemplateNotFound:
                raise NotFound(f"{cf.template}: template not found in the bundle") from None
            except jinja2.UndefinedError as exc:
                raise InvalidInput(f"{cf.template}: {exc.message} (components {c.name} config {cf.path})") from None
            except jinja2.TemplateError as exc:
                line = getattr(exc, "lineno", None)
                raise InvalidInput(f"{cf.template}:{line or 1}: template error: {exc}") from None
            out.append({"component": c.name, "file": config_file_name(i, cf.path), "content": content})
    return out


# ---------------------------------------------------------------- image users (secrets' owners)


def _parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out[parts[0]] = (int(parts[2]), int(parts[3]))
    return out


def _parse_group(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            out[parts[0]] = int(parts[2])
    return out


def _layer_file(blob_dir: Path, layers: Sequence[str], name: str) -> str | None:
    """``name`` (e.g. etc/passwd) as seen in the image: the top-most layer that has it."""
    from ..bundle import dockerarchive as da

    for digest in reversed(layers):
        path = da.find_blob(blob_dir, digest.split(":", 1)[1])
        if path is None:
            continue
        try:
            with da.open_blob(path) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
                for member in tar:
                    if member.name in (name, "./" + name) and member.isreg():
                        f = tar.extractfile(member)
                        if f is not None:
                            return f.read().decode("utf-8", "replace")
        except (OSError, tarfile.TarError, da.ArchiveError):
            continue
    return None


def resolve_user(spec: str, *, passwd: Callable[[], str | None], group: Callable[[], str | None]) -> tuple[int, int]:
    """``USER`` of an image config -> (uid, gid). Empty = root. Names via the image's files."""
    spec = spec.strip()
    if not spec:
        return 0, 0
    user, _, grp = spec.partition(":")
    users: dict[str, tuple[int, int]] | None = None
    if user.isdigit():
        uid, gid = int(user), int(user)
        if not grp:
            users = _parse_passwd(passwd() or "")
            gid = next((g for (u, g) in users.values() if u == uid), uid)
    else:
        users = _parse_passwd(passwd() or "")
        if user not in users:
            raise InvalidInput(f"image user {user!r} is not in the image's /etc/passwd")
        uid, gid = users[user]
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            groups = _parse_group(group() or "")
            if grp not in groups:
                raise InvalidInput(f"image group {grp!r} is not in the image's /etc/group")
            gid = groups[grp]
    return uid, gid


def image_user(blob_dir: Path, config: str, layers: Sequence[str]) -> tuple[int, int]:
    from ..bundle import dockerarchive as da

    path = da.find_blob(blob_dir, config.split(":", 1)[1])
    if path is None:
        raise VerificationFailed(f"bundle cache {blob_dir} lacks the image config {config}")
    with da.open_blob(path) as f:
        doc = json.loads(f.read(1 << 20))
    spec = str((doc.get("config") or {}).get("User") or "")
    return resolve_user(
        spec,
        passwd=lambda: _layer_file(blob_dir, layers, "etc/passwd"),
        group=lambda: _layer_file(blob_dir, layers, "etc/group"),
    )


def secret_mounts(entry: Entry, users: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    for c in entry.components:
        uid, gid = users.get(c.name, (0, 0))
        for name in c.secrets:
            out.append({"component": c.name, "name": name, "owner": uid, "group": gid})
    return out


# ---------------------------------------------------------------- bundle handling


def manifest_digest(manifest: BundleManifest) -> str:
    return "sha256:" + hashlib.sha256(manifest.to_bytes()).hexdigest()


def ensure_signing_key(ws: Workspace, say: Say) -> Any:
    """The workspace's donor key; created (and trusted) when the workspace has none."""
    from ..bundle import keys

    own = keys.own_public_keys(ws)
    if own:
        name = keys.DEFAULT_KEY_NAME if keys.DEFAULT_KEY_NAME in own else sorted(own)[0]
        return keys.load_private_key(ws, name, passphrase=keys.passphrase_from_env())
    info = keys.generate_key(ws)
    say(
        f"note: created a signing key for this workspace: {info.name} ({info.key_id}, {info.fingerprint}),"
        f" trusted for bundles it signs; private key {info.path}"
    )
    return keys.load_private_key(ws, info.name)


def locate_bundle(
    ws: Workspace,
    *,
    app: str,
    version: str | None,
    bundle: Path | None,
    say: Say,
) -> Path:
    """The bundle file to install: given, cached, or built now from the catalog."""
    if bundle is not None:
        return bundle
    from ..catalog.loader import get_entry

    loaded = get_entry(ws, app)
    version = version or loaded.entry.latest.version
    try:
        loaded.entry.release(version)
    except KeyError:
        known = ", ".join(r.version for r in loaded.entry.releases)
        raise NotFound(f"app {app!r} has no release {version!r} (releases: {known})") from None
    from ..bundle.pack import build_bundle, bundle_filename

    cached = ws.bundles_dir / bundle_filename(app, version)
    if cached.exists():
        say(f"using bundle {cached}")
        return cached
    key = ensure_signing_key(ws, say)
    say(f"building bundle {cached.name} (images built when missing)")
    built = build_bundle(ws, loaded, version=version, key=key, progress=say)
    return built.path


def verified_bundle_dir(ws: Workspace, path: Path) -> tuple[BundleManifest, Path]:
    """Verify ``path`` against the trusted keys and extract it, in ONE read of the file.

    The extracted folder is ``cache/bundles/<sha256 of the verified manifest>``; an existing one
    is re-checked against the verified manifest before it is reused (see ``open_bundle``).
    """
    from ..bundle.keys import trusted_keys
    from ..bundle.verify import open_bundle

    trusted = trusted_keys(ws)
    if not trusted:
        raise VerificationFailed(
            f"no trusted donor keys in {ws.keys_dir / 'trusted'}: trust the donor's public key first"
            " (spbe-share keys trust FILE)"
        )
    return open_bundle(path, ws.cache_dir / "bundles", trusted_keys=trusted)


FILES_TAR = "spbe-files.tar"


def files_tar(dest: Path) -> str:
    """One deterministic tar of the bundle's small files (shipped as one file, not dozens)."""
    out = dest / FILES_TAR
    if out.is_file():
        return FILES_TAR
    paths: list[Path] = []
    for part in ("entry", "templates", "playbooks"):
        if (dest / part).is_dir():
            paths += [p for p in (dest / part).rglob("*") if p.is_file()]
    paths += [dest / p for p in ("spbe-bundle.json", "spbe-bundle.json.sig") if (dest / p).is_file()]
    tmp = out.with_suffix(".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(paths):
            info = tarfile.TarInfo(str(p.relative_to(dest)))
            info.size = p.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with p.open("rb") as f:
                tar.addfile(info, f)
    tmp.replace(out)
    return FILES_TAR


# ---------------------------------------------------------------- the operation


@dataclass
class Plan:
    """Everything decided before the target is touched."""

    target: Target
    entry: Entry
    manifest: BundleManifest
    bundle_path: Path
    bundle_dir: Path
    digest: str
    values: ResolvedValues
    extravars: dict[str, Any]
    urls: list[str]
    agreement: str | None
    preflight: PreflightReport | None = None


@dataclass
class InstallResult:
    app: str
    version: str
    target: str
    changed: bool  # something changed on the target (blobs shipped, or the playbook changed something)
    new_release: bool
    urls: list[str]
    blobs_sent: int
    bytes_sent: int
    blobs_total: int
    bytes_total: int
    run_dir: Path
    seconds: float
    phase_seconds: dict[str, float] = field(default_factory=dict)
    record: ReleaseRecord | None = None
    changed_tasks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "version": self.version,
            "target": self.target,
            "changed": self.changed,
            "new_release": self.new_release,
            "urls": self.urls,
            "blobs_sent": self.blobs_sent,
            "bytes_sent": self.bytes_sent,
            "blobs_total": self.blobs_total,
            "bytes_total": self.bytes_total,
            "run_dir": str(self.run_dir),
            "seconds": round(self.seconds, 2),
            "phase_seconds": {k: round(v, 2) for k, v in self.phase_seconds.items()},
            "changed_tasks": self.changed_tasks,
        }


def build_extravars(
    *,
    target: Target,
    entry: Entry,
    manifest: BundleManifest,
    digest: str,
    bundle_dir: Path,
    values: ResolvedValues,
    configs: list[dict[str, Any]],
    users: dict[str, tuple[int, int]],
    who: str,
    now: dt.datetime,
    lock_owner: state.LockOwner,
    break_lock: bool,
    dockerarchive: Path,
) -> dict[str, Any]:
    """The variables of ``install.yml`` (pure: data in, data out)."""
    version = manifest.version
    health = health_specs(entry, target=target.name, bind_address=target.bind_address)
    containers = container_specs(
        entry, version=version, target=target.name, root=target.root, bind_address=target.bind_address
    )
    urls = app_urls(entry, bind_address=target.bind_address)
    release = ReleaseRecord(
        app=entry.id,
        version=version,
        target=target.name,
        pemda=target.pemda,
        kode_wilayah=target.kode_wilayah,
        bundle_digest=digest,
        signer=manifest.signer,
        values=values.as_dict(),
        images={img.component: img.config for img in manifest.images},
        containers=[c["name"] for c in containers],
        urls=urls,
        health=health,
        who=who,
        when=state.iso(now),
    )
    volumes = sorted({state.volume_name(target.name, entry.id, v.name) for c in entry.components for v in c.volumes})
    return {
        "spbe_target": target.name,
        "spbe_root": target.root,
        "spbe_bind_address": target.bind_address,
        "spbe_app": entry.id,
        "spbe_version": version,
        "spbe_stamp": state.stamp(now),
        "spbe_local_bundle_dir": str(bundle_dir),
        "spbe_dockerarchive": str(dockerarchive),
        "spbe_files_tar": files_tar(bundle_dir),
        "spbe_blobs": sorted({d.split(":", 1)[1] for img in manifest.images for d in [img.config, *img.layers]}),
        "spbe_images": [
            {
                "component": i.component, "ref": i.ref, "config": i.config, "layers": list(i.layers),
                "sizes": {d: manifest.blob(d).size for d in i.blob_digests},
            }
            for i in manifest.images
        ],
        "spbe_configs": configs,
        "spbe_secrets": [{"name": s.name, "length": s.length} for s in secret_specs(entry)],
        "spbe_secret_mounts": secret_mounts(entry, users),
        "spbe_network": state.network_name(target.name, entry.id),
        "spbe_volumes": [{"name": v} for v in volumes],
        "spbe_labels": labels_for(entry.id, version, target.name),
        "spbe_containers": containers,
        "spbe_health": [h.model_dump(mode="json") for h in health],
        "spbe_release": release.model_dump(mode="json"),
        "spbe_lock_owner": lock_owner.model_dump(mode="json"),
        "spbe_break_lock": break_lock,
    }


def _check_agreement(ws: Workspace, target: Target, entry: Entry, today: dt.date, say: Say) -> str | None:
    from ..agreements import require_agreement

    if target.connection == "local":
        say(
            "note: target 'local' is this machine, a developer sandbox: no MoU/PKS is checked."
            " Installing into a Pemda data center always needs one (spbe-share mou add)."
        )
        return "exempt: local sandbox"
    if not entry.sharing.mou_required:
        say(f"note: {entry.id} does not require an MoU/PKS (sharing.mou_required: false)")
        return "not required by the entry"
    agreement = require_agreement(
        ws, app=entry.id, adopter_kode_wilayah=target.kode_wilayah, scope="install", today=today
    )
    return agreement.number


def plan_install(
    ws: Workspace,
    *,
    app: str,
    target_name: str,
    version: str | None = None,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    bundle: Path | None = None,
    break_lock: bool = False,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    say: Say = lambda _m: None,
    progress: ProgressCallback | None = None,
    run_preflight_check: bool = True,
) -> Plan:
    """Every check of an install; touches the target only to read (host key, preflight)."""
    from ..audit import operator
    from ..bundle import dockerarchive
    from ..targets import check_host_key, get_target
    from .preflight import require_ok, run_preflight

    now = now or dt.datetime.now(dt.UTC)
    today = today or now.date()
    target = get_target(ws, target_name)
    check_host_key(ws, target)

    entry_for_checks: Entry | None = None
    agreement: str | None = None
    if bundle is None:
        from ..catalog.loader import get_entry

        entry_for_checks = get_entry(ws, app).entry
        agreement = _check_agreement(ws, target, entry_for_checks, today, say)
        resolve_values(entry_for_checks, sets=sets, values_file=values_file)

    path = locate_bundle(ws, app=app, version=version, bundle=bundle, say=say)
    manifest, bundle_dir = verified_bundle_dir(ws, path)
    say(f"bundle verified: {manifest.app} {manifest.version}, signed by {manifest.signer}")
    if manifest.app != app:
        raise InvalidInput(f"bundle {path} holds app {manifest.app!r}, not {app!r}")
    if version is not None and manifest.version != version:
        raise InvalidInput(f"bundle {path} holds version {manifest.version}, not {version}")
    from ..catalog.models import Entry as EntryModel
    from ..yamlio import load_model

    entry = load_model(EntryModel, bundle_dir / "entry" / "spbe-app.yaml")
    if entry_for_checks is None:
        agreement = _check_agreement(ws, target, entry, today, say)
    values = resolve_values(entry, sets=sets, values_file=values_file)
    variables = template_variables(
        values,
        app=entry.id,
        version=manifest.version,
        target=target.name,
        pemda=target.pemda,
        kode_wilayah=target.kode_wilayah,
    )
    configs = render_configs(entry, template_root=bundle_dir, variables=variables)
    blob_dir = bundle_dir / "blobs" / "sha256"
    users = {}
    needs_user = {c.name for c in entry.components if c.secrets}
    for img in manifest.images:
        if img.component in needs_user:
            users[img.component] = image_user(blob_dir, img.config, img.layers)

    report = None
    if run_preflight_check:
        report = run_preflight(ws, target=target, entry=entry, progress=progress)
        require_ok(report)

    who = operator()
    owner = state.new_lock_owner(who=who, operation=f"install {entry.id} {manifest.version}", now=now)
    extravars = build_extravars(
        target=target,
        entry=entry,
        manifest=manifest,
        digest=manifest_digest(manifest),
        bundle_dir=bundle_dir,
        values=values,
        configs=configs,
        users=users,
        who=who,
        now=now,
        lock_owner=owner,
        break_lock=break_lock,
        dockerarchive=Path(dockerarchive.__file__),
    )
    return Plan(
        target=target,
        entry=entry,
        manifest=manifest,
        bundle_path=path,
        bundle_dir=bundle_dir,
        digest=manifest_digest(manifest),
        values=values,
        extravars=extravars,
        urls=app_urls(entry, bind_address=target.bind_address),
        agreement=agreement,
        preflight=report,
    )


def phase_seconds(result: RunResult) -> dict[str, float]:
    out: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    for t in result.timings:
        phase = t.name.split(":", 1)[0].strip()
        if phase in out:
            out[phase] += t.seconds
    return out


def _raise_install_failure(result: RunResult, target: str) -> None:
    from .preflight import raise_for_run

    if result.failed_result.get("spbe_locked"):
        holder = result.failed_result.get("holder") or {}
        raise Locked(
            f"{target}: {result.failed_message}",
            details=[
                f"holder: {holder.get('who')} pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}",
                "if that operation is really dead, rerun with --break-lock (recorded in the audit log)",
            ],
        )
    raise_for_run(result, target, "install")


def execute(ws: Workspace, plan: Plan, *, progress: ProgressCallback | None = None) -> InstallResult:
    """Ship the blobs the target lacks (no lock needed: content-addressed), then run
    ``install.yml`` with a prepared plan."""
    from .runner import run_playbook
    from .ship import env_bwlimit, ship_bundle

    shipped = ship_bundle(ws, plan.target, plan.manifest, plan.bundle_dir, bwlimit=env_bwlimit())
    result = run_playbook(
        ws,
        op="install",
        target=plan.target.name,
        app=plan.entry.id,
        playbook="install.yml",
        targets=[plan.target],
        extravars=plan.extravars,
        progress=progress,
    )
    if not result.ok:
        _raise_install_failure(result, plan.target.name)
    info = result.stats.get(plan.target.name, {}).get("spbe_install") or {}
    sizes = {f.sha256: f.member_size for f in plan.manifest.blobs}
    phases = phase_seconds(result)
    phases["Ship"] = phases.get("Ship", 0.0) + shipped.seconds
    record = state.parse_record(info.get("current"))
    if record is not None:
        state.save_cached(ws, record)
    return InstallResult(
        app=plan.entry.id,
        version=plan.manifest.version,
        target=plan.target.name,
        changed=result.changed > 0 or bool(shipped.sent),
        new_release=bool(info.get("new_release")),
        urls=plan.urls,
        blobs_sent=len(shipped.sent),
        bytes_sent=shipped.bytes_sent,
        blobs_total=len(sizes),
        bytes_total=sum(sizes.values()),
        run_dir=result.run_dir,
        seconds=result.seconds + shipped.seconds,
        phase_seconds=phases,
        record=record,
        changed_tasks=result.changed_tasks,
    )


def install(
    ws: Workspace,
    *,
    app: str,
    target_name: str,
    version: str | None = None,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    bundle: Path | None = None,
    break_lock: bool = False,
    today: dt.date | None = None,
    say: Say = lambda _m: None,
    progress: ProgressCallback | None = None,
) -> InstallResult:
    """Check, then install ``app`` on ``target_name``. Audited, refusals included."""
    from ..audit import record

    ws.ensure()
    where = target_name
    try:
        plan = plan_install(
            ws,
            app=app,
            target_name=target_name,
            version=version,
            sets=sets,
            values_file=values_file,
            bundle=bundle,
            break_lock=break_lock,
            today=today,
            say=say,
            progress=progress,
        )
    except SpbeError as exc:
        record(ws, what="install", where=where, result=f"refused: {exc.exit_code.name.lower()}",
               app=app, version=version, reason=exc.message)
        raise
    if break_lock:
        record(ws, what="break-lock", where=where, result="requested", app=app,
               lock=state.lock_path(plan.target.root, app))
    try:
        result = execute(ws, plan, progress=progress)
    except SpbeError as exc:
        verb = "refused" if isinstance(exc, Locked) else "failed"  # a held lock changed nothing
        record(ws, what="install", where=where, result=f"{verb}: {exc.exit_code.name.lower()}",
               app=app, version=plan.manifest.version, bundle=plan.digest, reason=exc.message)
        raise
    record(
        ws,
        what="install",
        where=where,
        result="ok" if result.changed or result.new_release else "ok: nothing changed",
        app=app,
        version=result.version,
        bundle=plan.digest,
        agreement=plan.agreement,
        values=plan.values.as_dict(),
        blobs_sent=result.blobs_sent,
        bytes_sent=result.bytes_sent,
        run=str(result.run_dir),
    )
    return result


__all__ = [
    "InstallResult",
    "Plan",
    "app_urls",
    "build_extravars",
    "container_specs",
    "execute",
    "health_specs",
    "install",
    "plan_install",
    "render_configs",
    "resolve_user",
    "start_order",
]
