"""One settings object for the whole system (env prefix ``GRIDCREW_``).

Every service reads its connection strings and knobs from here; nothing else
reads the environment directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / "var" / "secrets.env"
"""The generated secrets of a development checkout (``./dev``, ``gridcrew secrets generate``)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GRIDCREW_",
        env_file=(SECRETS_FILE, ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = "postgresql://postgres@127.0.0.1:5432/gridcrew"
    """The stack's database. Tests create databases of their own. With the HA cluster, a
    libpq multi-host URL (``h1:5441,h2:5442/gridcrew?target_session_attrs=read-write``)."""
    database_read_url: str | None = None
    """Read-only traffic (``GET /v1/kpi``, ``gridcrew report``) on a standby: a multi-host
    URL with ``target_session_attrs=prefer-standby`` falls back to the primary when the
    standby is down. Unset: the primary (docs/scale-out.md)."""

    mqtt_url: str = "mqtt://127.0.0.1:1884"
    """The project's own Mosquitto instance (see deploy/mosquitto)."""
    mqtt_tls_port: int = 8884

    # The three secrets have no default: every service refuses to start without them
    # (gridcrew.secret_policy), unless ``dev`` is set.
    device_secret: str = ""
    """Provisioning secret: a device's broker password is HMAC(secret, device id)."""
    service_password: str = ""
    """Broker password of the service accounts (gateway, dispatcher, api)."""
    jwt_secret: str = ""
    """Signing key of the API's tokens (HS256)."""
    dev: bool = False
    """A development machine: weak secrets are accepted with a warning and missing ones
    are generated into var/secrets.env. Never set it where anyone else can connect."""
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    demo_password: str = "gridcrew"
    """Password of the demo users (dispatcher, admin, crew-01..12) from seed-demo."""

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 1
    data_dir: Path = ROOT / "var"
    """Photos, signatures, broker persistence and generated secrets live below this."""
    photo_max_bytes: int = 25 * 1024 * 1024
    photo_max_pixels: int = 50_000_000
    """Width x height of a photo; more is refused (422) before anything decodes it."""
    json_max_bytes: int = 1024 * 1024
    """A JSON request body (a sign-off may have 4 MiB, a sync batch its own limit)."""
    sync_max_bytes: int = 8 * 1024 * 1024
    """The body of one ``POST /v1/sync`` batch."""
    storage_url: str = ""
    """Where photos and signatures are kept: empty = the folder ``data_dir/photos``;
    ``s3://bucket/optional/prefix`` = an S3 bucket or an S3-compatible store."""
    s3_endpoint_url: str | None = None
    """An S3-compatible server (MinIO, Ceph, ...); none = AWS S3 itself."""
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    """With the key id; both unset = boto3's own credential chain (env, profile, role)."""
    checkin_radius_m: float = 150.0
    lookup_limit_per_minute: int = 20
    lookup_limit_per_number: int = 5
    """Customer lookups of one application, work order or complaint number a minute, from
    all clients together: guessing its phone digits stays slow whatever the address."""
    trusted_proxies: str = ""
    """Comma-separated addresses of the reverse proxies whose X-Forwarded-For uvicorn
    believes; empty = none (every client is its own TCP peer)."""
    login_free_failures: int = 5
    """Wrong passwords for one account before each further attempt waits (1 s, 2 s, ...)."""
    login_client_free_failures: int = 20
    """The same for one client address, whichever accounts it tries."""
    login_max_delay_s: int = 900

    dispatch_time_limit_s: float = 2.0
    dispatch_debounce_s: float = 0.5
    dispatch_divert_threshold_min: float = 5.0
    osrm_url: str | None = None

    gateway_batch_rows: int = 5000
    gateway_flush_ms: int = 25
    gateway_max_future_s: int = 300
    gateway_max_payload_bytes: int = 256 * 1024

    local_timezone: str = "Asia/Shanghai"
    """The utility's local time zone (IANA name): every time a person reads is shown in it,
    and "today" for reports, KPIs and dispatch is the local day."""

    # ---- notification delivery (gridcrew notify; docs/channels.md)
    notify_webhook_url: str | None = None
    """The SMS gateway's (or WeChat / 95598 platform's) URL for channel ``sms``; none = not
    delivered (``gridcrew up`` points it at its demo receiver)."""
    notify_webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key of the webhook's ``X-GridCrew-Signature``; required with the URL."""
    notify_smtp_host: str | None = None
    """SMTP server for channel ``email``; none = e-mail not delivered."""
    notify_smtp_port: int = 25
    notify_smtp_starttls: bool = False
    notify_smtp_user: str | None = None
    notify_smtp_password: SecretStr | None = None
    notify_smtp_from: str = "gridcrew@localhost"
    notify_vapid_subject: str = "mailto:gridcrew@localhost"
    """VAPID ``sub`` claim of Web Push; the key pair is made once in ``data_dir/vapid/``."""
    notify_max_attempts: int = 8
    notify_backoff_base_s: float = 10.0
    notify_backoff_max_s: float = 3600.0
    notify_timeout_s: float = 10.0
    notify_batch: int = 20
    notify_poll_s: float = 1.0
    notify_reminder_hour: int = Field(default=18, ge=0, le=23)
    """Local hour, the day before, at which an appointment reminder goes out."""
    reliability_momentary_min: float = Field(default=5.0, gt=0)
    """Interruptions shorter than this are momentary (MAIFI), longer ones sustained (SAIFI,
    SAIDI): 5 min as in IEEE 1366; 3 where the regulator counts from 3 minutes."""
    log_format: Literal["text", "json"] = "text"
    """Log lines: readable text, or one JSON object a line (gridcrew/logs.py)."""
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"
    """Where the metrics ports listen (gridcrew/metrics.py; docs/operations.md)."""
    api_metrics: bool = True
    """The API counts its requests and serves /metrics (false only to measure the cost)."""
    api_access_log: bool = True
    """One log line per API request (tokens in its query string masked)."""
    gateway_metrics_port: int | None = None
    """None: no metrics server; with --workers N, worker i serves port + i."""
    dispatch_metrics_port: int | None = None
    modbus_metrics_port: int | None = None

    map_tile_url: str | None = Field(
        default=None, description="XYZ tile URL; none = own layers only"
    )

    @field_validator("storage_url")
    @classmethod
    def _storage_url_is_s3_or_empty(cls, url: str) -> str:
        if url and not (url.startswith("s3://") and url[5:].split("/", 1)[0]):
            raise ValueError(
                f"GRIDCREW_STORAGE_URL={url!r}: use s3://bucket[/prefix], or leave it empty"
                " for the local folder"
            )
        return url

    @property
    def local_zone(self) -> ZoneInfo:
        return ZoneInfo(self.local_timezone)

    @property
    def photo_dir(self) -> Path:
        return self.data_dir / "photos"


@lru_cache
def get_settings() -> Settings:
    return Settings()
