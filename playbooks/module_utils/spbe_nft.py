"""The database host's access rule in nftables (issue 19 item 3): only the hosts that depend on
a component reach the ports it serves (standard library only; module ``spbe_nft``).

spbe-share's own table ``inet spbe_share``, one chain ``db_access`` hooked at prerouting with
priority -150 (mangle: before Docker's DNAT at -100, so the rule sees the address and port the
client asked for), policy accept. Each rule of an app:

    iifname != "lo" ip daddr 10.1.2.4 tcp dport { 5432 } ip saddr != { 10.1.2.3 } drop comment "spbe-share T APP DIGEST"

(``ip6`` for an IPv6 address; no address of the family allowed: everything of that family to
the port dropped). The comment names the target, the app and a digest of the rule: a rule is
spbe-share's and the app's by its comment, and the same rules again change nothing. Written
and removed in one ``nft -j -f -`` transaction (JSON on stdin: no value is ever parsed as nft
syntax); read with ``nft -j list table``. Removing an app's last rule removes the table.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess

FAMILY = "inet"
TABLE = "spbe_share"
CHAIN = "db_access"
PRIORITY = -150  # mangle: before Docker's DNAT (dstnat, -100)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TIMEOUT = 30


class NftError(Exception):
    """nft failed, or a rule is not valid (one line)."""


class NftDenied(NftError):
    """nft is there, but this user may not use it (not root: no CAP_NET_ADMIN)."""


def nft_path() -> str | None:
    for path in ("/usr/sbin/nft", "/sbin/nft"):  # sbin is not on every SSH session's PATH
        if os.access(path, os.X_OK):
            return path
    return shutil.which("nft")


def checked(rule: dict) -> dict:
    """One rule ``{component, address, ports, allow}`` checked; addresses normalized."""
    try:
        address = ipaddress.ip_address(str(rule["address"]))
        allow = sorted({str(ipaddress.ip_address(str(a))) for a in rule.get("allow") or []})
        ports = sorted({int(p) for p in rule["ports"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise NftError(f"not a valid access rule: {str(rule)[:200]} ({exc})") from None
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise NftError(f"not a valid access rule: {str(rule)[:200]} (ports 1-65535)")
    component = str(rule.get("component") or "")
    if component and not SLUG.match(component):
        raise NftError(f"not a valid component name: {component[:80]!r}")
    return {"component": component, "address": str(address), "ports": ports, "allow": allow}


COMMENT_MAX = 128  # nft refuses a longer rule comment


def owner(target: str, app: str) -> str:
    """The start of the comment of every rule of ``app`` of ``target`` (names checked); names too
    long for nft's comment stand as a digest of both."""
    for field, value in (("target", target), ("app", app)):
        if not SLUG.match(value or ""):
            raise NftError(f"{field} {str(value)[:80]!r} is not a valid name")
    prefix = f"spbe-share {target} {app} "
    if len(prefix) + 16 > COMMENT_MAX:
        prefix = "spbe-share " + hashlib.sha256(f"{target} {app}".encode()).hexdigest()[:32] + " "
    return prefix


def comment_of(target: str, app: str, rule: dict) -> str:
    digest = hashlib.sha256(json.dumps(rule, sort_keys=True).encode()).hexdigest()[:16]
    return owner(target, app) + digest


def _family(address: str) -> str:
    return "ip6" if ipaddress.ip_address(address).version == 6 else "ip"


