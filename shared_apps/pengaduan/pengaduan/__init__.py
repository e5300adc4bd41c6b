"""Pengaduan Masyarakat: layanan pengaduan warga untuk Pemda (aplikasi umum SPBE)."""

import os

__version__ = os.environ.get("APP_VERSION", "0.0.0-dev")
