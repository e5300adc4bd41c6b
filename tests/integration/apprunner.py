"""Run a catalog app's built images on the local Docker engine, the way a deployment does.

For integration tests only (real installs go through the deploy playbooks). It follows the
runtime conventions of the team brief: one docker network per deployment, each component
reachable by its component name, named volumes, secrets as read-only files at
``/run/secrets/<NAME>``, config templates rendered with jinja2 (StrictUndefined) and mounted
read-only, and a wait for the component's health check.

Every docker object is named ``<prefix>-...`` so a test removes exactly what it made.
Running again with the same prefix reuses the volumes (and secrets): that is an upgrade or a
restart with the data kept.
"""

from __future__ import annotations

import secrets as pysecrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spbe_share.catalog.models import Component, Entry, HttpCheck

TARGET_NAME = "local-test"


def template_variables(
    entry: Entry, version: str, settings: dict[str, str] | None, *, pemda: str, kode_wilayah: str
) -> dict[str, Any]:
    values: dict[str, Any] = {s.name: s.default for s in entry.settings if s.default is not None}
    values.update(settings or {})
    missing = [s.name for s in entry.settings if s.required and s.name not in values]
    if missing:
        raise ValueError(f"required settings missing: {', '.join(missing)}")
    values.update(
        spbe_app=entry.id,
        spbe_version=version,
        spbe_target=TARGET_NAME,
        spbe_pemda=pemda,
        spbe_kode_wilayah=kode_wilayah,
    )
    return values


