"""The error a request is refused with: its HTTP status, a message a person can act on, and
details such as the valid values (the JSON body is `{"error": message, **details}`)."""

from typing import Any


class RequestError(Exception):
    """A request the API refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
