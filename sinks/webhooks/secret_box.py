"""Signing secrets encrypted at rest with the master key (Fernet: AES-128-CBC + HMAC-SHA256).

The dispatcher needs each raw secret to sign, so secrets cannot be hashed;
they are encrypted with a master key that lives only in the dispatchers' and
operators' settings (``METERSTREAM_WEBHOOK_MASTER_KEY``), never on a topic.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from .errors import MasterKeyError


def generate_master_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts with the first master key; decrypts with any (for master-key rotation)."""

    def __init__(self, master_key: SecretStr | None) -> None:
        if master_key is None or not master_key.get_secret_value().strip():
            raise MasterKeyError("METERSTREAM_WEBHOOK_MASTER_KEY is not set; create one with "
                                 "`meterstream webhook gen-master-key` and give it to every dispatcher")
        try:
            keys = [Fernet(k.strip()) for k in master_key.get_secret_value().split(",") if k.strip()]
        except ValueError as exc:
            raise MasterKeyError("METERSTREAM_WEBHOOK_MASTER_KEY is not a Fernet key "
                                 "(urlsafe base64 of 32 bytes)") from exc
        self._fernet = MultiFernet(keys)

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise MasterKeyError("a signing secret cannot be decrypted: wrong METERSTREAM_WEBHOOK_MASTER_KEY") from None


class SecretCache:
    """Plain signing secrets of an endpoint, each decrypted once (Fernet decryption costs a MAC per call)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._plain: dict[str, str] = {}

    def signing_secrets(self, ciphertexts: list[str]) -> list[str]:
        """The plain secrets of these ciphertexts; raises MasterKeyError if the master key cannot open one."""
        out = []
        for token in ciphertexts:
            if token not in self._plain:
                self._plain[token] = self._box.decrypt(token)
            out.append(self._plain[token])
        return out
