#!/usr/bin/python
"""Write an app's release record on its target in one call (standard library only).
The work: module_utils/spbe_configure.py (record_files)."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_configure import ConfigureError, record_files

DOCUMENTATION = r"""
module: spbe_record
short_description: Write the release record's files (deploy spec, release file, current.json or part.json) in one call
description:
  - Each file is JSON exactly as C(value | to_nice_json) and a newline (indent 4, sorted keys,
    ASCII), mode 0644, replaced whole (written aside, renamed) and only when it differs.
  - C(deploys/<deploy_name>.json) when I(deploy_spec) is given (the folder made, 0755).
  - C(releases/<release_file>) and C(current.json) when I(record) is given (the app's first host).
  - C(part.json) when I(part) is given (another host of a data center).
  - Whether a new release is recorded at all is the play's decision (tasks/record.yml).
  - Returns C(written), the files written, relative to I(app_dir).
options:
  app_dir: {type: path, required: true}
  record: {type: dict}
  release_file: {type: str, description: file name in releases/}
  part: {type: dict}
  deploy_name: {type: str}
  deploy_spec: {type: dict}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "app_dir": {"type": "path", "required": True},
            "record": {"type": "dict"},
            "release_file": {"type": "str"},
            "part": {"type": "dict"},
            "deploy_name": {"type": "str"},
            "deploy_spec": {"type": "dict"},
        },
        required_by={"record": "release_file", "deploy_spec": "deploy_name"},
        supports_check_mode=True,
    )
    p = module.params
    try:
        written = record_files(p["app_dir"], record=p["record"], release_file=p["release_file"], part=p["part"],
                               deploy_name=p["deploy_name"], deploy_spec=p["deploy_spec"], check=module.check_mode)
    except (ConfigureError, OSError) as e:
        module.fail_json(msg=f"record: {e}", exception=traceback.format_exc())
    module.exit_json(changed=bool(written), written=written)


if __name__ == "__main__":
    main()
