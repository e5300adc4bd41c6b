"""Run an app's containers from their specs with the docker CLI, on the target (standard library only).

One module call (``spbe_start``) brings every container of a pass to its spec: over a slow link
each Ansible task (and loop item) is a round trip, and community.docker's first task imports
that collection's code over the link (3.4 s at 80 ms RTT), inside the outage of an upgrade.

A container spec (``spbe_share.records.deployspec.ContainerSpec``): name, component, image (an
image id), command, env, ports, mounts, labels. Every container runs on the app's network with
its component as an alias, docker-init as PID 1 (a server as PID 1 ignores SIGTERM), json-file
logs rotated at 10 MB x 5, restart unless stopped, never pulled.

Each container carries the digest of what it was created from (label ``id.go.spbe.spec``): a
container whose digest matches its spec is left as it is (started if it was not, restarted when
asked); any other is removed and created anew. The digest leaves out the name and the extra
aliases, so the web container of a zero-downtime switch (created under a temporary name, then
renamed) matches its release's spec. A container created before this label existed is created
anew once.

An upgrade creates the new release's containers AHEAD, while the old release still serves
(:func:`prepare`: ``<name>--next``, created, not started): creating a container (its layer, its
network endpoint) then costs nothing inside the outage, where :func:`ensure` only removes the
stopped old container, renames the prepared one and starts it. A ``--next`` container that is
not the one a pass wants (another spec: an undo brings the old release back) is removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
IMAGE = re.compile(r"^sha256:[0-9a-f]{64}$")
MOUNT_VALUE = re.compile(r"^[^,\"'\n\r=]{1,1024}$")  # docker's --mount is CSV: no comma, quote or '='
PORT = re.compile(r"^(?:(?:\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?\d{1,5}:\d{1,5}(?:/(?:tcp|udp))?$")
SPEC_LABEL = "id.go.spbe.spec"
NEXT = "--next"  # a container created ahead, while the serving one still runs (prepare)

Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


class DockerRunError(Exception):
    """A spec docker run cannot take, or a docker command that failed (the message says which)."""


def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    # an argument list, never a shell string (names and values checked by the callers)
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", f"timed out after {timeout:g} s")
    except OSError as e:  # no docker here
        return subprocess.CompletedProcess(list(argv), 127, "", str(e))


def name_of(value: object, what: str) -> str:
    s = str(value)
    if not NAME.match(s):
        raise DockerRunError(f"not a {what}: {s!r}")
    return s


def spec_digest(spec: Mapping, *, network: str, alias: str) -> str:
    """What a container is created from (not its name), as a digest."""
    what = {k: spec.get(k) or ([] if k in ("command", "ports", "mounts") else {})
            for k in ("image", "command", "env", "ports", "mounts", "labels")}
    what["image"] = spec.get("image")
    what["mounts"] = [{"type": m.get("type"), "source": m.get("source"), "target": m.get("target"),
                       "read_only": bool(m.get("read_only"))} for m in spec.get("mounts") or []]
    what.update(network=network, alias=alias)
    return "sha256:" + hashlib.sha256(json.dumps(what, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def run_argv(spec: Mapping, *, network: str, alias: str, extra_aliases: Sequence[str] = (),
             create_only: bool = False) -> list[str]:
    """``docker run --detach`` (``create_only``: ``docker create``) of container spec ``spec``."""
    name = name_of(spec.get("name"), "container name")
    image = str(spec.get("image"))
    if not IMAGE.match(image):
        raise DockerRunError(f"{name}: not an image id: {image!r}")
    argv = ["docker", "create"] if create_only else ["docker", "run", "--detach"]
    argv += ["--pull", "never", "--name", name, "--network", name_of(network, "network name"),
             "--network-alias", name_of(alias, "component name")]
    for extra in extra_aliases:
        argv += ["--network-alias", name_of(extra, "network alias")]
    argv += ["--init", "--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=5",
             "--restart", "unless-stopped", "--label", f"{SPEC_LABEL}={spec_digest(spec, network=network, alias=alias)}"]
    for key, value in sorted((spec.get("labels") or {}).items()):
        if not key or key == SPEC_LABEL or "\n" in key:
            raise DockerRunError(f"{name}: not a label spbe-share sets: {key!r}")
        argv += ["--label", f"{key}={value}"]
    for key, value in sorted((spec.get("env") or {}).items()):
        if not key or "=" in key or "\0" in key:
            raise DockerRunError(f"{name}: not an environment variable name: {key!r}")
        argv += ["--env", f"{key}={value}"]
    for port in spec.get("ports") or []:
        if not PORT.match(str(port)):
            raise DockerRunError(f"{name}: not a published port: {port!r}")
        argv += ["--publish", str(port)]
    for m in spec.get("mounts") or []:
        kind, source, target = str(m.get("type")), str(m.get("source")), str(m.get("target"))
        if kind not in ("bind", "volume") or not MOUNT_VALUE.match(source) or not MOUNT_VALUE.match(target):
            raise DockerRunError(f"{name}: a mount docker run cannot take: {kind} {source!r} -> {target!r}")
        argv += ["--mount", f"type={kind},source={source},target={target}" + (",readonly" if m.get("read_only") else "")]
    argv += ["--", image, *[str(a) for a in spec.get("command") or []]]
    return argv


def docker(runner: Runner, args: Sequence[str], what: str, timeout: float = 180) -> str:
    p = runner(["docker", *args], timeout)
    if p.returncode != 0:
        raise DockerRunError(f"{what}: {(p.stderr or p.stdout).strip()[-500:]}")
    return p.stdout


def inspect(runner: Runner, names: Sequence[str]) -> dict[str, dict]:
    """``{name: {"running": bool, "spec": digest or ""}}`` of those of ``names`` that exist, in
    ONE docker call (a missing name is only missing from the answer)."""
    if not names:
        return {}
    p = runner(["docker", "container", "inspect", "--format",
                "{{.Name}} {{.State.Running}} {{index .Config.Labels \"" + SPEC_LABEL + "\"}}", "--", *names], 60)
    found: dict[str, dict] = {}
    for line in p.stdout.splitlines():
        name, _, rest = line.strip().lstrip("/").partition(" ")
        running, _, digest = rest.partition(" ")
        if name in names:
            found[name] = {"running": running == "true", "spec": digest.strip()}
    if p.returncode != 0 and not found and "no such" not in (p.stderr or "").lower():
        raise DockerRunError(f"docker container inspect: {(p.stderr or p.stdout).strip()[-500:]}")
    return found


def _each(specs: Sequence[Mapping], network: str, runner: Runner) -> Iterator[tuple[Mapping, str, str, str, dict | None, dict | None]]:
    """(spec, name, alias, digest, its container, its ``--next``) for each spec: one inspect for all."""
    names = [name_of(s.get("name"), "container name") for s in specs]
    now = inspect(runner, [*names, *(n + NEXT for n in names)])
    for spec, name in zip(specs, names, strict=True):
        alias = name_of(spec.get("component"), "component name")
        yield spec, name, alias, spec_digest(spec, network=network, alias=alias), now.get(name), now.get(name + NEXT)


def prepare(specs: Sequence[Mapping], *, network: str, runner: Runner = run) -> list[str]:
    """Create, not start, ``<name>--next`` for each spec its container does not run yet (the
    serving containers untouched); the names created."""
    made = []
    for spec, name, alias, digest, cur, ahead in _each(specs, network, runner):
        if cur is not None and cur["spec"] == digest:
            continue  # runs its spec already: nothing to prepare
        if ahead is not None and ahead["spec"] == digest:
            made.append(name + NEXT)  # prepared before (a repeated step)
            continue
        if ahead is not None:
            docker(runner, ["rm", "-f", "--", name + NEXT], f"docker rm {name + NEXT}")
        docker(runner, run_argv({**spec, "name": name + NEXT}, network=network, alias=alias, create_only=True)[1:],
               f"docker create {name + NEXT}")
        made.append(name + NEXT)
    return made


def ensure(specs: Sequence[Mapping], *, network: str, state: str = "started", restart: Sequence[str] = (),
           restart_all: bool = False, recreate: bool = False, runner: Runner = run) -> list[dict]:
    """Bring each container of ``specs`` (in order) to its spec and ``state`` (``started`` or
    ``present``: created, not started). ``restart``: components whose files changed (a running
    container that matches is restarted). What happened to each: [{name, component, changed, action}]."""
    out = []
    for spec, name, alias, digest, cur, ahead in _each(specs, network, runner):
        argv = run_argv(spec, network=network, alias=alias, create_only=state == "present")
        use_ahead = ahead is not None and ahead["spec"] == digest and not (cur is not None and cur["spec"] == digest)
        if ahead is not None and not use_ahead:  # prepared for another spec (an undo), or not needed
            docker(runner, ["rm", "-f", "--", name + NEXT], f"docker rm {name + NEXT}")
        if cur is not None and cur["spec"] == digest and not recreate:
            if state == "present":
                action = "kept"
            elif not cur["running"]:
                docker(runner, ["start", name], f"docker start {name}")
                action = "started"
            elif restart_all or alias in restart:
                docker(runner, ["restart", name], f"docker restart {name}")
                action = "restarted"
            else:
                action = "kept"
        elif use_ahead:  # created ahead while the old one served: only the swap is left
            if cur is not None:
                docker(runner, ["rm", "-f", "--", name], f"docker rm {name}")
            docker(runner, ["rename", name + NEXT, name], f"docker rename {name + NEXT} {name}")
            if state != "present":
                docker(runner, ["start", name], f"docker start {name}")
            action = "recreated" if cur is not None else "created"
        else:
            if cur is not None:
                docker(runner, ["rm", "-f", "--", name], f"docker rm {name}")
            docker(runner, argv[1:], f"docker {'create' if state == 'present' else 'run'} {name}")
            action = "recreated" if cur is not None else "created"
        out.append({"name": name, "component": alias, "changed": action != "kept", "action": action})
    return out
