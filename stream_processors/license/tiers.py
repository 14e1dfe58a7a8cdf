"""Tiers as templates: what a license of a tier grants unless the license says otherwise.

The package ships ``tiers.toml`` (free, pro, enterprise); a file named by
``processor_tiers_file`` adds tiers or replaces shipped ones whole. A tier
holds model grants with their version rules, features, quotas and flags
(``watermark_required``, ``priority``, ``dedicated_gpu`` or any other
boolean). ``license create --tier`` copies the template into the license's
terms, and whatever the command line (or ``LicenseTerms``) gives overrides
it, so a license is self-contained on the topic: changing the tiers file
later changes new licenses, never existing ones.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidTermsError
from .terms import ModelGrant, QuotaTerm, grants

SHIPPED = Path(__file__).with_name("tiers.toml")


@dataclass(frozen=True)
class Tier:
    """One template."""

    name: str
    models: dict[str, tuple[ModelGrant, ...]] = field(default_factory=dict)
    features: frozenset[str] = frozenset()
    quotas: dict[str, QuotaTerm] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)

    def terms_fields(self) -> dict[str, Any]:
        """The LicenseTerms fields this tier sets."""
        return {"tier": self.name, "models": dict(self.models), "features": self.features,
                "quotas": dict(self.quotas), "flags": dict(self.flags)}


def _tier(name: str, spec: dict[str, Any]) -> Tier:
    from .cli import parse_quota  # the --quota syntax, one parser for both

    unknown = set(spec) - {"models", "features", "quotas", "flags"}
    if unknown:
        raise InvalidTermsError(f"tiers.{name}", f"unknown keys {sorted(unknown)}")
    flags = spec.get("flags", {})
    if not all(isinstance(v, bool) for v in flags.values()):
        raise InvalidTermsError(f"tiers.{name}.flags", "must be booleans")
    quotas = [parse_quota(q) for q in spec.get("quotas", [])]
    return Tier(name, grants(*spec.get("models", [])), frozenset(spec.get("features", [])),
                {q.metric: q for q in quotas}, dict(flags))


def load_tiers(extra: Path | None = None) -> dict[str, Tier]:
    """The shipped tiers, with those of ``extra`` added or replacing them."""
    docs = [tomllib.loads(SHIPPED.read_text())]
    if extra is not None:
        try:
            docs.append(tomllib.loads(Path(extra).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidTermsError("tiers_file", f"cannot read {extra}: {exc}") from None
    merged: dict[str, Any] = {}
    for doc in docs:
        merged.update(doc)
    return {name: _tier(name, spec) for name, spec in merged.items()}


def apply_tier(tiers: dict[str, Tier], name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """LicenseTerms fields: the tier's template, then ``overrides`` on top. An unknown tier name is a
    custom label (nothing to apply), as before tiers were templates."""
    tier = tiers.get(name)
    base = tier.terms_fields() if tier is not None else {"tier": name}
    return {**base, **overrides}
