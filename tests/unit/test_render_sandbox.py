"""Bundle config templates render in jinja2's sandbox (issue 7 item 2).

Known sandbox escapes fail with one line naming the template file and line, exit 6, and never
run: each would ``touch`` a marker file if it got through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spbe_share.catalog.models import Entry
from spbe_share.errors import ExitCode, InvalidInput, VerificationFailed
from spbe_share.plans.render import render_configs

TEMPLATE = "templates/demo/app.ini.j2"

ESCAPES = {
    "cycler_globals": "{{ cycler.__init__.__globals__.os.popen('touch MARK').read() }}",
    "joiner_globals": "{{ joiner.__init__.__globals__['os'].popen('touch MARK') }}",
    "namespace_globals": "{{ namespace.__init__.__globals__.os.system('touch MARK') }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].popen('touch MARK').read() }}",
    "lipsum_code": "{{ lipsum.__code__ }}",
    "self_globals": "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch MARK') }}",
    "self_private": "{{ self._TemplateReference__context }}",
    "str_mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "int_class": "{{ (1).__class__.__base__.__subclasses__() }}",
    "value_class": "{{ pemda_name.__class__.__mro__ }}",
    "loop_over_mro": "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
    "attr_filter": "{{ cycler | attr('__init__') | attr('__globals__') }}",
    "format_method": "{{ '{0.__class__.__mro__}'.format(pemda_name) }}",
    "format_globals": "{{ '{0.__init__.__globals__[os]}'.format(cycler) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': pemda_name}) }}",
    "format_filter": "{{ '%s' | format(cycler.__init__.__globals__) }}",
    "list_append": "{% set x = [] %}{{ x.append('touch MARK') }}",
    "dict_update": "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "bound_self": "{{ cycler.reset.__self__.__init__ }}",
    "huge_repeat": "{{ 'x' * 100000000 }}",
    "huge_power": "{{ 2 ** 100000 }}",
}


def entry(tmp_path: Path) -> Entry:
    from test_deploy import make_entry

    return make_entry()


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_sandbox_escapes_fail_with_file_and_line(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "ran"
    text = ESCAPES[name].replace("MARK", str(marker))
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text(f"[app]\nname = {{{{ pemda_name }}}}\nx = {text}\n")
    with pytest.raises(VerificationFailed) as err:
        render_configs(entry(tmp_path), template_root=tmp_path,
                       variables={"pemda_name": "Kota Sorong", "spbe_version": "1"})
    msg = err.value.message
    assert msg.startswith(f"{TEMPLATE}:3: refused by the template sandbox: "), msg
    assert "\n" not in msg and "(components web config /etc/demo/app.ini)" in msg
    assert err.value.exit_code == ExitCode.VERIFICATION_FAILED == 6
    assert not marker.exists()


def test_huge_range_is_refused_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text("a\n{% for i in range(10 ** 9) %}x{% endfor %}\n")
    with pytest.raises(VerificationFailed, match=rf"^{TEMPLATE}:2: over the template limits: range\(\) of more than "):
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})


# Issue 17 finding 6: what the sandbox allowed but no config file needs. Each case exhausted the
# operator's memory or CPU (900 MB strings, MemoryError tracebacks, loops until killed).
LIMITED = {
    "center": ("{{ 'x' | center(900000000) }}", "needs more than 512 MiB of memory"),
    "center_var": ("{{ pemda_name | center(900000000) }}", "needs more than 512 MiB of memory"),
    "replace": ("{{ ('x' * 1000000) | replace('x', 'x' * 1000) }}", "needs more than 512 MiB of memory"),
    "indent": ("{{ ('x\n' * 500000) | indent(2000) }}", "needs more than 512 MiB of memory"),
    "ljust": ("{{ pemda_name.ljust(900000000) }}", "needs more than 512 MiB of memory"),
    "format": ("{{ '%900000000s' % pemda_name }}", "needs more than 512 MiB of memory"),
    "nested_range": ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                     "more than 1000000 loop steps"),
    "nested_strings": ("{% for a in 'x' * 100000 %}{% for b in 'y' * 100000 %}{% endfor %}{% endfor %}",
                       "more than 1000000 loop steps"),
    "output": ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output larger than 8 MiB"),
    "length": ("{{ ('x' * 900000000) | length }}", "refused by the template sandbox"),
}


@pytest.mark.parametrize("name", sorted(LIMITED))
def test_templates_over_the_limits_exit_6_in_one_line_and_spare_the_operator(tmp_path: Path, name: str) -> None:
    import resource
    import time

    text, reason = LIMITED[name]
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text(f"[app]\nx = {text}\n")
    started = time.monotonic()
    with pytest.raises(VerificationFailed) as err:
        render_configs(entry(tmp_path), template_root=tmp_path, variables={"pemda_name": "Kota Sorong"})
    msg = err.value.message
    assert msg.startswith(f"{TEMPLATE}:"), msg
    assert reason in msg and "\n" not in msg and "(components web config /etc/demo/app.ini)" in msg, msg
    assert err.value.exit_code == ExitCode.VERIFICATION_FAILED == 6
    assert time.monotonic() - started < 25
    # the huge strings were never built in this process (its peak stays far below them)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 600 * 1024


def test_a_template_that_runs_too_long_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spbe_share import sandbox

    monkeypatch.setattr(sandbox, "LIMITS", sandbox.Limits(seconds=2, steps=10**12))
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
    with pytest.raises(VerificationFailed, match=rf"^{TEMPLATE}: over the template limits: rendering took longer "
                                                 r"than 2 s; nothing was run$"):  # fmt: skip
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})


def test_templates_and_their_includes_are_read_without_following_links(tmp_path: Path) -> None:
    secret = tmp_path / "operator" / "id_ed25519"
    secret.parent.mkdir()
    secret.write_text("OPERATOR-SECRET")
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / "templates" / "demo" / "key.j2").symlink_to(secret)
    (tmp_path / TEMPLATE).write_text("a\n{% include 'templates/demo/key.j2' %}\n")
    with pytest.raises(VerificationFailed, match=rf"^{TEMPLATE}:2: refused by the template sandbox: "
                                                 r"templates/demo/key\.j2: a symlink"):  # fmt: skip
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})
    (tmp_path / TEMPLATE).unlink()
    (tmp_path / TEMPLATE).symlink_to(secret)
    with pytest.raises(VerificationFailed, match=rf"^{TEMPLATE}: refused by the template sandbox: .*a symlink"):
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})


def test_all_templates_of_an_operation_share_one_renderer_and_its_limits(tmp_path: Path) -> None:
    from test_deploy import make_entry

    e = make_entry()
    web = e.components[0]
    many = [web.config[0].model_copy(update={"path": f"/etc/demo/{i}.ini"}) for i in range(6)]
    e = e.model_copy(update={"components": [web.model_copy(update={"config": many})]})
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text("{% for i in range(size) %}{{ 'x' * 1024 }}{% endfor %}\n{{ pemda_name }}\n")
    got = render_configs(e, template_root=tmp_path, variables={"pemda_name": "Kota Sorong", "size": 1024})
    assert [c["file"] for c in got] == [f"{i}-{i}.ini" for i in range(6)]
    assert all(len(c["content"]) == (1 << 20) + 13 and c["content"].endswith("\nKota Sorong\n") for c in got)
    # 2 MiB each is fine alone, but the six together go over the 8 MiB of one operation
    with pytest.raises(VerificationFailed, match=rf"^{TEMPLATE}: over the template limits: output larger than "
                                                 r"8 MiB \(components web config /etc/demo/3.ini\)"):  # fmt: skip
        render_configs(e, template_root=tmp_path, variables={"pemda_name": "Kota Sorong", "size": 2048})


def test_ordinary_templates_and_hostile_values_render_as_text(tmp_path: Path) -> None:
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text(
        "{% set items = kategori.split(';') | map('trim') | list %}name={{ pemda_name | tojson }}\n"
        "n={{ items | length }} first={{ items[0] }} {{ '%s-%s' | format('a', 'b') }} {{ '{}:{}'.format(1, 2) }}\n"
        "{% for i in range(3) %}{{ loop.index }}{% endfor %} {{ 2 ** 10 }} {{ '-' * 3 }}\n"
    )
    values: dict[str, Any] = {"pemda_name": "{{ cycler.__init__.__globals__ }}", "kategori": "A; B"}
    got = render_configs(entry(tmp_path), template_root=tmp_path, variables=values)
    assert got[0]["content"] == (
        'name="{{ cycler.__init__.__globals__ }}"\nn=2 first=A a-b 1:2\n123 1024 ---\n'
    )


def test_undefined_and_syntax_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / TEMPLATE).write_text("a\nb\n{{ missing }}\n")
    with pytest.raises(InvalidInput, match=rf"^{TEMPLATE}:3: 'missing' is undefined"):
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})
    (tmp_path / TEMPLATE).write_text("a\n{% if %}\n")
    with pytest.raises(InvalidInput, match=rf"^{TEMPLATE}:2: template error: "):
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})
