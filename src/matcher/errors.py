"""Domain errors: each carries a message a person can act on.

The CLI and the service map these to exit codes and HTTP statuses, each in one place.
"""

from __future__ import annotations

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
