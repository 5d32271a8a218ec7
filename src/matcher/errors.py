"""Domain errors: each carries a message a person can act on.

The CLI and the service map these to exit codes and HTTP statuses, each in one place.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


class MatcherError(Exception):
    """Base class of every error the user can act on."""


class InvalidRecord(MatcherError):
    """A record breaks the data contract; ``problems`` lists (field, message) pairs."""

    def __init__(self, record: str, problems: list[tuple[str, str]]):
        self.record = record
        self.problems = problems
        detail = "; ".join(f"{field}: {message}" if field else message for field, message in problems)
        super().__init__(f"{record}: {detail}")


class InvalidFile(MatcherError):
    """An input file cannot be read at all (encoding, format, empty)."""


class NotFound(MatcherError):
    """An id names no stored record."""


class AlreadyExists(MatcherError):
    """Creating a record whose id is taken."""


class LocationUnresolved(MatcherError):
    """A location cannot be placed on the map."""


class OutOfScope(MatcherError):
    """An account acts on a record outside its territories."""


class SignInRefused(MatcherError):
    """A sign-in to the pages is refused: wrong address or password, or a locked account."""


class WriteConflict(MatcherError):
    """A write collides with a stored record (a concurrent create, a unique name)."""


class StoreUnavailable(MatcherError):
    """The database is locked for too long or cannot be reached: worth retrying."""


class NoticeNotSent(MatcherError):
    """An e-mail a person's action sends could not leave; nothing was recorded: worth retrying."""


def without_data(error: BaseException) -> str:
    """An unexpected error as a log line that names no person: the exception types of its chain
    and where they were raised (file, line, function), never their messages, which may quote
    a record's values (a database error quotes the SQL parameters)."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 5:
        frames = traceback.extract_tb(current.__traceback__)
        where = ""
        if frames:
            last = frames[-1]
            where = f" ({last.filename.rsplit('/', 2)[-1]}:{last.lineno}, {last.name})"
        parts.append(f"{type(current).__name__}{where}")
        current = current.__cause__ or current.__context__
    return " ← ".join(parts)


@dataclass(frozen=True)
class LookAlike:
    """A live offer an incoming one resembles: its id, title, publication date and similarity
    (0 to 1, see matcher.duplicates). Kept here, beside the error that carries it, so that this
    module imports nothing of the domain."""

    id: str
    title: str
    published: date
    similarity: float


class LooksLikeDuplicate(MatcherError):
    """Publishing would duplicate a live offer; ``look_alikes`` lists them, most similar first.

    Publishing anyway is a choice the person makes (``force``): nothing is written before.
    """

    def __init__(self, message: str, look_alikes: Sequence[LookAlike]):
        self.look_alikes = list(look_alikes)
        super().__init__(message)
