"""docs/connecting.md stays true: its sources are valid settings, and its SmsForwarder template
is what the sms_forwarder plugin reads best."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from guardian.plugin import PluginRegistry
from guardian.testing import plugin_instance
from plugins.sms_forwarder import SmsForwarderPlugin, sign
from tests.plugins import QUIET, hook_request

DOC = (Path(__file__).parent.parent.parent / "docs" / "connecting.md").read_text()
#: What the doc says to put into the environment, per plugin.
SECRETS = {
    "sms_forwarder": {"secret": "a-long-random-secret"},
    "home_assistant": {"access_token": "ha-token"},
    "telegram_poll": {"bot_token": "7012345678:AAH3k9Vq2mXw8ZrT5yU1oP4aS6dF7gH9jKl"},
}


def blocks(language: str) -> list[str]:
    return [
        re.sub(r"^ {3}", "", block, flags=re.MULTILINE)
        for block in re.findall(rf"```{language}\n(.*?)```", DOC, re.DOTALL)
    ]


@pytest.mark.parametrize("block", blocks("toml"))
def test_each_source_in_the_doc_is_valid(block: str) -> None:
    [source] = tomllib.loads(block)["sources"]
    models = PluginRegistry.discover().settings_models()
    own = {k: v for k, v in source.items() if k not in ("id", "plugin", "member")}
    models[source["plugin"]].model_validate({**own, **SECRETS.get(source["plugin"], {})})


async def test_the_smsforwarder_template_gives_the_sender_title_and_text() -> None:
    [template] = blocks("json")
    secret = SECRETS["sms_forwarder"]["secret"]
    timestamp = str(int(QUIET.timestamp() * 1000))
    # SmsForwarder's replacements (WebhookUtils.kt): [from] as is, the rest JSON-escaped.
    values = {
        "[from]": "com.whatsapp",
        "[title]": "Sophie",
        "[org_content]": json.dumps("are you awake?\nplease")[1:-1],
        "[receive_time]": "2026-11-25 22:59:59",
        "[timestamp]": timestamp,
        "[sign]": sign(secret, timestamp).replace("+", "%2B").replace("/", "%2F"),
        "[device_mark]": "Mia's phone",
    }
    body = template.strip()
    for placeholder, value in values.items():
        body = body.replace(placeholder, value)
    plugin = plugin_instance(SmsForwarderPlugin, {"secret": secret})
    [message] = (await plugin.receive(hook_request(body.encode()))).messages
    assert message.sender_address == "whatsapp:name:Sophie"
    assert message.text == "are you awake?\nplease"
