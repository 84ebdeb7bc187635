"""Errors a user can cause. Each renders as one clear line: what, where, and what to do."""

from __future__ import annotations


class LiuError(Exception):
    """Base: `str(error)` is the one line shown to the user."""


class SessionFileError(LiuError):
    """A session file that cannot be read; names the file and, where known, the line."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class SessionNotFound(LiuError):
    pass


class SessionBusy(LiuError):
    """Another liu process is writing a reply into this session."""


class ConfigError(LiuError):
    pass


class ProviderError(LiuError):
    """A provider or network failure.

    `reason` is the short token stored in a `status` trailer (`network`, `http 429`,
    `timeout`, ...); `retryable` says whether the retry policy may try again.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
