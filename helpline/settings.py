"""Settings: ``HELPLINE_*`` environment variables over ``config/helpline.toml``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("config/helpline.toml")


class SenderSettings(BaseModel):
    """How the outbox sender delivers texts."""

    concurrency: int = Field(8, ge=1, le=100)
    batch_size: int = Field(50, ge=1, le=1000)
    max_attempts: int = Field(8, ge=1, le=50)
    backoff_base_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(300.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    poll_seconds: float = Field(1.0, gt=0)
    request_timeout_seconds: float = Field(15.0, gt=0)


class RetentionSettings(BaseModel):
    """How long things are kept (days). Metadata for statistics is kept; content is not."""

    close_inactive_days: int = Field(14, ge=1)  # an untouched conversation closes
    bodies_days: int = Field(30, ge=1)  # message bodies, free-text answers, after close
    reply_address_days: int = Field(7, ge=1)  # where to reply, after last contact
    pseudonym_link_days: int = Field(365, ge=1)  # link between a contact's conversations
    audit_days: int = Field(2190, ge=365)  # audit events (six years)
    run_every_hours: float = Field(6.0, gt=0)


class Settings(BaseSettings):
    """Everything the service needs to know about where it runs."""

    model_config = SettingsConfigDict(
        env_prefix="HELPLINE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    env: Literal["development", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    trust_proxy_headers: bool = False
    log_level: str = "INFO"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str | None = None

    # Comma-separated, newest first. Fernet keys for values that must be readable again,
    # and "version:base64key" pairs for the keyed pseudonym of a phone number.
    encryption_keys: SecretStr | None = None
    pseudonym_keys: SecretStr | None = None

    default_region: str = "GB"
    max_body_chars: int = Field(4096, ge=160)
    flows_dir: Path = Path("flows")
    flow_for_channel: dict[str, str] = {
        "sms": "sms_triage",
        "whatsapp": "sms_triage",
        "webchat": "webchat_triage",
        "voice": "voice_ivr",
    }
    flow_reload_seconds: float = Field(2.0, gt=0)
    # While webhooks come at ``inbox_flood_rate`` a second or more and keep the event loop
    # busy, filing texts gets ``inbox_flood_share`` of it and the webhooks the rest: an
    # unanswered webhook is a text lost (Twilio does not send it again); a stored text is
    # filed, urgent first, as soon as the loop has time again.
    inbox_flood_rate: float = Field(1000.0, gt=0)
    inbox_flood_share: float = Field(0.02, gt=0, lt=1)
    lexicon_dir: Path = Path("config/lexicon")
    opening_hours_file: Path = Path("config/opening_hours.yaml")
    rota_file: Path = Path("config/rota.yaml")
    escalation_file: Path = Path("config/escalation.yaml")
    sender: SenderSettings = SenderSettings()
    retention: RetentionSettings = RetentionSettings()

    @field_validator("public_url", "twilio_api_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def effective_database_url(self) -> str:
        """Return the database URL, defaulting to a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'helpline.db').as_posix()}"

    @property
    def twilio_configured(self) -> bool:
        """Return whether real Twilio credentials are set."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def auth_token(self) -> str:
        """Return the token that signs webhooks (a fixed development token without Twilio)."""
        if self.twilio_auth_token:
            return self.twilio_auth_token.get_secret_value()
        return DEVELOPMENT_AUTH_TOKEN

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init arguments, then the environment, then the TOML file."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


# Used to sign and check webhooks when no Twilio account is configured (development,
# the simulator and the tests). Production refuses to start without a real token.
DEVELOPMENT_AUTH_TOKEN = "development-only-auth-token"  # noqa: S105 - not a secret


def load_settings(config_file: Path | str | None = None, **overrides: object) -> Settings:
    """Build settings from ``overrides``, the environment and the TOML file."""
    path = Path(config_file or os.environ.get("HELPLINE_CONFIG") or DEFAULT_CONFIG_FILE)

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path if path.is_file() else None)

    return FileSettings(**overrides)
