"""The database host's nftables access rule, as the controller plans and checks it (issue 19
item 3; plans/firewall.py, ops/preflight.py). The rule itself, written by the real nft in a
network namespace: tests/integration/test_nftables.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_placement import ppdb
from test_targets_hosts import dinas

from spbe_share.errors import InvalidInput
from spbe_share.ops.preflight import FirewallFacts, firewall_check, firewall_rules
from spbe_share.plans.firewall import ENV_NFTABLES, access_rules
from spbe_share.plans.placement import behind_proxy, placement
from spbe_share.targets.inventory import TargetHost

RULE = {"component": "db", "address": "10.1.2.4", "ports": [5432], "allow": ["10.1.2.3"]}


@pytest.fixture(autouse=True)
def nftables_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_NFTABLES, raising=False)  # the default: rules written and checked


def test_only_the_web_host_may_reach_the_database_port(monkeypatch: pytest.MonkeyPatch) -> None:
    entry, target = ppdb(), dinas()
    parts = placement(entry, target)
    assert parts is not None
    assert access_rules(parts, target) == {"dinas-pendidikan-sorong--database": [RULE]}
    # behind the TLS proxy the web publishes on loopback, but connects from its host's address
    assert access_rules(behind_proxy(entry, parts, target=target.name), target) == {
        "dinas-pendidikan-sorong--database": [RULE]}
    # the web host's --host and --bind-address, both allowed when they differ
    two = dinas(host="192.0.2.10")
    assert firewall_rules(two, entry)["dinas-pendidikan-sorong--database"][0]["allow"] == ["10.1.2.3", "192.0.2.10"]
    # one host: nothing crosses hosts, no rule; SPBE_SHARE_NFTABLES=off: none written or checked
    assert firewall_rules(dinas(extra_hosts=()), entry) == {}
    monkeypatch.setenv(ENV_NFTABLES, "off")
    assert firewall_rules(target, entry) == {}


def test_a_web_host_without_an_ip_address_is_refused() -> None:
    entry = ppdb()
    named = dinas(host="web.sorong.go.id", bind_address="web.sorong.go.id")
    parts = placement(entry, named)
    assert parts is not None
    with pytest.raises(InvalidInput, match=r"^dinas-pendidikan-sorong: no IP address known .*--bind-address"):
        access_rules(parts, named)


def test_preflight_says_where_the_rule_cannot_be_or_is_missing() -> None:
    where = "dinas-pendidikan-sorong--database (database)"

    def found(**facts: object) -> tuple[str, bool]:
        [c] = firewall_check([RULE], FirewallFacts.model_validate(facts), where=where)
        assert c.ok and c.host == where and c.required == "10.1.2.4:5432 only from 10.1.2.3"
        return c.found, c.warn

    assert found(nft=None) == ("no nft on this host: the Pemda's firewall must limit it", True)
    assert found(nft="/usr/sbin/nft", denied="/usr/sbin/nft may not be used by this user: x") == (
        "not written: /usr/sbin/nft may not be used by this user: x", True)
    assert found(nft="/usr/sbin/nft", installed=True, present=False) == (
        "missing (spbe-share install writes it again)", True)
    assert found(nft="/usr/sbin/nft", installed=True, present=True) == ("in place", False)
    assert found(nft="/usr/sbin/nft") == ("nft found (/usr/sbin/nft): install writes it", False)
    assert firewall_check([], FirewallFacts(), where=where) == []  # a host serving no other


def test_the_rule_guards_the_database_hosts_private_address() -> None:
    entry = ppdb()
    web2 = dinas(extra_hosts=(
        TargetHost(name="dinas-pendidikan-sorong--database", host="10.1.2.4", user="spbe", key=Path("/keys/db"),
                   bind_address="10.1.2.44", roles=("database",)),))  # fmt: skip
    parts = placement(entry, web2)
    assert parts is not None
    # the rule guards the database host's bind address (its private one), not its SSH address
    assert access_rules(parts, web2) == {"dinas-pendidikan-sorong--database": [{**RULE, "address": "10.1.2.44"}]}


def test_the_rules_comment_stays_within_nfts_limit_and_names_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """module_utils/spbe_nft: a rule's comment names its target and app (how its own rules are
    found again); names as long as a slug may be (63 each) would pass nft's 128, so they stand as
    a digest; a name that is not a slug is refused before nft is asked."""
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "playbooks" / "module_utils"))
    sys.modules.pop("spbe_nft", None)
    import spbe_nft

    short = spbe_nft.comment_of("kota-sorong", "ppdb", RULE)
    assert short.startswith("spbe-share kota-sorong ppdb ") and len(short) == len("spbe-share kota-sorong ppdb ") + 16
    long_target, long_app = "k" * 63, "a" * 63
    long = spbe_nft.comment_of(long_target, long_app, RULE)
    assert len(long) <= spbe_nft.COMMENT_MAX and long.startswith(spbe_nft.owner(long_target, long_app))
    assert spbe_nft.owner(long_target, long_app) != spbe_nft.owner(long_target, "a" * 62)
    for bad in ("../x", "", "A"):
        with pytest.raises(spbe_nft.NftError, match="not a valid name"):
            spbe_nft.owner(bad, "ppdb")