def rule_exprs(rule: dict) -> list[dict]:
    """The rule's expressions (libnftables JSON)."""
    fam = _family(rule["address"])
    exprs = [  # not from the host itself (lo: its own processes, Docker's userland proxy)
        {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "lo"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": fam, "field": "daddr"}}, "right": rule["address"]}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                   "right": {"set": rule["ports"]}}},
    ]
    allow = [a for a in rule["allow"] if _family(a) == fam]
    if allow:
        exprs.append({"match": {"op": "!=", "left": {"payload": {"protocol": fam, "field": "saddr"}},
                                "right": {"set": allow}}})
    exprs.append({"drop": None})
    return exprs


def _run(nft: str, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([nft, *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT,  # noqa: S603
                              check=False, env={**os.environ, "LC_ALL": "C"})  # its errors are matched as text
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NftError(f"{nft} {' '.join(args)}: {exc}") from None


def table(nft: str) -> list[dict] | None:
    """The objects of spbe-share's table (``nft -j list table``); None when it does not exist."""
    proc = _run(nft, ["-j", "list", "table", FAMILY, TABLE])
    if proc.returncode != 0:
        if "No such file or directory" in proc.stderr:
            return None
        if "Operation not permitted" in proc.stderr or "Permission denied" in proc.stderr:
            raise NftDenied(f"{nft} may not be used by this user: {proc.stderr.strip()[:200]}")
        raise NftError(f"nft list table {FAMILY} {TABLE}: {proc.stderr.strip()[:300]}")
    try:
        return [o for o in json.loads(proc.stdout).get("nftables", []) if isinstance(o, dict)]
    except (ValueError, AttributeError) as exc:
        raise NftError(f"nft list table {FAMILY} {TABLE}: unreadable answer ({exc})") from None


def _rules(objects: list[dict] | None) -> list[dict]:
    return [o["rule"] for o in objects or [] if isinstance(o.get("rule"), dict) and o["rule"].get("chain") == CHAIN]


def _hooked(objects: list[dict] | None) -> bool:
    return any(isinstance(o.get("chain"), dict) and o["chain"].get("name") == CHAIN
               and o["chain"].get("hook") == "prerouting" for o in objects or [])


def mine(objects: list[dict] | None, target: str, app: str) -> list[dict]:
    prefix = owner(target, app)
    return [r for r in _rules(objects) if str(r.get("comment", "")).startswith(prefix)]


def _apply(nft: str, commands: list[dict]) -> None:
    proc = _run(nft, ["-j", "-f", "-"], json.dumps({"nftables": commands}))
    if proc.returncode != 0:
        raise NftError(f"nft -j -f -: {proc.stderr.strip()[:300]}")


def _delete(rule: dict) -> dict:
    return {"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": CHAIN, "handle": rule["handle"]}}}


def present(nft: str, target: str, app: str, rules: list[dict]) -> bool:
    """The app's rules exactly ``rules`` (checked); True when something changed."""
    wanted = {comment_of(target, app, r): r for r in (checked(r) for r in rules)}
    objects = table(nft)
    have = mine(objects, target, app)
    if _hooked(objects) and sorted(str(r.get("comment")) for r in have) == sorted(wanted):
        return False
    commands: list[dict] = [
        {"add": {"table": {"family": FAMILY, "name": TABLE}}},
        {"add": {"chain": {"family": FAMILY, "table": TABLE, "name": CHAIN, "type": "filter", "hook": "prerouting",
                           "prio": PRIORITY, "policy": "accept"}}},
        *(_delete(r) for r in have),
        *({"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": CHAIN, "comment": c, "expr": rule_exprs(r)}}}
          for c, r in sorted(wanted.items())),
    ]
    _apply(nft, commands)
    return True


def absent(nft: str, target: str, app: str) -> bool:
    """No rule of the app left (the table removed with the last rule); True when something changed."""
    objects = table(nft)
    have = mine(objects, target, app)
    if not have:
        return False
    others = [r for r in _rules(objects) if r not in have]
    _apply(nft, [{"delete": {"table": {"family": FAMILY, "name": TABLE}}}] if not others
           else [_delete(r) for r in have])
    return True


def query(nft: str, target: str, app: str, rules: list[dict]) -> dict:
    """Are the app's rules in place as ``rules`` says? ``{present, missing, extra}`` (comments)."""
    wanted = {comment_of(target, app, checked(r)) for r in rules}
    objects = table(nft)
    have = {str(r.get("comment")) for r in mine(objects, target, app)} if _hooked(objects) else set()
    return {"present": bool(wanted) and wanted <= have, "missing": sorted(wanted - have),
            "extra": sorted(have - wanted)}
