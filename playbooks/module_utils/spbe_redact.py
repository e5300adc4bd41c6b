"""Runs ON the target (standard library only, Python 3.11): secret values redacted from text
before it leaves the target.

Every value found in the files under a deployment's secrets folder (its secrets, including a
rotation's old and new values) is replaced by ``[secret NAME]``, also when it appears
URL-encoded. Values shorter than 6 characters are not secrets spbe-share generates and are left
alone. Used by the health-failure logs (module ``spbe_logs``) and ``spbe-share logs``
(script ``spbe_applogs``): one copy of the rule.
"""

import os
from urllib.parse import quote, quote_plus

MIN_SECRET = 6


def secret_values(folder):
    """(name, value) of every secret file under ``folder`` (longest values first)."""
    out = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as f:
                    value = f.read(1 << 16).decode("utf-8", "replace").strip()
            except OSError:
                continue
            if len(value) >= MIN_SECRET:
                label = name.split(".")[0] if name.endswith((".old", ".new")) else name
                out.append((label, value))
    return sorted(set(out), key=lambda nv: -len(nv[1]))


def redact(text, secrets):
    """``text`` with each of ``secrets`` (from :func:`secret_values`) replaced by its name."""
    for name, value in secrets:
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            text = text.replace(form, "[secret " + name + "]")
    return text
