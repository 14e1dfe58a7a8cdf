"""Licenses as data: their terms, how workers hold them, and the admin API that publishes them."""

from .terms import LicenseTerms, QuotaTerm, ModelGrant, hash_key
from .admin import LicenseAdmin

__all__ = ["LicenseAdmin", "LicenseTerms", "ModelGrant", "QuotaTerm", "hash_key"]
