"""The admin API: sources."""

from __future__ import annotations

from guardian.api import Endpoints

endpoints = Endpoints("sources")
