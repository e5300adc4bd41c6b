"""The database host's access rule (pure): only the hosts that depend on a component may reach
the ports it serves across hosts (issue 19 item 3).

For each host of an app spread over a data center (:func:`spbe_share.plans.placement.placement`),
each component on it that a component on another host depends on (ppdb's ``db``, which the web
reaches on 5432) gets one rule: connections to the host's bind address (its private address)
on the component's ``serves`` ports from any address but those of the dependent hosts are
dropped. The target side (``playbooks/module_utils/spbe_nft.py``, module ``spbe_nft``) writes
it in spbe-share's own nftables table where the host has ``nft``; preflight checks it.

The dependent hosts' addresses are those spbe-share knows: each one's ``--host`` and
``--bind-address`` that are IP addresses (a connection from the web host to the database
host's private address comes from one of them on a Pemda's LAN; a host whose address is a
name has ``--bind-address`` given, which is always an IP address).

``SPBE_SHARE_NFTABLES=off`` in the operator's environment: no rule is written or checked (the
Pemda's own firewall does it; or hosts that share one network namespace, like the simulated
data centers of the e2e tests, where a rule would touch every other one).
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..targets.inventory import Target
    from .placement import HostPart

ENV_NFTABLES = "SPBE_SHARE_NFTABLES"


def nftables_on() -> bool:
    """Are the rules written and checked? (``SPBE_SHARE_NFTABLES=off``: no)."""
    return os.environ.get(ENV_NFTABLES, "").strip().lower() not in ("off", "0", "no", "false")


def _addresses(host: Target) -> list[str]:
    out = []
    for value in (host.host, host.bind_address):
        try:
            out.append(str(ipaddress.ip_address(value)))
        except ValueError:
            continue
    return sorted(set(out))


def access_rules(parts: list[HostPart], target: Target) -> dict[str, list[dict[str, Any]]]:
    """host name -> its rules ``{component, address, ports, allow}`` (hosts without one left
    out). ``target``'s own hosts give the addresses (a part's bind address may be loopback
    behind the TLS proxy); InvalidInput when a dependent host has no IP address known."""
    hosts = {h.name: h for h in target.hosts()}
    where = {name: p.host.name for p in parts for name in p.names}
    out: dict[str, list[dict[str, Any]]] = {}
    for p in parts:
        for c in p.components:
            users = sorted({where[o.name] for q in parts for o in q.components
                            if c.name in o.depends_on and where[o.name] != p.host.name})  # fmt: skip
            if not c.serves or not users:
                continue
            allow: list[str] = []
            for name in users:
                found = _addresses(hosts[name])
                if not found:
                    raise InvalidInput(
                        f"{name}: no IP address known (its --host is a name): the database host's firewall rule"
                        f" needs one; give it with --bind-address (target add --replace {target.name} ...)"
                    )
                allow += found
            out.setdefault(p.host.name, []).append({"component": c.name, "address": hosts[p.host.name].bind_address,
                                                    "ports": sorted(c.serves), "allow": sorted(set(allow))})  # fmt: skip
    return out


__all__ = ["ENV_NFTABLES", "access_rules", "nftables_on"]
