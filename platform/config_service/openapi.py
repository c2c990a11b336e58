"""Schema post-processing: every operation documents the one error shape and
the error statuses the API can answer with."""

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
    "400": "The request is invalid; `fields` names what.",
    "401": "Missing, invalid or expired credentials.",
    "403": "The caller's role does not allow this.",
    "404": "Not found, or not visible to the caller.",
    "405": "Method not allowed.",
    "409": "Conflicts with what exists, e.g. a name already taken.",
    "413": "The request body is too large.",
    "429": "Too many requests; see Retry-After.",
}
# Writes that take If-Match / expected_version.
PRECONDITION_STATUS = ("412", "The config is no longer at the expected version.")


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    shared = components.setdefault("responses", {})
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status, description in {**ERROR_STATUSES, PRECONDITION_STATUS[0]: PRECONDITION_STATUS[1]}.items():
        shared[f"Error{status}"] = {"description": description, "content": error}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            statuses = list(ERROR_STATUSES)
            if method in ("put", "delete", "post"):
                statuses.append(PRECONDITION_STATUS[0])
            responses = operation.setdefault("responses", {})
            for status in statuses:
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
