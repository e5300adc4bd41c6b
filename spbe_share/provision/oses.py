"""Operating systems a provision bundle can be built for, and what a server needs (pure data).

Each profile names the distribution's suites and archive keyring, and the packages an
spbe-share target needs on top of a fresh install (minimal system + openssh-server + python3):

* the Docker Engine from the distribution (``docker.io``; ``docker-ce`` counts if present),
* the Python libraries of the playbooks' community.docker modules (``python3-docker``,
  ``python3-requests``; spbe-share's own modules are stdlib-only),
* ``zstd``, to decompress compressed blobs on the target,
* ``apparmor`` (its parser): where the kernel enforces AppArmor, as Debian's and Ubuntu's do,
  dockerd refuses to start containers without ``apparmor_parser`` (a recommendation of
  docker.io that an install without recommends would skip).

Tested here: ``debian-12`` (built from this machine's mirror, provisioned into a simulated
bare server). ``ubuntu-22.04`` and ``ubuntu-24.04`` use the same code path (apt, the same
package names, ``docker.io`` and ``python3-docker`` from *universe*) but have NOT been run
against an Ubuntu mirror or an Ubuntu server: there is none here.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHIVE = "archive"
SECURITY = "security"

# Every need is a list of alternatives; the first is installed when none is present.
NEEDS: tuple[tuple[str, ...], ...] = (
    ("docker.io", "docker-ce"),
    ("python3-docker",),
    ("python3-requests",),
    ("zstd",),
    ("apparmor",),
)


@dataclass(frozen=True)
class OsProfile:
    id: str  # "debian-12": what `--os` takes and what a bundle is for
    family: str  # /etc/os-release ID
    version: str  # /etc/os-release VERSION_ID
    codename: str
    suites: tuple[tuple[str, str], ...]  # (archive | security, suite)
    components: tuple[str, ...]
    keyring: str
    tested: bool
    needs: tuple[tuple[str, ...], ...] = NEEDS

    def suites_of(self, kind: str) -> list[str]:
        return [s for k, s in self.suites if k == kind]

    @property
    def install(self) -> list[str]:
        """The first alternative of every need: what the bundle is resolved for."""
        return [alts[0] for alts in self.needs]


def _profile(family: str, version: str, codename: str, *, components: tuple[str, ...], tested: bool) -> OsProfile:
    return OsProfile(
        id=f"{family}-{version}",
        family=family,
        version=version,
        codename=codename,
        suites=((ARCHIVE, codename), (ARCHIVE, f"{codename}-updates"), (SECURITY, f"{codename}-security")),
        components=components,
        keyring=f"/usr/share/keyrings/{family}-archive-keyring.gpg",
        tested=tested,
    )


PROFILES: dict[str, OsProfile] = {
    p.id: p
    for p in (
        _profile("debian", "12", "bookworm", components=("main",), tested=True),
        # docker.io and python3-docker are in universe on Ubuntu
        _profile("ubuntu", "22.04", "jammy", components=("main", "universe"), tested=False),
        _profile("ubuntu", "24.04", "noble", components=("main", "universe"), tested=False),
    )
}


def os_id_of(os_release: dict[str, str]) -> str:
    """``debian-12`` from the fields of ``/etc/os-release`` (ID, VERSION_ID)."""
    family = os_release.get("ID", "").strip().lower() or "unknown"
    version = os_release.get("VERSION_ID", "").strip()
    return f"{family}-{version}" if version else family


def parse_os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` (shell-style KEY=value lines, values maybe quoted) -> dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out
