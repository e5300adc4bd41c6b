"""Distance from home to school: the great-circle distance (haversine) between two points
given in decimal degrees (WGS 84, as a phone's GPS or a map gives them), in whole metres."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

# Indonesia's extent with a margin: a point outside is a typing error (swapped lat/lon,
# a missing minus sign), not a home or a school in the Pemda.
LAT_RANGE = (-11.5, 6.5)
LON_RANGE = (94.5, 141.5)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Metres between (lat1, lon1) and (lat2, lon2), rounded to the nearest metre."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))))


def parse_coordinate(lat: object, lon: object, *, what: str = "koordinat") -> tuple[float, float]:
    """(lat, lon) as floats inside Indonesia; ValueError with an Indonesian message otherwise."""
    try:
        la, lo = float(str(lat).strip().replace(",", ".")), float(str(lon).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"{what}: lintang dan bujur harus angka desimal, mis. -0.0263 dan 109.3425") from None
    if not (math.isfinite(la) and math.isfinite(lo)):
        raise ValueError(f"{what}: lintang dan bujur harus angka desimal")
    if not (LAT_RANGE[0] <= la <= LAT_RANGE[1] and LON_RANGE[0] <= lo <= LON_RANGE[1]):
        raise ValueError(
            f"{what}: ({la}, {lo}) di luar wilayah Indonesia; periksa lintang (-11..6) dan bujur (95..141)"
        )
    return la, lo
