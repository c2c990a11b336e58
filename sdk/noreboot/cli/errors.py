"""What ends an ``hq`` command with exit 1 and one line on stderr."""

from noreboot.transport import HttpResponse


class HqError(Exception):
    """Anything that ends the command with exit 1 and its text as one line on stderr."""


class ApiFailure(HqError):
    """The API answered with an error: ``STATUS CODE: MESSAGE [field: messages; ...]``."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None) -> None:
        text = f"{status} {code}: {message}"
        if fields:
            text += " " + "; ".join(
                f"{key}: {' '.join(str(m) for m in messages) if isinstance(messages, list) else messages}".rstrip(".")
                for key, messages in fields.items()
            )
        super().__init__(" ".join(text.split()))  # one line, whatever the server put in it
        self.status = status
        self.code = code

    @classmethod
    def of(cls, response: HttpResponse) -> "ApiFailure":
        detail = response.error_detail()
        return cls(
            response.status,
            detail.code or "error",
            detail.message or response.reason or "no error detail in the response",
            detail.fields,
        )
