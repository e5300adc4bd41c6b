"""A test that cannot run for want of a tool: skipped on a developer's machine, a failure in CI.

``missing(tool, why)`` skips with the reason ``missing tool: <tool>: <why>``; when ``CI`` is set
(`.ci/run` runs with ``CI=true``) it fails instead, naming the tool, so a CI run never passes
green without a tier. ``module(name)`` is ``pytest.importorskip`` under the same rule.

tests/conftest.py applies the same rule to every skip whose reason reads like a missing tool
(``pytest.importorskip``'s "could not import", "... is not installed", "... unavailable"), so a
test written with a plain ``pytest.skip`` is held to it too.
"""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType
from typing import NoReturn

import pytest

PREFIX = "missing tool"
# skip reasons that mean "a tool or capability this machine lacks" (not "nothing to test here")
MISSING_TOOL = re.compile(r"missing tool|not installed|could not import|unavailable|no docker engine", re.IGNORECASE)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(tool: str, why: str) -> NoReturn:
    reason = f"{PREFIX}: {tool}: {why}"
    if in_ci():
        pytest.fail(f"CI runs every tier, but {reason}", pytrace=False)
    pytest.skip(reason)


def module(name: str, *, install: str = "bash scripts/setup --dev") -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(name, f"could not import it ({exc}); {install}")
