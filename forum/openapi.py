"""The OpenAPI 3.1 description of ``/api/v1/``, served at ``/api/v1/openapi.json``.

Written by hand, next to the handlers, and kept honest by tests: every ``/api/v1/`` route in
the router must be described here and every path here must exist in the router.
"""

from __future__ import annotations

from typing import Any

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "Bad request", 401: "Not signed in, or second factor missing",
             403: "Forbidden (role, CSRF or cross-site)", 404: "Not found",
             409: "Conflict", 413: "Body too large", 415: "Not JSON",
             422: "Invalid input", 429: "Throttled (see Retry-After)"}
    return {str(s): {"description": texts[s],
                     "content": {"application/problem+json": {"schema": PROBLEM}}}
            for s in statuses}


def _op(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
        public: bool = False, errors: tuple[int, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **_errors(*errors)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
    if public:
        op["security"] = []
    return op


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


STR = {"type": "string"}
NULLABLE_STR = {"type": ["string", "null"]}
UUID = {"type": "string", "format": "uuid"}


def document(base_url: str) -> dict[str, Any]:
    me = {"$ref": "#/components/schemas/Me"}
    token = {"$ref": "#/components/schemas/Token"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "DIEF Forum API", "version": "1",
                 "description": "JSON API of DIEF Forum. Errors are application/problem+json "
                                "(RFC 9457). Scripts authenticate with a personal access "
                                "token (Authorization: Bearer); browser clients use the "
                                "session cookie and send X-CSRF-Token on unsafe requests."},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": {
            "/api/v1/session": {
                "post": _op("Sign in (password, optionally a TOTP or recovery code)",
                            {"201": {"description": "Signed in",
                                     "content": _json(_obj({"user": me, "csrf_token": STR},
                                                           ["user", "csrf_token"]))}},
                            body=_obj({"email": STR, "password": STR, "totp": STR},
                                      ["email", "password"]),
                            public=True, errors=(401, 403, 413, 415, 422, 429)),
                "delete": _op("Sign out", {"204": {"description": "Signed out"}},
                              errors=(401, 403)),
            },
            "/api/v1/me": {
                "get": _op("The signed-in account",
                           {"200": {"description": "Account", "content": _json(me)}},
                           errors=(401,)),
            },
            "/api/v1/me/totp": {
                "post": _op("Start TOTP enrolment (re-authentication may be required)",
                            {"201": {"description": "Pending secret",
                                     "content": _json(_obj({"secret": STR, "otpauth_uri": STR},
                                                           ["secret", "otpauth_uri"]))}},
                            body=_obj({"password": STR, "current_code": STR}),
                            errors=(401, 403, 415, 422)),
            },
            "/api/v1/me/totp/confirm": {
                "post": _op("Confirm TOTP enrolment with a code; returns recovery codes",
                            {"200": {"description": "Enrolled",
                                     "content": _json(_obj({"recovery_codes": {
                                         "type": "array", "items": STR}, "csrf_token": STR},
                                         ["recovery_codes"]))}},
                            body=_obj({"code": STR}, ["code"]),
                            errors=(401, 403, 409, 415, 422)),
            },
            "/api/v1/invitations": {
                "post": _op("Invite someone (administrators)",
                            {"201": {"description": "Invitation",
                                     "content": _json({"$ref":
                                                       "#/components/schemas/Invitation"})}},
                            body=_obj({"email": STR, "role": {
                                "enum": ["admin", "moderator", "facilitator", "delegate",
                                         "observer"]}, "state": NULLABLE_STR},
                                ["email", "role"]),
                            errors=(401, 403, 409, 415, 422)),
            },
            "/api/v1/invitations/{token}/accept": {
                "parameters": [{"name": "token", "in": "path", "required": True,
                                "schema": STR}],
                "post": _op("Accept an invitation: choose a display name and password",
                            {"201": {"description": "Account created",
                                     "content": _json(_obj({"user_id": UUID}, ["user_id"]))}},
                            body=_obj({"display_name": STR, "password": STR},
                                      ["display_name", "password"]),
                            public=True, errors=(403, 404, 409, 415, 422)),
            },
            "/api/v1/tokens": {
                "get": _op("Your personal access tokens",
                           {"200": {"description": "Tokens",
                                    "content": _json(_obj({"tokens": {"type": "array",
                                                                      "items": token}},
                                                          ["tokens"]))}},
                           errors=(401,)),
                "post": _op("Create a personal access token (shown once)",
                            {"201": {"description": "Token",
                                     "content": _json({"allOf": [token, _obj(
                                         {"token": STR}, ["token"])]})}},
                            body=_obj({"name": STR}, ["name"]),
                            errors=(401, 403, 409, 415, 422)),
            },
            "/api/v1/tokens/{token_id}": {
                "parameters": [{"name": "token_id", "in": "path", "required": True,
                                "schema": STR}],
                "delete": _op("Revoke a personal access token",
                              {"204": {"description": "Revoked"}}, errors=(401, 403, 404)),
            },
            "/api/v1/openapi.json": {
                "get": _op("This document", {"200": {"description": "OpenAPI 3.1",
                                                     "content": _json({"type": "object"})}},
                           public=True),
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "dief_session"},
            },
            "schemas": {
                "Problem": _obj({"type": STR, "title": STR, "status": {"type": "integer"},
                                 "detail": STR, "code": STR},
                                ["type", "title", "status", "code"]),
                "Me": _obj({"id": UUID, "email": STR, "display_name": STR, "role": STR,
                            "state": NULLABLE_STR, "language": NULLABLE_STR,
                            "second_factor_passed": {"type": "boolean"},
                            "totp_enrolled": {"type": "boolean"}},
                           ["id", "email", "display_name", "role", "second_factor_passed",
                            "totp_enrolled"]),
                "Token": _obj({"id": UUID, "name": STR, "created_at": STR,
                               "last_used_at": NULLABLE_STR},
                              ["id", "name", "created_at"]),
                "Invitation": _obj({"id": UUID, "email": STR, "role": STR,
                                    "state": NULLABLE_STR, "token": STR, "expires_at": STR,
                                    "url": STR},
                                   ["id", "email", "role", "token", "expires_at", "url"]),
            },
        },
    }