def render_template(path: Path, variables: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701
    return env.from_string(path.read_text(encoding="utf-8")).render(**variables)


def start_order(components: list[Component]) -> list[Component]:
    """Components with every dependency before its dependents."""
    by_name = {c.name: c for c in components}
    done: list[Component] = []
    seen: set[str] = set()

    def visit(c: Component, stack: tuple[str, ...]) -> None:
        if c.name in seen:
            return
        if c.name in stack:
            raise ValueError(f"dependency cycle: {' -> '.join((*stack, c.name))}")
        for d in c.depends_on:
            visit(by_name[d], (*stack, c.name))
        seen.add(c.name)
        done.append(c)

    for c in components:
        visit(c, ())
    return done


@dataclass
class RunningApp:
    client: Any
    prefix: str
    entry: Entry
    version: str
    workdir: Path
    containers: dict[str, Any] = field(default_factory=dict)
    host_ports: dict[str, dict[int, int]] = field(default_factory=dict)  # component -> container port -> host port

    def url_of(self, component: str, port: int | None = None) -> str:
        ports = self.host_ports[component]
        return f"http://127.0.0.1:{ports[port if port is not None else next(iter(ports))]}"

    @property
    def url(self) -> str:
        """Base URL of the first component with an http health check (else the first published port)."""
        for c in self.entry.components:
            if isinstance(c.health, HttpCheck):
                return self.url_of(c.name, c.health.port)
        for c in self.entry.components:
            if self.host_ports.get(c.name):
                return self.url_of(c.name)
        raise LookupError("no component publishes a port")

    def logs(self, component: str) -> str:
        return str(self.containers[component].logs(tail=200).decode("utf-8", "replace"))

    def stop(self) -> None:
        """Stop and remove the containers; volumes, network and secrets stay (data is kept)."""
        from docker.errors import NotFound

        for name in reversed(list(self.containers)):
            try:
                c = self.containers[name]
                c.stop(timeout=10)
                c.remove(force=True)
            except NotFound:
                pass
        self.containers.clear()


def _wait_healthy(app: RunningApp, component: Component, container: Any) -> None:
    check = component.health
    if check is None:
        return
    deadline = time.monotonic() + check.timeout_s
    last = "not checked yet"
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            raise RuntimeError(
                f"{container.name} exited ({container.attrs['State'].get('ExitCode')}):\n"
                + container.logs(tail=50).decode("utf-8", "replace")
            )
        if isinstance(check, HttpCheck):
            url = app.url_of(component.name, check.port) + check.path
            try:
                with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last = str(exc)
        else:
            code, out = container.exec_run(check.command)
            if code == 0:
                return
            last = f"exit {code}: {out.decode('utf-8', 'replace')[-200:]}"
        time.sleep(min(check.interval_s, 1))
    raise TimeoutError(
        f"{container.name} not healthy after {check.timeout_s}s ({last}):\n"
        + container.logs(tail=50).decode("utf-8", "replace")
    )


def run_app(
    client: Any,
    loaded: Any,
    version: str,
    *,
    prefix: str,
    workdir: Path,
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    pemda: str = "Kabupaten Uji Coba",
    kode_wilayah: str = "99.01",
    wait: bool = True,
) -> RunningApp:
    """Start every component of ``loaded.entry`` at ``version`` (images must be built already).

    Secrets not given are generated once and kept in ``workdir/secrets`` (so a second run with
    the same ``workdir`` sees the same values); ports are published on 127.0.0.1 at random
    host ports (see ``RunningApp.host_ports``).
    """
    entry: Entry = loaded.entry
    repo_root = Path(loaded.repo_root)
    workdir.mkdir(parents=True, exist_ok=True)
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    for s in entry.secrets:
        path = secrets_dir / s.name
        if secrets and s.name in secrets:
            path.write_text(secrets[s.name], encoding="utf-8")
        elif not path.exists():
            path.write_text(pysecrets.token_urlsafe(s.length)[: s.length], encoding="utf-8")
        path.chmod(0o444)  # the app runs as a non-root user
    variables = template_variables(entry, version, settings, pemda=pemda, kode_wilayah=kode_wilayah)

    net_name = f"{prefix}-net"
    if not client.networks.list(names=[net_name]):
        client.networks.create(net_name, driver="bridge", labels={"spbe-test": prefix})
    app = RunningApp(client=client, prefix=prefix, entry=entry, version=version, workdir=workdir)
    for component in start_order(list(entry.components)):
        volumes: dict[str, dict[str, str]] = {}
        for v in component.volumes:
            vol = f"{prefix}-{v.name}"
            if not client.volumes.list(filters={"name": vol}):
                client.volumes.create(vol, labels={"spbe-test": prefix})
            volumes[vol] = {"bind": v.path, "mode": "rw"}
        for name in component.secrets:
            volumes[str(secrets_dir / name)] = {"bind": f"/run/secrets/{name}", "mode": "ro"}
        config_dir = workdir / "config" / component.name
        config_dir.mkdir(parents=True, exist_ok=True)
        for i, cf in enumerate(component.config):
            rendered = config_dir / f"{i}-{Path(cf.path).name}"
            rendered.write_text(render_template(repo_root / cf.template, variables), encoding="utf-8")
            rendered.chmod(0o444)
            volumes[str(rendered)] = {"bind": cf.path, "mode": "ro"}
        ports = {f"{p.container}/{p.protocol}": ("127.0.0.1", None) for p in component.ports}
        if component.health and isinstance(component.health, HttpCheck):
            ports.setdefault(f"{component.health.port}/tcp", ("127.0.0.1", None))
        container = client.containers.run(
            f"{component.image}:{version}",
            name=f"{prefix}-{component.name}",
            command=component.command,
            environment=dict(component.env),
            volumes=volumes,
            ports=ports,
            network=net_name,
            networking_config={net_name: client.api.create_endpoint_config(aliases=[component.name])},
            labels={"spbe-test": prefix},
            init=True,  # as playbooks/tasks/start.yml: tini is PID 1, so `docker stop` is quick
            detach=True,
        )
        app.containers[component.name] = container
        container.reload()
        bound = container.attrs["NetworkSettings"]["Ports"] or {}
        app.host_ports[component.name] = {
            int(key.split("/")[0]): int(val[0]["HostPort"]) for key, val in sorted(bound.items()) if val
        }
        if wait:
            _wait_healthy(app, component, container)
    return app


def remove_prefixed(client: Any, prefix: str) -> None:
    """Remove every container, volume and network labelled with this test prefix."""
    from docker.errors import APIError, NotFound

    for c in client.containers.list(all=True, filters={"label": f"spbe-test={prefix}"}):
        try:
            c.remove(force=True)
        except (NotFound, APIError):
            pass
    for v in client.volumes.list(filters={"label": f"spbe-test={prefix}"}):
        try:
            v.remove(force=True)
        except (NotFound, APIError):
            pass
    for n in client.networks.list(filters={"label": f"spbe-test={prefix}"}):
        try:
            n.remove()
        except (NotFound, APIError):
            pass
