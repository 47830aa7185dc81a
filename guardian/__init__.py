"""Guardian: a self-hosted notification guardian for a family.

This module is the public surface for plugin authors; everything else is internal.
"""

from guardian.plugin import (
    BadRequest,
    HookError,
    HookRequest,
    IncomingMessage,
    InvalidFields,
    PluginContext,
    PluginSettings,
    PushPlugin,
    Received,
    TooLarge,
    Unauthorized,
)

__version__ = "0.1.0"

__all__ = [
    "BadRequest",
    "HookError",
    "HookRequest",
    "IncomingMessage",
    "InvalidFields",
    "PluginContext",
    "PluginSettings",
    "PushPlugin",
    "Received",
    "TooLarge",
    "Unauthorized",
    "__version__",
]
