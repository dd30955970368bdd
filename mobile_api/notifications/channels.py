"""The channels a utility plugs in by settings: webhook (SMS gateway, WeChat, 95598), SMTP
e-mail and Web Push. Each hands one notification over and says what came back.

Never raises for a failed delivery (every failure is an :class:`Answer`), never touches the
database, and never retries by itself: the worker decides.
"""

from __future__ import annotations

import functools
import json
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx

from gridcrew.config import Settings
from gridcrew.notices import delivery
from gridcrew.notices.delivery import Answer


@dataclass(frozen=True)
class Message:
    """One notification as a channel sees it."""

    id: int
    channel: str
    recipient: str
    customer_id: str | None
    subject: str
    kind: str
    body: str
    created_at: str


@functools.cache
def _http() -> httpx.Client:
    """One client per process: its TLS context and connections are made once, not per send."""
    return httpx.Client(follow_redirects=False)


def _short(text: str) -> str:
    return " ".join(text.split())[:300]


def webhook(settings: Settings, message: Message, push: dict[str, Any] | None = None) -> Answer:
    """POST the notification as JSON, signed, with its idempotency key."""
    assert settings.notify_webhook_url and settings.notify_webhook_secret
    body = json.dumps(
        {
            "id": message.id,
            "channel": message.channel,
            "recipient": message.recipient,
            "customer_id": message.customer_id,
            "subject": message.subject,
            "kind": message.kind,
            "text": message.body,
            "created_at": message.created_at,
        },
        ensure_ascii=False,
    ).encode()
    stamp = str(int(time.time()))
    secret = settings.notify_webhook_secret.get_secret_value().encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        delivery.IDEMPOTENCY_HEADER: delivery.idempotency_key(message.id),
        delivery.TIMESTAMP_HEADER: stamp,
        delivery.SIGNATURE_HEADER: delivery.signature(secret, stamp, body),
    }
    try:
        r = _http().post(
            settings.notify_webhook_url,
            content=body,
            headers=headers,
            timeout=settings.notify_timeout_s,
        )
    except httpx.TimeoutException as e:
        return Answer("retry", None, f"timeout: {_short(str(e)) or type(e).__name__}")
    except httpx.HTTPError as e:
        return Answer("retry", None, f"{type(e).__name__}: {_short(str(e))}")
    return Answer(delivery.http_outcome(r.status_code), r.status_code, _short(r.text))


def email(settings: Settings, message: Message) -> Answer:
    """Send over SMTP; the Message-ID is derived from the notification, so a repeat is
    recognisable."""
    assert settings.notify_smtp_host
    mail = EmailMessage()
    mail["From"] = settings.notify_smtp_from
    mail["To"] = message.recipient
    mail["Subject"] = f"GridCrew {message.subject}"
    domain = settings.notify_smtp_from.rpartition("@")[2] or "gridcrew.local"
    mail["Message-ID"] = make_msgid(delivery.idempotency_key(message.id), domain=domain)
    mail.set_content(message.body)
    try:
        with smtplib.SMTP(
            settings.notify_smtp_host, settings.notify_smtp_port, timeout=settings.notify_timeout_s
        ) as smtp:
            if settings.notify_smtp_starttls:
                smtp.starttls()
            if settings.notify_smtp_user and settings.notify_smtp_password:
                smtp.login(
                    settings.notify_smtp_user, settings.notify_smtp_password.get_secret_value()
                )
            refused = smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()))
        return Answer(delivery.smtp_outcome(code), code, _short(text.decode(errors="replace")))
    except smtplib.SMTPResponseException as e:
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else ""
        return Answer(delivery.smtp_outcome(e.smtp_code), e.smtp_code, _short(text))
    except (smtplib.SMTPException, OSError) as e:
        return Answer("retry", None, f"{type(e).__name__}: {_short(str(e))}")
    if refused:
        return Answer("final", None, f"refused: {_short(str(refused))}")
    return Answer("accepted", 250, "queued by the SMTP server")


def web_push(
    settings: Settings, message: Message, subscription: dict[str, str], vapid_key: Path
) -> Answer:
    """Encrypt (RFC 8291, aes128gcm) and POST to the subscription's push service, VAPID-signed."""
    from pywebpush import WebPushException, webpush

    payload = json.dumps(
        {
            "title": message.subject,
            "body": message.body,
            "kind": message.kind,
            "id": message.id,
            "url": "/c/",
        },
        ensure_ascii=False,
    )
    try:
        r = webpush(
            subscription_info={
                "endpoint": subscription["endpoint"],
                "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]},
            },
            data=payload,
            vapid_private_key=str(vapid_key),
            vapid_claims={"sub": settings.notify_vapid_subject},
            timeout=settings.notify_timeout_s,
            ttl=24 * 3600,
        )
    except WebPushException as e:
        if e.response is None:
            return Answer("retry", None, _short(str(e)))
        code = e.response.status_code
        return Answer(delivery.http_outcome(code), code, _short(e.response.text))
    except Exception as e:  # requests' connection errors and timeouts
        return Answer("retry", None, f"{type(e).__name__}: {_short(str(e))}")
    return Answer(delivery.http_outcome(r.status_code), r.status_code, _short(r.text))
