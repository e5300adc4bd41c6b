#!/usr/bin/python
"""Install Debian packages from a local folder only, with no network (standard library only)."""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_offline_apt
short_description: Install what the target lacks from a flat local apt repository, offline
description:
  - I(needs) is a list of needs, each a list of alternative package names; a need is met
    when one of its alternatives is installed (dpkg status C(ii)). The first alternative of
    every unmet need is installed.
  - The target's own apt sources and package lists are not used (an offline data center has
    no mirror): apt runs with I(repo) as its only source (C(deb [trusted=yes] file:REPO ./),
    its C(Packages) index and the .deb files written by spbe_provision_unpack) and keeps its
    lists and cache under I(state_dir). apt itself resolves against what the target has, so
    only what is missing is installed, and it refuses before changing anything when a
    dependency cannot be met.
  - C(state=query) only reports the unmet needs (C(missing)); it never changes anything.
options:
  needs: {type: list, elements: list, required: true}
  repo: {type: path, description: folder holding Packages and the .deb files (state=present)}
  state_dir: {type: path, description: private apt lists and cache (state=present)}
  state: {type: str, choices: [present, query], default: present}
"""


def installed_packages(module: AnsibleModule, names: list[str]) -> set[str]:
    rc, out, _ = module.run_command(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\n", *names])
    found = set()
    for line in out.splitlines():
        name, _, status = line.partition("\t")
        if status.startswith("ii"):
            found.add(name.split(":", 1)[0])
    return found


def apt_options(repo_sources: str, state_dir: str) -> list[str]:
    pairs = [
        ("Dir::Etc::SourceList", repo_sources),
        ("Dir::Etc::SourceParts", os.path.join(state_dir, "empty.d")),
        ("Dir::State::Lists", os.path.join(state_dir, "lists")),
        ("Dir::Cache::archives", os.path.join(state_dir, "archives")),
        ("Dir::Cache::pkgcache", ""),
        ("Dir::Cache::srcpkgcache", ""),
        ("Acquire::Languages", "none"),
        ("APT::Sandbox::User", "root"),
        ("APT::Install-Recommends", "false"),
        ("APT::Install-Suggests", "false"),
        ("Dpkg::Options::", "--force-confold"),
    ]
    out: list[str] = []
    for key, value in pairs:
        out += ["-o", f"{key}={value}"]
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "needs": {"type": "list", "elements": "list", "required": True},
            "repo": {"type": "path"},
            "state_dir": {"type": "path"},
            "state": {"type": "str", "choices": ["present", "query"], "default": "present"},
        },
        required_if=[("state", "present", ["repo", "state_dir"])],
        supports_check_mode=True,
    )
    needs = [[str(n) for n in alts] for alts in module.params["needs"] if alts]
    names = sorted({n for alts in needs for n in alts})
    have = installed_packages(module, names)
    missing = [alts[0] for alts in needs if not any(n in have for n in alts)]
    met = {alts[0]: next(n for n in alts if n in have) for alts in needs if any(n in have for n in alts)}
    if module.params["state"] == "query" or not missing or module.check_mode:
        module.exit_json(changed=bool(missing) and module.params["state"] == "present", missing=missing, met=met,
                         installed=[])
    repo, state_dir = module.params["repo"], module.params["state_dir"]
    for sub in ("empty.d", "lists/partial", "archives/partial"):
        os.makedirs(os.path.join(state_dir, sub), mode=0o755, exist_ok=True)
    sources = os.path.join(state_dir, "sources.list")
    with open(sources, "w", encoding="utf-8") as f:
        f.write(f"deb [trusted=yes] file:{repo} ./\n")
    options = apt_options(sources, state_dir)
    env = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C", "APT_LISTCHANGES_FRONTEND": "none"}
    rc, out, err = module.run_command(["apt-get", *options, "-q", "update"], environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"apt-get update of {repo} failed: {(err or out).strip().splitlines()[-1:]}", stderr=err)
    # a run stopped inside dpkg (Ctrl-C, a cut connection, a power cut) leaves packages unpacked
    # but not configured, and apt refuses everything until they are: finish that first
    rc, out, err = module.run_command(["dpkg", "--configure", "-a"], environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"dpkg --configure -a (finishing an interrupted install) failed: {(err or out).strip()[-500:]}",
                         stdout=out, stderr=err)
    before = installed_packages(module, [])
    rc, out, err = module.run_command(
        ["apt-get", *options, "-q", "-y", "--no-install-recommends", "install", *missing], environ_update=env
    )
    if rc != 0:
        lines = [ln for ln in (err + "\n" + out).splitlines() if ln.strip()]
        why = [ln for ln in lines if ln.startswith("E:") or "Depends:" in ln] or lines[-3:]
        module.fail_json(msg="offline install failed: " + " | ".join(why[-5:]), stdout=out, stderr=err)
    after = installed_packages(module, [])
    module.exit_json(changed=True, missing=missing, met=met, installed=sorted(after - before))


if __name__ == "__main__":
    main()
