"""Exceptions that reach the user as one clear line. Every expected failure is a TrackerError."""


class TrackerError(Exception):
    """A failure the user can act on; its message is a single line."""


class ConfigError(TrackerError):
    """A malformed query or claim file, or a bad setting."""


class HttpError(TrackerError):
    """The network or an API failed after the allowed retries, or answered with an error."""

    def __init__(self, message: str, *, exhausted: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.exhausted = exhausted  # every retry failed: treat the service as down for the rest of this update
        self.status = status  # the HTTP status of a refusal (a 4xx answered once), when there was one


class ApiError(TrackerError):
    """An API answered, but with an error in its body (E-utilities <ERROR>, a malformed payload)."""


class StoreError(TrackerError):
    """The database cannot be opened, is corrupt, or is locked by another update."""
