"""Image configs written by spbe-share (pure)."""

from __future__ import annotations

import datetime as dt
import json

from spbe_share.imaging import assemble, finalize

RAW = {
    "Hostname": "abc123", "Image": "sha256:" + "9" * 64, "Cmd": ["python3", "-m", "app"], "Entrypoint": None,
    "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "User": "10001:10001", "WorkingDir": "/app",
    "ExposedPorts": {"8080/tcp": {}}, "Labels": {"from.base": "x"}, "Volumes": None, "OnBuild": None,
}


def test_runtime_config_keeps_what_runs_and_drops_the_build_record() -> None:
    assert assemble.runtime_config(RAW) == {
        "Cmd": ["python3", "-m", "app"], "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "User": "10001:10001",
        "WorkingDir": "/app", "ExposedPorts": {"8080/tcp": {}}, "Labels": {"from.base": "x"},
    }  # fmt: skip


def test_config_bytes_are_deterministic_and_labels_only_touch_the_config() -> None:
    def config(version: str) -> bytes:
        return assemble.image_config(
            runtime=assemble.runtime_config(RAW), diff_ids=["sha256:" + "1" * 64, "sha256:" + "2" * 64],
            history=["base", "code"], created=assemble.rfc3339(dt.date(2026, 6, 15)),
            labels={"org.opencontainers.image.version": version}, env={"APP_VERSION": version},
            architecture="amd64",
        )  # fmt: skip

    one, again, other = config("1.0.0"), config("1.0.0"), config("1.1.0")
    assert one == again and one != other
    doc = json.loads(one)
    assert doc["created"] == "2026-06-15T00:00:00Z"
    assert doc["config"]["Env"] == ["PATH=/usr/bin", "LANG=C.UTF-8", "APP_VERSION=1.0.0"]
    assert doc["config"]["Labels"] == {"from.base": "x", "org.opencontainers.image.version": "1.0.0"}
    assert [h["created_by"] for h in doc["history"]] == ["base", "code"]
    assert json.loads(other)["rootfs"] == doc["rootfs"]  # same layers: the version is config only
    assert b" " not in one.split(b'"created_by"')[0]  # compact


def test_merge_env_replaces_in_place() -> None:
    assert assemble.merge_env(["A=1", "B=2"], {"B": "3", "C": "4"}) == ["A=1", "B=3", "C=4"]


def test_present_prefix_and_from_prefix() -> None:
    chains = {("a",), ("a", "b"), ("x",)}
    assert assemble.present_prefix(["a", "b", "c"], chains) == 2
    assert assemble.present_prefix(["c"], chains) == 0
    assert finalize.from_prefix(["a", "b", "c"], ["a"]) == 1
    assert finalize.from_prefix(["a", "b", "c"], ["z"]) == 0
    assert finalize.cache_key(["sha256:1"]) != finalize.cache_key(["sha256:2"])
