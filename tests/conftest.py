"""Shared fixtures of every test tier.

``hostile``: strings for the "nothing from outside is ever templated" tests (issue 7 item 1).
Each would run ``touch <marker dir>/<name>`` on the controller if Ansible (or jinja2) ever
rendered it: Jinja delimiters, ``#jinja2:`` headers that change the delimiters, blocks,
lookups, queries and filters. ``hostile.strings`` has them with the marker folder filled in,
``hostile.ran()`` lists the ones that ran, ``hostile.typed_looking`` strings YAML would read
as numbers, booleans, null or dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

TEMPLATES = {
    "header_brackets": "#jinja2:variable_start_string:'[[', variable_end_string:']]'\nKota [[ lookup('pipe','touch {d}/header_brackets') ]]",
    "header_angles": "#jinja2:variable_start_string:'<<', variable_end_string:'>>'\n<< lookup('pipe','touch {d}/header_angles') >>",
    "header_blocks": "#jinja2:block_start_string:'<%', block_end_string:'%>'\n<% if lookup('pipe','touch {d}/header_blocks') %>y<% endif %>",
    "header_trim": "#jinja2: trim_blocks:False, variable_start_string:'((', variable_end_string:'))'\n(( query('pipe','touch {d}/header_trim') ))",
    "braces": "{{ lookup('pipe', 'touch {d}/braces') }}",
    "block": "{% set x = lookup('pipe','touch {d}/block') %}{{ x }}",
    "filter": "{{ 'x' | regex_replace('x', lookup('ansible.builtin.pipe','touch {d}/filter')) | upper }}",
    "query": "Kota {{ query('ansible.builtin.pipe', 'touch {d}/query') | first }} Sorong",
    "comment_then_braces": "{# hi #}{{ lookup('pipe','touch {d}/comment_then_braces') }}",
    "plain_brackets": "[[ lookup('pipe','touch {d}/plain_brackets') ]]",
}

# strings YAML would read as another type: they must arrive as the same strings
TYPED_LOOKING = {"zeros": "00", "kode": "96.71", "yes": "true", "nul": "null", "exp": "1e3", "date": "2026-01-01"}


@dataclass(frozen=True)
class Hostile:
    marker_dir: Path

    @property
    def strings(self) -> dict[str, str]:
        return {name: text.replace("{d}", str(self.marker_dir)) for name, text in TEMPLATES.items()}

    @property
    def typed_looking(self) -> dict[str, str]:
        return dict(TYPED_LOOKING)

    def ran(self) -> list[str]:
        """Names of the hostile strings that ran (their marker file exists)."""
        return sorted(p.name for p in self.marker_dir.iterdir()) if self.marker_dir.is_dir() else []


@pytest.fixture
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    marker_dir = tmp_path_factory.mktemp("ran")
    return Hostile(marker_dir)
