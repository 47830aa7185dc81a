"""The admin JSON API under /api/v1, and its OpenAPI document generated from the same models.

Each area (`members`, `contacts`, ...) declares its endpoints on an `Endpoints` table with the
pydantic models of its query, body and answer. One dispatcher validates the input (422 with
field paths, 400 for unreadable JSON), calls the handler with an `Admin`, and writes the answer
through the answer model, so the document and the behaviour cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from guardian.admin import Admin, AdminError, invalid
from guardian.auth import principal
from guardian.state import SERVICE

PREFIX = "/api/v1"
M = TypeVar("M", bound=BaseModel)
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class ErrorBody(BaseModel):
    """Every error: a code, a sentence, and for invalid input the failing fields by path."""

    error: str
    detail: str
    fields: dict[str, str] | None = None


@dataclass(frozen=True)
class Call:
    """One API request as its handler sees it: already authenticated and validated."""

    request: web.Request
    admin: Admin
    path: dict[str, str]
    body: BaseModel | None
    query: BaseModel | None

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query


Handler = Callable[[Call], Awaitable[BaseModel | None]]


@dataclass(frozen=True)
class Endpoint:
    method: Method
    path: str
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200


@dataclass
class Endpoints:
    """The endpoints of one area, in the order they are declared."""

    tag: str
    items: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: Method,
        path: str,
        *,
        response: type[BaseModel] | None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        status: int = 200,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            self.items.append(
                Endpoint(method, path, handler, summary, self.tag, response, body, query, status)
            )
            return handler

        return register


def api_error(error: AdminError) -> web.Response:
    body = ErrorBody(error=error.error, detail=error.detail, fields=error.fields or None)
    return web.json_response(body.model_dump(exclude_none=True), status=error.status)


async def _read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    if not raw.strip():
        # Never taken as `{}`: an empty PUT would otherwise reset a policy to its defaults.
        raise AdminError(400, "unreadable", "this endpoint needs a JSON body")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AdminError(400, "unreadable", f"the body is not JSON: {error}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(error) from None


def _read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        raise invalid(error, "query") from None


def _dispatcher(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        try:
            call = Call(
                request=request,
                admin=Admin(request.app[SERVICE], principal(request)),
                path=dict(request.match_info),
                body=await _read_body(request, endpoint.body) if endpoint.body else None,
                query=_read_query(request, endpoint.query) if endpoint.query else None,
            )
            result = await endpoint.handler(call)
        except AdminError as error:
            return api_error(error)
        if result is None:
            return web.Response(status=204)
        return web.json_response(result.model_dump(mode="json"), status=endpoint.status)

    return dispatch


def setup(app: web.Application, areas: Iterable[Endpoints]) -> None:
    endpoints = [endpoint for area in areas for endpoint in area.items]
    document = openapi(endpoints)

    async def serve_document(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get(f"{PREFIX}/openapi.json", serve_document)
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, PREFIX + endpoint.path, _dispatcher(endpoint))

    async def unknown(request: web.Request) -> web.Response:
        return api_error(AdminError(404, "not_found", f"no API endpoint {request.path!r}"))

    app.router.add_route("*", PREFIX + "/{tail:.*}", unknown)


ERRORS = {
    400: "The body is not JSON",
    401: "Not logged in and no API token",
    403: "A session request without its CSRF token, or a child's login (their own page only)",
    404: "Not found",
    409: "Conflicts with the household as it is",
    422: "Invalid input, with the failing fields by path",
    503: "The database is unavailable; retry later",
}


#: The settings' policy models are what the API calls a policy's spec (`PolicySpec`, ...).
SCHEMA_NAMES = {
    f"{name}Settings": f"{name}Spec"
    for name in ("Policy", "QuietWindow", "Burst", "Repeated", "Breakthrough", "Storm")
}


class _Schemas(GenerateJsonSchema):
    """Each model's schema under the name the API gives it (`SCHEMA_NAMES`)."""

    def normalize_name(self, name: str) -> str:
        return super().normalize_name(SCHEMA_NAMES.get(name, name))

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        if json_schema.get("title") in SCHEMA_NAMES:
            json_schema["title"] = SCHEMA_NAMES[json_schema["title"]]
        return json_schema


def openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with every schema generated from the pydantic models."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorBody, "serialization")
    ]
    for endpoint in endpoints:
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
        if endpoint.response is not None:
            models.append((endpoint.response, "serialization"))
    schemas, definitions = models_json_schema(
        list(dict.fromkeys(models)),
        ref_template="#/components/schemas/{model}",
        schema_generator=_Schemas,
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "operationId": endpoint.handler.__name__,
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "parameters": _parameters(endpoint),
            "responses": _responses(endpoint, schemas),
        }
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schemas[(endpoint.body, "validation")]}},
            }
        paths.setdefault(PREFIX + endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Guardian admin API",
            "version": "1",
            "description": "The family admin's API: the same data and changes as the dashboard.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "guardian_session"},
            },
        },
        "security": [{"token": []}, {"session": []}],
    }


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_names(endpoint.path)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return parameters


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _responses(endpoint: Endpoint, schemas: dict[Any, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": schemas[(ErrorBody, "serialization")]}}
    responses: dict[str, Any] = {}
    if endpoint.response is None:
        responses["204"] = {"description": "Done"}
    else:
        responses[str(endpoint.status)] = {
            "description": "OK",
            "content": {
                "application/json": {"schema": schemas[(endpoint.response, "serialization")]}
            },
        }
    for status, description in ERRORS.items():
        if status == 400 and endpoint.body is None:
            continue
        responses[str(status)] = {"description": description, "content": error}
    return responses
