"""The app's state and preflight's facts in ONE program, so one SSH connection (standard
library only, Python 3.11; a script: ``spbe_share.remote.scripts``).

An upgrade of an app on a target of one host reads the app's state (``spbe_appstate``) and
then runs preflight (``spbe_preflight``); each is one SSH connection, ~1.4 s over an 80 ms
link (issue 21). When the controller knows preflight's request before it reads the state (the
bundle of the version asked is here already), it sends both requests here:

    {"state": {root, app, deploys, history, blobs}, "facts": {root, bind_address, ports, containers}}

and gets ``{"state": ..., "facts": ...}`` (each exactly what the script alone answers), or
``{"state": ..., "facts_error": "..."}`` when reading the facts failed (the controller then
runs preflight on its own). Both only read. The controller decides with the state first and
evaluates the facts only where preflight ran before: a state that stops the operation stops it
before anything the facts say is acted on.
"""

from __future__ import annotations

import json
import sys

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_appstate as appstate
    from ansible.module_utils import spbe_preflight as preflight
except ImportError:  # a script: python3 -c PROGRAM
    import spbe_appstate as appstate  # type: ignore[no-redef]
    import spbe_preflight as preflight  # type: ignore[no-redef]


def answer(request: dict) -> dict:
    r = request["state"]
    out = {"state": appstate.read_state(str(r["root"]), str(r["app"]), deploys=list(r.get("deploys") or []),
                                        history=int(r.get("history", 200)), blobs=bool(r.get("blobs", True)))}
    try:
        out["facts"] = preflight.facts(request["facts"])
    except Exception as exc:  # noqa: BLE001 - the state still answers; preflight runs on its own then
        out["facts_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(answer(json.loads(sys.stdin.read())), separators=(",", ":")) + "\n")
