"""Errors of model protection: each refusal of a license file or protected weights has its own class and code.

The ``code`` of a refusal matches the validation codes of the online service
(``expired``, ``model_not_allowed``, ...) where the reason is the same, so a
service handles an offline refusal like an online one.
"""

from __future__ import annotations

from ..errors import ProducerError

PROTECT_EXTRA = "pip install 'meterstream[protect]'"


class ProtectError(ProducerError):
    """Root of every protection error; ``code`` says why in one word."""

    code = "protect_error"


class MissingDependencyError(ProtectError):
    """A package of the ``protect`` extra is not installed."""

    code = "missing_dependency"

    def __init__(self, module: str) -> None:
        super().__init__(f"{module} is not installed: model protection needs the protect extra: {PROTECT_EXTRA}")


class LicenseFileError(ProtectError):
    """A license file was refused."""


class MalformedLicenseFileError(LicenseFileError):
    code = "malformed"


class TamperedLicenseFileError(LicenseFileError):
    """The bytes do not match the vendor's signature: something in the file was changed."""

    code = "tampered"


class UnknownSigningKeyError(LicenseFileError):
    """Signed with a key id this machine does not trust (another vendor, a retired or forged key)."""

    code = "unknown_signing_key"


class LicenseFileExpiredError(LicenseFileError):
    """The file's own TTL is over (the license itself may still be valid: export a fresh file)."""

    code = "file_expired"


class LicenseFileNotYetValidError(LicenseFileError):
    code = "file_not_yet_valid"


class WrongMachineError(LicenseFileError):
    """The file is bound to another machine's fingerprint."""

    code = "wrong_machine"


class WrongLicenseKeyError(LicenseFileError):
    """The license key given does not open the file's terms."""

    code = "wrong_key"


class LicenseRefusedError(LicenseFileError):
    """The terms inside a genuine file refuse this use; ``code`` is the validation code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LicenseExpiredError(LicenseRefusedError):
    def __init__(self, message: str) -> None:
        super().__init__("expired", message)


class LicenseNotYetValidError(LicenseRefusedError):
    def __init__(self, message: str) -> None:
        super().__init__("not_yet_valid", message)


class ModelNotAllowedError(LicenseRefusedError):
    """``code`` is ``model_not_allowed`` or ``version_not_allowed``."""


class WeightsError(ProtectError):
    """A protected weights file cannot be decrypted."""

    code = "weights_error"


class WeightsTamperedError(WeightsError):
    """A chunk does not authenticate: changed bytes, chunks reordered or from another file."""

    code = "weights_tampered"


class WeightsTruncatedError(WeightsError):
    """The file ends before its final chunk: truncated or a chunk dropped."""

    code = "weights_truncated"


class NoWeightsKeyError(WeightsError):
    """The license file carries no key for this model file (not licensed, or exported before it was encrypted)."""

    code = "no_weights_key"
