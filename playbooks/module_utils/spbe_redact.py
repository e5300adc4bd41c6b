"""Runs ON THE TARGET (standard library only, Python 3.11): what must not leave a target.

One place for redaction before text leaves a target (the health-failure logs of ``spbe_logs``,
the support bundle of ``spbe_support``):

- ``secret_values(folder)``: every secret value of the install (the files under
  ``<app dir>/secrets``, a rotation's old and new values included), longest first;
  ``redact_secrets(text, secrets)`` replaces each, also URL-encoded, by ``[secret NAME]``;
- ``PERSONAL``: personal data found in any app (e-mail addresses, Indonesian phone numbers,
  NIK: the 16-digit population number); ``personal_rules(extra)`` adds an entry's own rules
  (``support.redact``: checked by the controller, no nested repetition);
  ``redact_personal(text, rules)`` replaces each match by ``[NAME]``;
- ``redact_tree(value, ...)``: the same for the strings of a JSON value (facts the target
  reports as numbers stay numbers).
"""

import os
import re
from urllib.parse import quote, quote_plus

MIN_SECRET = 6

# (name, pattern): NIK first (16 digits), then phone numbers (a NIK is not a phone number)
PERSONAL = (
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ("nik", r"(?<![0-9])[0-9]{16}(?![0-9])"),
    ("phone", r"(?<![0-9A-Za-z])(?:\+62|62|0)[ .-]?8[0-9]{1,2}(?:[ .-]?[0-9]{3,4}){2}[0-9]{0,2}(?![0-9])"),
)


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


def redact_secrets(text, secrets):
    for name, value in secrets:
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            text = text.replace(form, "[secret " + name + "]")
    return text


def personal_rules(extra=()):
    """The default rules and ``extra`` ([{name, pattern}]), compiled."""
    rules = [(name, re.compile(pattern)) for name, pattern in PERSONAL]
    for rule in extra:
        rules.append((str(rule["name"]), re.compile(str(rule["pattern"]))))
    return rules


def redact_personal(text, rules):
    for name, pattern in rules:
        text = pattern.sub("[" + name + "]", text)
    return text


def redact(text, secrets, rules):
    """Secrets first (a secret may look like personal data), then personal data."""
    return redact_personal(redact_secrets(text, secrets), rules)


def redact_tree(value, secrets, rules):
    """A JSON value with every string (keys too) redacted; numbers, booleans and null kept as
    they are (a disk of 62,812,345,678 bytes is not a phone number)."""
    if isinstance(value, str):
        return redact(value, secrets, rules)
    if isinstance(value, dict):
        return {redact(str(k), secrets, rules): redact_tree(v, secrets, rules) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, secrets, rules) for v in value]
    return value
