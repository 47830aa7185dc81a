"""Guardian: a self-hosted notification guardian for a family.

This module is the public surface for plugin authors; everything else is internal, except
`guardian.testing`, the test kit for plugins (imported on its own: it starts real apps).
"""

from guardian.plugin import (
    ENTRY_POINT_GROUP,
    BadRequest,
    HookError,
    HookRequest,
    IncomingMessage,
    InvalidFields,
    Plugin,
    PluginContext,
    PluginSettings,
    PullBatch,
    PullPlugin,
    PushPlugin,
    Received,
    SourceError,
    TooLarge,
    Unauthorized,
    field_errors,
    json_object,
    validated,
)

__version__ = "0.1.0"

__all__ = [
    "ENTRY_POINT_GROUP",
    "BadRequest",
    "HookError",
    "HookRequest",
    "IncomingMessage",
    "InvalidFields",
    "Plugin",
    "PluginContext",
    "PluginSettings",
    "PullBatch",
    "PullPlugin",
    "PushPlugin",
    "Received",
    "SourceError",
    "TooLarge",
    "Unauthorized",
    "__version__",
    "field_errors",
    "json_object",
    "validated",
]
