"""One JSON error shape for every 4xx answer of the management API.

`{"error": {"code": ..., "message": ..., "fields": {...}}}` — whether the refusal
came from authentication, request parsing, a service's model validation or a
database constraint, so scripts handle errors one way.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError

CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "rate_limited",
}
# Django's error codes for uniqueness: such a ValidationError means "already exists".
UNIQUE_CODES = {"unique", "unique_together"}
ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "enum": sorted({*CODES_BY_STATUS.values(), "error"})},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Field name → what is wrong with it.",
                },
            },
        }
    },
}
# What any operation may answer besides its success; the body is always ERROR_SCHEMA.
DOCUMENTED_ERRORS = {
    "400": "Malformed request (the body is not JSON).",
    "401": "Missing, malformed or revoked management token.",
    "403": "Your role may not do this.",
    "404": "No such object, or one of another tenant.",
    "409": "Conflicts with an existing object.",
    "422": "Invalid input; `fields` names each problem.",
}


class ApiError(Exception):
    """Raised by views and access checks; rendered as the shared error shape."""

    def __init__(
        self, status: int, message: str, *, fields: dict[str, str] | None = None, code: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.code = code or CODES_BY_STATUS.get(status, "error")


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found.")


def forbidden(message: str = "You may not do this.") -> ApiError:
    return ApiError(403, message)


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    message: str,
    *,
    fields: dict[str, str] | None = None,
    code: str = "",
) -> HttpResponse:
    body: dict[str, Any] = {
        "code": code or CODES_BY_STATUS.get(status, "error"),
        "message": message,
        "fields": fields or {},
    }
    return api.create_response(request, {"error": body}, status=status)


def _field_name(loc: tuple | list) -> str:
    # ninja locations look like ("body", "payload", "amount_usd") or ("query", "limit").
    parts = [str(part) for part in loc[1:]]
    if len(parts) > 1 and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(parts) or str(loc[0])


def _django_fields(exc: DjangoValidationError) -> dict[str, str]:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field" if name == "__all__" else name): " ".join(messages)
            for name, messages in exc.message_dict.items()
        }
    return {"non_field": " ".join(exc.messages)}


def _is_uniqueness(exc: DjangoValidationError) -> bool:
    if not hasattr(exc, "error_dict"):
        return False
    return any(error.code in UNIQUE_CODES for errors in exc.error_dict.values() for error in errors)


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared error shape to an OpenAPI schema, answered by every operation."""
    schema.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    content = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in DOCUMENTED_ERRORS.items():
                responses.setdefault(status, {"description": description, "content": content})
    return schema


def install_error_handlers(api: NinjaAPI) -> None:
    """Replace ninja's default 4xx bodies with the shared error shape."""

    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(
            api, request, exc.status, exc.message, fields=exc.fields, code=exc.code
        )

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(api, request, exc.status_code, str(exc))

    def request_invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields: dict[str, str] = {}
        for error in exc.errors:
            name = _field_name(error.get("loc", ("body",)))
            fields[name] = " ".join(filter(None, [fields.get(name), error.get("msg", "")]))
        return error_response(api, request, 422, "The request is not valid.", fields=fields)

    def model_invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        fields = _django_fields(exc)
        if _is_uniqueness(exc):
            return error_response(api, request, 409, "This already exists.", fields=fields)
        return error_response(api, request, 422, "The request is not valid.", fields=fields)

    def integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
        # Reached when a concurrent request won the race past full_clean().
        return error_response(api, request, 409, "This conflicts with an existing object.")

    def missing(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(api, request, 404, "Not found.")

    def denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(api, request, 403, str(exc) or "You may not do this.")

    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(NinjaValidationError, request_invalid)
    api.add_exception_handler(DjangoValidationError, model_invalid)
    api.add_exception_handler(IntegrityError, integrity)
    api.add_exception_handler(Http404, missing)
    api.add_exception_handler(ObjectDoesNotExist, missing)
    api.add_exception_handler(PermissionDenied, denied)
