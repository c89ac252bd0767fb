"""Distances on the WGS 84 sphere: they live in `feeds.geo` (the lowest layer, so feed validation can measure
without importing routing); re-exported here for the routing modules."""
from feeds.geo import *  # noqa: F401,F403
from feeds.geo import EARTH_RADIUS_M, haversine_m, local_xy_m  # noqa: F401
