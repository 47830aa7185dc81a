"""The admin API: members."""

from __future__ import annotations

from guardian.api import Endpoints

endpoints = Endpoints("members")
