"""Where digests go: an SMTP server, or .eml files for a dry run.

A transport's ``send`` returns only once the message is accepted (SMTP: the server's 250
after DATA; dry run: the file written). Failures come in two kinds, which the job treats
differently: ``Refused`` concerns this one message (a permanent 5xx on its recipient or
content), the run goes on; ``TransportFailed`` concerns the server (unreachable, temporary
4xx, connection lost, login refused), the run stops and the next run sends the rest.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from matcher.config import Settings

TIMEOUT_S = 60
#: Reconnect after this many messages: many servers cap the messages per connection.
MESSAGES_PER_CONNECTION = 100
#: A server refusing this many messages in a row is not refusing recipients, it is broken.
MAX_REFUSALS_IN_A_ROW = 10


class Refused(Exception):
    """The server permanently refused this message; others may still go."""


class TransportFailed(Exception):
    """The server cannot take messages now; nothing more should be tried in this run."""


class Transport(Protocol):
    def send(self, message: EmailMessage, label: str) -> None: ...

    def close(self) -> None: ...


#: An e-mail address inside a server's reply (« 550 <nathalie@example.org>: unknown user »).
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


def without_addresses(text: str) -> str:
    """A server's reply with the addresses it quotes replaced: run summaries and logs name
    holders by their internal id only."""
    return _ADDRESS.sub("<adresse>", text)


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = (
        error.smtp_error.decode("utf-8", "replace")
        if isinstance(error.smtp_error, bytes)
        else error.smtp_error
    )
    return without_addresses(f"{error.smtp_code} {text}".strip())


class SmtpTransport:
    """One SMTP connection, opened on the first message, STARTTLS and login as configured."""

    def __init__(self, settings: Settings, timeout: float = TIMEOUT_S):
        self.settings = settings
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._refusals = 0

    def _where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.smtp_port == 465:
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except smtplib.SMTPAuthenticationError as error:
            raise TransportFailed(
                f"identifiants SMTP refusés par {self._where()} ({_reply(error)}) : "
                "vérifiez MATCHER_SMTP_USER et MATCHER_SMTP_PASSWORD"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransportFailed(f"connexion au serveur SMTP {self._where()} impossible : {error}") from None
        return smtp

    def send(self, message: EmailMessage, label: str) -> None:
        if self._smtp is not None and self._sent_on_connection >= MESSAGES_PER_CONNECTION:
            self.close()
        if self._smtp is None:
            self._smtp = self._connect()
            self._sent_on_connection = 0
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            detail = "; ".join(
                without_addresses(f"{code} {text.decode('utf-8', 'replace')}")
                for code, text in error.recipients.values()
            )
            self._refused_or_failed(all(code >= 500 for code in codes), f"destinataire refusé ({detail})")
        except smtplib.SMTPSenderRefused as error:
            # The sender is the same for every message: no use going on.
            self._drop()
            raise TransportFailed(
                f"expéditeur refusé par {self._where()} ({_reply(error)}) : vérifiez MATCHER_MAIL_FROM"
            ) from None
        except smtplib.SMTPResponseException as error:
            self._refused_or_failed(error.smtp_code >= 500, f"message refusé ({_reply(error)})")
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise TransportFailed(
                f"connexion au serveur SMTP {self._where()} perdue : {without_addresses(str(error))}"
            ) from None
        else:
            self._sent_on_connection += 1
            self._refusals = 0

    def _refused_or_failed(self, permanent: bool, detail: str) -> None:
        if not permanent:
            self._drop()
            raise TransportFailed(
                f"le serveur SMTP {self._where()} demande de réessayer plus tard : {detail}"
            )
        self._refusals += 1
        if self._refusals >= MAX_REFUSALS_IN_A_ROW:
            self._drop()
            raise TransportFailed(
                f"le serveur SMTP {self._where()} a refusé {self._refusals} messages de suite ; "
                f"dernier refus : {detail}"
            )
        raise Refused(detail)

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


class DirectoryTransport:
    """Dry run: each message becomes ``DIR/NNNNN-<holder>.eml``, readable by any mail client."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def send(self, message: EmailMessage, label: str) -> None:
        self.count += 1
        path = self.directory / f"{self.count:05d}-{label}.eml"
        try:
            path.write_bytes(message.as_bytes())
        except OSError as error:
            raise TransportFailed(f"écriture de {path} impossible : {error.strerror}") from None

    def close(self) -> None:
        pass
