"""The admin API: activity."""

from __future__ import annotations

from guardian.api import Endpoints

endpoints = Endpoints("activity")
