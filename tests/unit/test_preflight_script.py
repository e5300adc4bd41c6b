"""The target side of preflight's one-round-trip reading (playbooks/module_utils/spbe_preflight.py):
its pure parts name the host as Ansible's ``setup`` does (tests/e2e/test_targets.py compares
the whole answer with preflight.yml's on a real sshd)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODULE_UTILS = Path(__file__).resolve().parents[2] / "playbooks" / "module_utils"
spec = importlib.util.spec_from_file_location("spbe_preflight_u", MODULE_UTILS / "spbe_preflight.py")
assert spec is not None and spec.loader is not None
pf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pf)

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
UBUNTU = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n'


def test_distribution_as_ansible_names_it() -> None:
    assert pf.distribution(pf.os_release(DEBIAN), "12.8\n") == ("debian", "12.8", "12")
    assert pf.distribution(pf.os_release(DEBIAN), "") == ("debian", "12", "12")
    assert pf.distribution(pf.os_release(DEBIAN), "trixie/sid\n") == ("debian", "12", "12")
    assert pf.distribution(pf.os_release(UBUNTU), "trixie/sid\n") == ("ubuntu", "24.04", "24")
    assert pf.distribution({}, "") == ("unknown", "", "")


def test_cpus_and_memory_from_proc() -> None:
    cpuinfo = "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\nmodel name\t: x\n"
    assert pf.cpu_count(cpuinfo) == 2
    assert pf.memory_mb("MemTotal:        8039124 kB\nMemFree: 1 kB\n") == 7850
    assert pf.memory_mb("garbage") == 0
