"""The generic webhook body (PRODUCT.md): one message object or an array of up to 500.

It is also the message format of `guardian simulate` scenarios, so it lives in the core; the
`webhook` plugin adds authentication around it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from guardian.plugin import (
    MAX_MESSAGES,
    BadRequest,
    IncomingMessage,
    InvalidFields,
    TooLarge,
    field_errors,
)

MAX_BATCH = MAX_MESSAGES
MAX_TEXT = 4096


def _id_text(value: Any) -> Any:
    # Many forwarders send numeric ids; an id is an id.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Sender(_Body):
    id: Id
    name: str | None = Field(None, max_length=200)


class Conversation(_Body):
    id: Id | None = None
    title: str | None = Field(None, max_length=200)
    group: bool = False


class WebhookMessage(_Body):
    id: Id
    to: str | None = None
    network: str = Field("webhook", pattern=r"^[a-z0-9_]{1,32}$")
    sender: Sender = Field(alias="from")
    conversation: Conversation | None = None
    text: str = ""
    sent_at: AwareDatetime | None = None

    def incoming(self) -> IncomingMessage:
        conversation = self.conversation or Conversation()
        return IncomingMessage(
            external_id=self.id,
            network=self.network,
            sender_id=self.sender.id,
            sender_name=self.sender.name,
            text=self.text[:MAX_TEXT],
            sent_at=self.sent_at,
            conversation_id=conversation.id,
            conversation_title=conversation.title,
            group=conversation.group,
            to=self.to,
        )


_one = TypeAdapter(WebhookMessage)
_many = TypeAdapter(list[WebhookMessage])


def parse_body(body: bytes) -> list[IncomingMessage]:
    """The messages in a webhook body, or a HookError saying exactly what is wrong."""
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise BadRequest(f"the body is not JSON: {error}") from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except ValueError as error:  # a number of more digits than Python converts
        raise BadRequest(f"the body is not JSON Guardian can read: {error}") from None
    if isinstance(document, list):
        if len(document) > MAX_BATCH:
            raise TooLarge(f"at most {MAX_BATCH} messages per request, got {len(document)}")
        if not document:
            raise InvalidFields([{"path": "(root)", "message": "an empty array has no messages"}])
        adapter: TypeAdapter[Any] = _many
    elif isinstance(document, dict):
        adapter = _one
    else:
        raise InvalidFields([{"path": "(root)", "message": "expected an object or an array"}])
    try:
        parsed = adapter.validate_python(document)
    except ValidationError as error:
        raise InvalidFields(field_errors(error)) from None
    messages = parsed if isinstance(parsed, list) else [parsed]
    return [m.incoming() for m in messages]
