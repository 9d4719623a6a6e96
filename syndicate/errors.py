"""One exception tree for the whole service; the web layer maps it to HTTP in one place."""

from __future__ import annotations


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose."""

    http_status = 500


class NotFound(SyndicateError, LookupError):
    """Something a user asked for does not exist."""

    http_status = 404


class PostNotFound(NotFound):
    pass


class CategoryNotFound(NotFound):
    pass


class ShareCodeNotFound(NotFound):
    pass


class Gone(SyndicateError):
    """The thing existed once and was removed on purpose."""

    http_status = 410


class InvalidInput(SyndicateError, ValueError):
    """Input was rejected; the message names the file, field or parameter."""

    http_status = 400


class InvalidPost(InvalidInput):
    """A post could not be read: the message says which file or field and why."""

    def __init__(self, message: str, *, origin: str = "", field: str | None = None) -> None:
        self.origin = origin
        self.field = field
        super().__init__(message)

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.origin}: {message}" if self.origin else message


class ConfigError(SyndicateError):
    """A setting or configuration file is wrong."""


class StorageError(SyndicateError):
    """The database failed; the driver's error is chained as ``__cause__``."""

    http_status = 503


class StorageConflict(StorageError):
    """Another process wrote the same row first (a unique key): the transaction may be retried."""


class StorageFull(StorageError):
    """The disk under the database is full: nothing more is written until space is freed."""


class InvalidFields(InvalidInput):
    """Several fields of one input were rejected: ``fields`` maps each to its reason."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__(message)


class PostGone(Gone):
    """The post was deleted (pruned); its links answer 410, never 404."""


class UpstreamError(SyndicateError):
    """An upstream source failed: unreachable, slow, an HTTP error, or a body that is no feed."""

    http_status = 502

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ExportError(SyndicateError):
    """A static export could not be written: the message names the directory or URL."""


class Unauthorized(SyndicateError):
    """A write without a valid bearer token."""

    http_status = 401
