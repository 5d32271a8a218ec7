"""The weekly digest: new opportunities that fit each opted-in holder, sent once by e-mail.

selection  who gets what (the engine's matches among what is new since their last digest)
message    the e-mail, from Jinja2 templates
tokens     signed unsubscribe tokens, and unsubscribing
sending    SMTP, or .eml files for a dry run
job        one run: select, compose, send, write the ledger, keep the summary
"""

from matcher.digest.job import DigestSummary, run_digest
from matcher.digest.tokens import InvalidToken, UnsubscribeOutcome, unsubscribe

__all__ = ["DigestSummary", "InvalidToken", "UnsubscribeOutcome", "run_digest", "unsubscribe"]
