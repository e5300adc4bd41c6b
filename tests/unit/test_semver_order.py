"""SemVer 2.0.0 §11 precedence (issue 22, item 5): the ``semver`` library orders releases, so
the newest release and upgrade paths are right for numeric pre-release identifiers."""

from __future__ import annotations

import random
from typing import Any

import pytest
from catalog_fixtures import entry_data

from spbe_share.catalog.models import Entry, semver_key
from spbe_share.fleet.plan import upgrade_path
from spbe_share.plans.upgradeplan import releases_between

# The example of SemVer 2.0.0 §11.4, in order.
SPEC_ORDER = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
              "1.0.0-rc.1", "1.0.0"]  # fmt: skip


def test_the_spec_example_sorts_in_order() -> None:
    shuffled = SPEC_ORDER[:]
    random.Random(22).shuffle(shuffled)
    assert sorted(shuffled, key=semver_key) == SPEC_ORDER


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-rc.2", "1.0.0-rc.10"),  # numeric identifiers compare as numbers (§11.4.1)
        ("1.0.0-rc.9", "1.0.0-rc.10"),
        ("1.0.0-alpha.99", "1.0.0-alpha.beta"),  # numeric < alphanumeric (§11.4.3)
        ("1.0.0-alpha", "1.0.0-alpha.1"),  # fewer fields < more fields when equal so far (§11.4.4)
        ("1.0.0-rc.1", "1.0.0"),  # a pre-release < its release (§11.3)
        ("1.9.0", "1.10.0"),
        ("1.0.0-Z", "1.0.0-a"),  # ASCII order of alphanumeric identifiers (§11.4.2)
    ],
)
def test_precedence(lower: str, higher: str) -> None:
    assert semver_key(lower) < semver_key(higher)


def test_build_metadata_does_not_count() -> None:  # §10
    assert semver_key("1.0.0+build.1") == semver_key("1.0.0+build.2") == semver_key("1.0.0")


def test_not_semver_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a SemVer version"):
        semver_key("1.0")


def _entry(*versions: str) -> Entry:
    data: dict[str, Any] = entry_data()
    data["releases"] = [{"version": v, "date": "2026-11-21"} for v in versions]
    return Entry.model_validate(data)


def test_the_newest_release_is_rc10_not_rc2() -> None:
    """Before: ``semver_key`` compared pre-release text, so rc.2 was 'newer' than rc.10."""
    assert _entry("1.0.0-rc.10", "1.0.0-rc.2").latest.version == "1.0.0-rc.10"


def test_upgrade_paths_follow_the_spec() -> None:
    e = _entry("1.0.0-rc.2", "1.0.0-rc.10", "1.0.0")
    assert upgrade_path(e, "1.0.0-rc.2", "1.0.0") == ["1.0.0-rc.10", "1.0.0"]
    assert [r.version for r in releases_between(e, from_version="1.0.0-rc.2", to_version="1.0.0")] == ["1.0.0-rc.10", "1.0.0"]
