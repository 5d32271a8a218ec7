"""The officers' reminders: offers that expire soon or went stale, e-mailed once, with links.

message  the e-mail to one officer, with its signed « Prolonger » and « Archiver » links
job      one run: who gets what, compose, send, write the ledger, keep the summary
actions  what a link does once confirmed on its page: prolong or archive
"""

from matcher.reminders.actions import (
    LinkOutcome,
    OfferLink,
    archive_by_link,
    archive_refusal,
    offer_link,
    prolong_by_link,
    prolong_refusal,
)
from matcher.reminders.job import ReminderSummary, run_reminders

__all__ = [
    "LinkOutcome",
    "OfferLink",
    "ReminderSummary",
    "archive_by_link",
    "archive_refusal",
    "offer_link",
    "prolong_by_link",
    "prolong_refusal",
    "run_reminders",
]
