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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GRIDCREW_",
        env_file=(ROOT / "var" / "secrets.env", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = "postgresql://postgres@127.0.0.1:5432/gridcrew"
    """The stack's database. Tests create databases of their own."""

    mqtt_url: str = "mqtt://127.0.0.1:1884"
    """The project's own Mosquitto instance (see deploy/mosquitto)."""
    mqtt_tls_port: int = 8884

    device_secret: str = "dev-only-device-secret"
    """Provisioning secret: a device's broker password is HMAC(secret, device id)."""
    service_password: str = "dev-only-service-password"
    """Broker password of the service accounts (gateway, dispatcher, api)."""

    jwt_secret: str = "dev-only-jwt-secret-change-me-0123456789"
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

    log_format: Literal["text", "json"] = "text"
    """Log lines: readable text, or one JSON object a line (gridcrew/logs.py)."""
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"
    """Where the metrics ports listen (gridcrew/metrics.py; docs/operations.md)."""
    api_metrics: bool = True
    api_access_log: bool = True
    """One log line per API request (tokens in its query string masked)."""
    """The API counts its requests and serves /metrics (false only to measure the cost)."""
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
