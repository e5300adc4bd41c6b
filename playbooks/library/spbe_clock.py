#!/usr/bin/python
"""Compare the target's clock with the controller's (standard library only)."""

from __future__ import annotations

import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_clock
short_description: Fail or warn when the target's clock is far from the controller's
description:
  - Bundle signatures, agreement (MoU/PKS) dates and release records depend on the clock.
    I(controller_epoch) is the controller's time (seconds since 1970, UTC) when the task was
    sent; the skew is the target's time minus it (positive = the target is ahead). The
    transfer of the module itself adds well under a second.
  - Fails past I(fail_seconds); returns a warning past I(warn_seconds). Changes nothing.
options:
  controller_epoch: {type: float, required: true}
  warn_seconds: {type: float, default: 60}
  fail_seconds: {type: float, default: 600}
"""

FIX = "set the target's clock (NTP: timedatectl set-ntp true; by hand: date -s) and run again"


def judge(skew: float, warn: float, fail: float) -> tuple[str, str]:
    """(level, message): level is ok, warn or fail."""
    side = "ahead of" if skew > 0 else "behind"
    text = f"the target's clock is {abs(skew):.0f} s {side} this machine's"
    if abs(skew) > fail:
        return "fail", f"{text} (more than {fail:.0f} s): signatures and agreement dates depend on it; {FIX}"
    if abs(skew) > warn:
        return "warn", f"{text} (more than {warn:.0f} s); {FIX}"
    return "ok", f"{text} (within {warn:.0f} s)"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "controller_epoch": {"type": "float", "required": True},
            "warn_seconds": {"type": "float", "default": 60},
            "fail_seconds": {"type": "float", "default": 600},
        },
        supports_check_mode=True,
    )
    p = module.params
    skew = round(time.time() - p["controller_epoch"], 1)
    level, message = judge(skew, p["warn_seconds"], p["fail_seconds"])
    if level == "fail":
        module.fail_json(msg=message, skew_seconds=skew, level=level)
    if level == "warn":
        module.warn(message)
    module.exit_json(changed=False, skew_seconds=skew, level=level, message=message)


if __name__ == "__main__":
    main()
