"""Playbook variables and inventories as *data*: Ansible never templates a string we pass.

ansible-core 2.19 (data tagging) templates a string only when it is tagged trusted, and every
string of a ``-e @file`` extra-vars file or an inventory file is trusted. So a Pemda name like
``#jinja2:variable_start_string:'[['...`` + ``[[ lookup('pipe', 'id') ]]`` would run ``id`` on
the controller the moment a task used it.

We write JSON in which EVERY string is ``{"__ansible_unsafe": "<text>"}``. Ansible's JSON
decoder (``ansible/_internal/_json/_profiles/_legacy.py``, ``deserialize_unsafe``) turns that
into a plain, *untrusted* ``str`` of exactly that text: never a template, whatever it holds,
and never another type. YAML's ``!unsafe`` tag is not enough: ``AnsibleConstructor.
construct_yaml_unsafe`` (``ansible/_internal/_yaml/_constructor.py``) re-resolves the implicit
type of the scalar, so ``!unsafe '00'`` is the integer 0 and a kode wilayah ``!unsafe '96.71'``
the float 96.71 (tests/integration/test_untemplated.py shows both). Mapping keys stay plain
JSON strings: Ansible does not template keys (same test), and ours are slugs anyway.

Numbers, booleans and null stay JSON scalars. The file works by hand:
``ansible-playbook ... -e @<run>/env/extravars``. :func:`load_vars` reads it back (unwrapped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

UNSAFE = "__ansible_unsafe"


def as_data(value: Any) -> Any:
    """``value`` with every string wrapped as untrusted; tuples become lists (JSON)."""
    if isinstance(value, str):
        return {UNSAFE: value}
    if isinstance(value, Mapping):
        return {str(k): as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"cannot pass a {type(value).__name__} to a playbook: {value!r}")


def unwrap(value: Any) -> Any:
    """The inverse of :func:`as_data`."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE} and isinstance(value[UNSAFE], str):
            return value[UNSAFE]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def dump_vars(data: Mapping[str, Any]) -> str:
    """JSON text of ``data`` with every string untrusted (see the module docstring)."""
    return json.dumps(as_data(dict(data)), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load_vars(text: str) -> Any:
    return unwrap(json.loads(text))


__all__ = ["UNSAFE", "as_data", "dump_vars", "load_vars", "unwrap"]
