"""The admin API: contacts."""

from __future__ import annotations

from guardian.api import Endpoints

endpoints = Endpoints("contacts")
