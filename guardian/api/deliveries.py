"""The admin API: deliveries."""

from __future__ import annotations

from guardian.api import Endpoints

endpoints = Endpoints("deliveries")
