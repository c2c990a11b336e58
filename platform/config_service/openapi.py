"""Schema post-processing: every operation documents the one error shape, the
error statuses the API can answer with, and the headers its answers carry."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Messages per input field.",
                },
            },
            "additionalProperties": True,
        }
    },
}

ERROR_STATUSES = {
    "400": "The request is invalid; `fields` names what. A value its config's JSON Schema refuses: code "
           "`schema_violation`, `fields.value` listing \"<JSON pointer>: <message>\" (at most 20).",
    "401": "Missing, invalid or expired credentials.",
    "403": "The caller's role does not allow this.",
    "404": "Not found, or not visible to the caller.",
    "405": "Method not allowed.",
    "406": "The Accept header asks for something other than JSON.",
    "409": "Conflicts with what exists, e.g. a name already taken.",
    "413": "The request body is too large.",
    "429": "Too many requests; see Retry-After.",
}
# Operations with a request body: a body that is not JSON.
UNSUPPORTED_MEDIA_STATUS = ("415", "The request body is not `application/json`.")
# Writes that take If-Match / expected_version.
PRECONDITION_STATUS = ("412", "The config is no longer at the expected version; `current_version` says which it is.")
PRECONDITION_SCHEMA = {
    "allOf": [
        {"$ref": "#/components/schemas/Error"},
        {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["current_version"],
                    "properties": {"current_version": {"type": "integer", "minimum": 0}},
                }
            },
        },
    ]
}
HEADERS = {
    "X-Request-ID": {
        "description": "The request's id: the caller's own X-Request-ID if it sent a usable one, else a new one.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
}


def _with_header(response: dict, name: str) -> None:
    response.setdefault("headers", {})[name] = {"$ref": f"#/components/headers/{name}"}


def add_error_responses(result, generator, request, public):
    """Every operation documents the one error shape, the error statuses it
    can answer with, and the headers every answer carries."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["PreconditionFailedError"] = PRECONDITION_SCHEMA
    components["headers"] = HEADERS
    shared = components.setdefault("responses", {})
    statuses = {**ERROR_STATUSES, UNSUPPORTED_MEDIA_STATUS[0]: UNSUPPORTED_MEDIA_STATUS[1],
                PRECONDITION_STATUS[0]: PRECONDITION_STATUS[1]}
    for status, description in statuses.items():
        schema = "PreconditionFailedError" if status == PRECONDITION_STATUS[0] else "Error"
        shared[f"Error{status}"] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        _with_header(shared[f"Error{status}"], "X-Request-ID")
    _with_header(shared["Error429"], "Retry-After")
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for response in responses.values():
                if "$ref" not in response:
                    _with_header(response, "X-Request-ID")
            added = list(ERROR_STATUSES)
            if "requestBody" in operation:
                added.append(UNSUPPORTED_MEDIA_STATUS[0])
            if method in ("put", "delete", "post"):
                added.append(PRECONDITION_STATUS[0])
            for status in added:
                responses.setdefault(status, {"$ref": f"#/components/responses/Error{status}"})
    return result


def forbid_unknown_fields(result, generator, request, public):
    """Request bodies refuse fields they do not define (apps/input.py); say so."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


def simplify_nullable_any(result, generator, request, public):
    """A nullable JSON field renders as oneOf [{}, null], which null matches
    twice and so fails validation; {} alone already admits null."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("oneOf") == [{}, {"type": "null"}]:
                del node["oneOf"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result


# A character that is not whitespace to JSON Schema (ECMA \\s) nor to Python's str.strip().
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
JWT = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$"
AUTH_INPUT_PATTERNS = {
    "TokenObtainPairRequest": {"username": NOT_BLANK, "password": NOT_BLANK},
    "TokenRefreshRequest": {"refresh": JWT},
    "TokenBlacklistRequest": {"refresh": JWT},
}


def constrain_auth_inputs(result, generator, request, public):
    """The token endpoints come from simplejwt, whose fields trim whitespace and
    so refuse blank strings; their schema says what they accept."""
    schemas = result.get("components", {}).get("schemas", {})
    for component, patterns in AUTH_INPUT_PATTERNS.items():
        for field, pattern in patterns.items():
            schemas[component]["properties"][field]["pattern"] = pattern
    return result
