"""The TLS reverse proxy of an app (pure): nginx's config, its upstream file, its container.

With ``--domain``, an app's web component is reached only through the proxy: nginx (Debian's
package, image :mod:`spbe_share.imaging.proxy`) publishes 443 (and 80, which only redirects)
on the target's public (bind) address, terminates TLS with the Pemda's certificate and sends
the requests to the web component over the app's private Docker network (``web:8080``). The
app's own ports are published on loopback only (:data:`APP_BIND`), for the target's health
checks.

On the target (``<app dir>``):

* ``proxy/nginx.conf`` (:func:`nginx_conf`): listeners, TLS settings (TLS 1.2 and 1.3,
  forward-secret AEAD ciphers, HSTS), ``include upstream.conf``;
* ``proxy/upstream.conf`` (:func:`upstream_conf`): ONE line, the address requests go to: the
  web component's container by its (canonical) name, never the component's network alias (a
  new container started beside the old one shares that alias, and Docker's DNS would send
  requests to both). nginx resolves it through Docker's DNS, so a recreated container is found.
  Switching the upstream (a zero-downtime upgrade: a new container beside the old one) is a
  rewrite of this one file and ``nginx -s reload``: nginx starts new workers with the new
  upstream and lets the old ones finish their requests; no connection is dropped;
* ``proxy/fullchain.pem`` and ``proxy/tls.json`` (domain, expiry, fingerprint; no key);
* ``secrets/TLS_PRIVATE_KEY`` (0600, a secret of the deployment: sealed in backups like the
  others) and its copy ``secrets/_proxy/TLS_PRIVATE_KEY`` (0400), the only secret the proxy
  container sees (its folder is mounted read-only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..records import state
from ..records.deployspec import LOOPBACK
from .containers import labels_for, start_order, url_host

if TYPE_CHECKING:
    from ..catalog.models import Component, Entry

APP_BIND = LOOPBACK  # where an app's ports are published when the proxy fronts it
KEY_SECRET = "TLS_PRIVATE_KEY"
PROXY_DIR = "proxy"  # under the app's folder
MOUNT_CONF = "/etc/spbe-proxy"
MOUNT_KEY = "/run/secrets/spbe-proxy"
DOCKER_DNS = "127.0.0.11"  # the engine's resolver inside a user-defined network
HSTS_MAX_AGE = 31536000  # one year (no includeSubDomains: a Pemda's other hosts are not ours)
# Mozilla's "intermediate" TLS 1.2 ciphers (forward secrecy, AEAD only); TLS 1.3 has its own
CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
])  # fmt: skip


def proxy_container_name(target: str, app: str) -> str:
    """``spbe-<target>-<app>--proxy``: no component's name starts with '-', so never a component's."""
    return f"spbe-{target}-{app}--proxy"


def web_component(entry: Entry) -> tuple[Component, int]:
    """The component the domain serves, and its container port: the component named ``web``
    if it publishes a tcp port, else the first (in start order) that does."""
    candidates = [(c, p.container) for c in start_order(entry.components) for p in c.ports if p.protocol == "tcp"]
    if not candidates:
        raise InvalidInput(f"--domain: {entry.id} has no component with a published tcp port for the proxy to serve")
    named = [x for x in candidates if x[0].name == "web"]
    return (named or candidates)[0]


def upstream_conf(host: str, port: int) -> str:
    """``proxy/upstream.conf``: where requests go (a container's name on the app's network, and port)."""
    return (
        "# spbe-share: where the proxy sends requests. A switch rewrites this file and runs\n"
        "# nginx -s reload (new workers take it; the old ones finish their requests).\n"
        f"set $spbe_upstream http://{host}:{int(port)};\n"
    )


def nginx_conf(domain: str, *, health_path: str = "/") -> str:
    """``proxy/nginx.conf`` for ``domain`` (already checked: DNS labels only)."""
    return f"""\
# spbe-share: the TLS reverse proxy of this app (rendered; do not edit, spbe-share rewrites it)
worker_processes auto;
pid /run/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    server_tokens off;
    access_log off;
    client_max_body_size 64m;
    resolver {DOCKER_DNS} valid=5s ipv6=off;
    resolver_timeout 5s;

    server {{
        listen 80 default_server;
        server_name _;
        location / {{ return 301 https://{domain}$request_uri; }}
    }}

    server {{
        listen 443 ssl http2 default_server;
        server_name {domain};
        ssl_certificate {MOUNT_CONF}/fullchain.pem;
        ssl_certificate_key {MOUNT_KEY}/{KEY_SECRET};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {CIPHERS};
        ssl_prefer_server_ciphers off;
        ssl_session_timeout 1d;
        ssl_session_cache shared:SPBE:10m;
        ssl_session_tickets off;
        add_header Strict-Transport-Security "max-age={HSTS_MAX_AGE}" always;

        include {MOUNT_CONF}/upstream.conf;
        location / {{
            proxy_pass $spbe_upstream;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header Connection "";
            proxy_read_timeout 120s;
        }}
        location = /.spbe-proxy-health {{
            access_log off;
            proxy_pass $spbe_upstream{health_path};
        }}
    }}
}}
"""


def proxy_vars(
    entry: Entry, *, target: str, root: str, bind_address: str, version: str, domain: str, image: dict[str, Any],
    cert_pem: str, info: dict[str, str],
) -> dict[str, Any]:
    """``spbe_proxy``: what ``tasks/proxy.yml`` writes and starts (no key: the key is staged on
    the target by :mod:`spbe_share.remote.secretsync`, never in a playbook's variables)."""
    component, port = web_component(entry)
    health = component.health.path if component.health is not None and component.health.type == "http" else "/"
    adir = state.app_dir(root, entry.id)
    bind = url_host(bind_address)
    return {
        "container": proxy_container_name(target, entry.id),
        "image": image,
        "domain": domain,
        "dir": f"{adir}/{PROXY_DIR}",
        "key_dir": f"{adir}/secrets/_proxy",
        "key_secret": KEY_SECRET,
        "nginx_conf": nginx_conf(domain, health_path=health),
        "upstream_conf": upstream_conf(state.container_name(target, entry.id, component.name), port),
        "cert": cert_pem,
        "info": info,
        "ports": [f"{bind}:443:443/tcp", f"{bind}:80:80/tcp"],
        "mounts": [
            {"type": "bind", "source": f"{adir}/{PROXY_DIR}", "target": MOUNT_CONF, "read_only": True},
            {"type": "bind", "source": f"{adir}/secrets/_proxy", "target": MOUNT_KEY, "read_only": True},
        ],
        "labels": {**labels_for(entry.id, version, target), "id.go.spbe.role": "tls-proxy"},
        "health_url": f"https://{bind}/.spbe-proxy-health",
        "url": f"https://{domain}/",
    }


__all__ = [
    "APP_BIND",
    "KEY_SECRET",
    "nginx_conf",
    "proxy_container_name",
    "proxy_vars",
    "upstream_conf",
    "web_component",
]
