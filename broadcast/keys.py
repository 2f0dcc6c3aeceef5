"""Key material: the server's Ed25519 signing key, loudspeaker key pairs, MQTT password hashes."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broadcast.errors import ConfigError


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def key_id(public: bytes) -> str:
    """Short, stable identifier of a public key (first 16 hex digits of its sha256)."""
    return hashlib.sha256(public).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    private: bytes
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    @classmethod
    def generate(cls) -> KeyPair:
        priv = Ed25519PrivateKey.generate()
        return cls(raw_private(priv), raw_public(priv.public_key()))


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def load_or_create_server_key(keys_dir: Path) -> KeyPair:
    """The server's signing key, created on first use and kept in ``keys_dir/server.key``."""
    path = keys_dir / "server.key"
    if not path.exists():
        priv = Ed25519PrivateKey.generate()
        pem = priv.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_secret(path, pem)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM private key") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    return KeyPair(raw_private(loaded), raw_public(loaded.public_key()))


def load_or_create_secret(path: Path, nbytes: int = 32) -> str:
    """A random secret kept in a 0600 file (session key, media token key, broker password)."""
    if not path.exists():
        _write_secret(path, secrets.token_urlsafe(nbytes).encode("ascii"))
    return path.read_text(encoding="ascii").strip()


def mosquitto_password_hash(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """Hash in mosquitto 2.x ``$7$`` format (PBKDF2-HMAC-SHA512), as ``mosquitto_passwd`` writes."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${b64(salt)}${b64(digest)}"
