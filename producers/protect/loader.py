"""``load_protected``: the license is checked before any weight is decrypted; tensors come back in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import errors as e
from .deps import require
from .verified import VerifiedLicense, open_license_file
from .weights import decrypt_weights, env_license_key, plain_size_ok, read_header


def load_protected(path: str | Path, license_file: VerifiedLicense | str | Path, *, license_key: str | None = None,
                   framework: str = "numpy", **open_args: Any) -> dict[str, Any]:
    """The tensors of an encrypted safetensors file, by name, decrypted in memory only.

    ``license_file`` is an opened :class:`VerifiedLicense`, or a license file (path or text)
    opened here with ``license_key`` (default ``$METERSTREAM_LICENSE_KEY``); ``open_args``
    go to ``open_license_file`` (trusted keys, fingerprint). Refused, with the reason's
    error, unless the license file verifies (signature, TTL, machine, status, validity)
    and its terms allow the file's model and version; then the content key is taken from
    the license file and every chunk must authenticate. ``framework``: ``numpy`` (arrays)
    or ``pt`` (torch tensors, when torch is installed).
    """
    lic = license_file if isinstance(license_file, VerifiedLicense) else _open(license_file, license_key, open_args)
    with Path(path).open("rb") as f:
        header, aad = read_header(f)
        lic.check_use(header["model"], header["version"])
        key = lic.weights_keys.get(header["key_id"])
        if key is None:
            raise e.NoWeightsKeyError(f"license file of {lic.license_id} carries no key for {header['key_id']}: "
                                      f"export a fresh license file after `model encrypt`")
        data = decrypt_weights(f, header, aad, key)
    plain_size_ok(header, data)
    module = require("safetensors.torch" if framework == "pt" else "safetensors.numpy")
    tensors: dict[str, Any] = module.load(bytes(data))
    data[:] = b"\0" * len(data)  # do not leave the plaintext in a buffer the caller never sees
    return tensors


def _open(source: str | Path, license_key: str | None, open_args: dict[str, Any]) -> VerifiedLicense:
    key = license_key or env_license_key()
    if not key:
        raise e.WrongLicenseKeyError("no license key: pass license_key= or set METERSTREAM_LICENSE_KEY")
    return open_license_file(source, key, **open_args)
