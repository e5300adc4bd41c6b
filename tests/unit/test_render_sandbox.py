"""Bundle config templates render in jinja2's sandbox (issue 7 item 2).

Known sandbox escapes fail with one line naming the template file and line, exit 6, and never
run: each would ``touch`` a marker file if it got through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spbe_share.catalog.models import Entry
from spbe_share.deploy.render import render_configs
from spbe_share.errors import ExitCode, InvalidInput, VerificationFailed

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
    with pytest.raises(InvalidInput, match=rf"^{TEMPLATE}:2: template error: Range too big"):
        render_configs(entry(tmp_path), template_root=tmp_path, variables={})


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
