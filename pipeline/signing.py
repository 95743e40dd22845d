"""Ed25519 signatures for sign-off records: a detached signature and an in-toto statement in a DSSE envelope.

The private key comes from a file (``--signing-key``) or the ``READINESS_SIGNING_KEY``
variable (PEM, or the 32-byte seed in base64); its value is registered as a secret, so
no log or report can show it. A key is named by its id: the SHA-256 of its raw public
bytes. The envelope follows DSSE v1: the signature covers
``PAE(payloadType, payload) = "DSSEv1" SP len(type) SP type SP len(payload) SP payload``;
the payload is an in-toto Statement v1 whose subjects are every signed file with its
SHA-256, so supply-chain tools can check the artifact without this gate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pipeline.redact import register_secret

KEY_VARIABLE = "READINESS_SIGNING_KEY"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://readiness-gate.local/signoff/v1"


class SigningError(Exception):
    """A key cannot be read; the message names where it came from, never its value."""


def private_key(path: Path | None, env: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The signing key from ``path``, else from READINESS_SIGNING_KEY, else None (unsigned)."""
    env = os.environ if env is None else env
    if path is not None:
        try:
            text, where = path.read_text(encoding="utf-8").strip(), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise SigningError(f"{path}: the signing key cannot be read ({exc.__class__.__name__})") from None
    elif env.get(KEY_VARIABLE):
        text, where = env[KEY_VARIABLE].strip(), f"${KEY_VARIABLE}"
    else:
        return None
    register_secret(text)
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise SigningError(f"{where}: not an Ed25519 private key (PEM, or the 32-byte seed in base64)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{where}: the key is not an Ed25519 key")
    return key


def public_key(path: Path) -> Ed25519PublicKey:
    """A trusted public key from ``path`` (PEM, or the 32 raw bytes in base64)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        key = (serialization.load_pem_public_key(text.encode()) if text.startswith("-----BEGIN")
               else Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, binascii.Error):
        raise SigningError(f"{path}: not a readable Ed25519 public key (PEM, or 32 bytes in base64)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: the key is not an Ed25519 key")
    return key


def raw(public: Ed25519PublicKey) -> bytes:
    """The key's 32 raw bytes."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, in hex: how records and envelopes name the key."""
    return hashlib.sha256(raw(public)).hexdigest()


def signer(key: Ed25519PrivateKey) -> dict[str, str]:
    """What a record says about its signature: algorithm, key id, public key (base64)."""
    public = key.public_key()
    return {"algorithm": "ed25519", "keyid": key_id(public), "public_key": base64.b64encode(raw(public)).decode()}


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """A detached signature of ``data``, in base64."""
    return base64.b64encode(key.sign(data)).decode()


def verifies(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``public``'s signature of ``data``."""
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what an envelope's signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(files: Mapping[str, str], predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1: every file with its SHA-256 as a subject, the sign-off as the predicate."""
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": name, "digest": {"sha256": digest}} for name, digest in sorted(files.items())],
            "predicateType": PREDICATE_TYPE, "predicate": predicate}


def envelope(key: Ed25519PrivateKey, payload: dict[str, Any]) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` signed by ``key``."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": key_id(key.public_key()), "sig": sign(key, pae(PAYLOAD_TYPE, body))}]}


def open_envelope(data: Any, public: Ed25519PublicKey) -> dict[str, Any] | None:
    """The statement in a DSSE envelope if ``public`` signed it, else None."""
    try:
        body = base64.b64decode(data["payload"], validate=True)
        signed = any(s.get("keyid") == key_id(public) and verifies(public, pae(str(data["payloadType"]), body),
                                                                    str(s.get("sig")))
                     for s in data["signatures"])
        content = json.loads(body) if signed and data["payloadType"] == PAYLOAD_TYPE else None
    except (KeyError, TypeError, AttributeError, ValueError, binascii.Error):
        return None
    return content if isinstance(content, dict) else None
