"""The VAPID key pair of Web Push: made once per installation under ``data_dir/vapid/``.

The private key never leaves that file (mode 0600); pages get only the public key.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridcrew.config import Settings


def private_key_file(settings: Settings) -> Path:
    """The PEM file of the private key, created on first use."""
    path = settings.data_dir / "vapid" / "private.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        if path.exists():  # another process made one first: keep theirs
            tmp.unlink()
        else:
            tmp.replace(path)
    return path


def public_key(settings: Settings) -> str:
    """The public key as the browser's ``applicationServerKey`` wants it (base64url of the
    uncompressed point)."""
    key = serialization.load_pem_private_key(private_key_file(settings).read_bytes(), None)
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
