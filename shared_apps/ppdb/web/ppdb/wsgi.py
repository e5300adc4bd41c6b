"""The WSGI application gunicorn's workers load (``ppdb.wsgi:application``)."""

from __future__ import annotations

import logging

from . import app_version
from .app import create_app
from .config import load

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
application = create_app(load(), app_version())
