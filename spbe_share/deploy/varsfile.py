"""Write playbook variables as a YAML *data* file; strings that could be Jinja are ``!unsafe``.

ansible-core 2.19 templates strings that arrive as extra vars, so a Pemda name or a rendered
config file containing ``{{`` would be evaluated as Jinja. Tagging such strings ``!unsafe``
(Ansible's own marker for data) makes Ansible use them verbatim. Only strings holding a ``{``
are tagged: ansible-core re-resolves the type of an ``!unsafe`` scalar, so ``!unsafe '00'``
would become the integer 0 (a kode wilayah "96.71" a float); plain strings are quoted by
``yaml.dump`` and stay strings. The file is produced by
``yaml.dump`` from a Python structure (never by string formatting) and works by hand:
``ansible-playbook ... -e @vars.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class _UnsafeDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "{" not in value:
        return yaml.SafeDumper.represent_str(dumper, value)
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("!unsafe", value, style=style)


def _mapping(dumper: yaml.SafeDumper, value: Mapping[Any, Any]) -> yaml.Node:
    pairs = []
    for k in sorted(value, key=str):
        key_node = yaml.SafeDumper.represent_str(dumper, str(k))  # keys stay plain
        pairs.append((key_node, dumper.represent_data(value[k])))
    return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=False)


_UnsafeDumper.add_representer(str, _str)
_UnsafeDumper.add_representer(dict, _mapping)


def dump_unsafe(data: Mapping[str, Any]) -> str:
    header = "---\n# spbe-share playbook variables (data: strings that could be Jinja are !unsafe, never templated)\n"
    return header + yaml.dump(dict(data), Dumper=_UnsafeDumper, allow_unicode=True, width=1000)
