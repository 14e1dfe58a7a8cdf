"""Version policies judged against the model-release catalog.

The catalog is the compacted topic ``<prefix>model.releases`` (key
``model@version``, value a ``ModelRelease`` record; a tombstone forgets a
release). Every worker reads all of it. A license grants a model with one of
these rules:

* ``any``: every version (what a bare ``--model name`` grants).
* ``pin:<v>``: exactly version ``v``.
* ``major:<n>``: versions whose first component is ``n`` (``3.1.0``, ``v3``).
* ``latest`` / ``latest:<n>``: rolling access: the newest (``n`` newest)
  releases published by the time judged. Before the catalog knows any release
  of the model, ``latest`` allows every version (what it meant before there
  was a catalog).
* ``maintenance:<months>``: releases published before the license's start
  (``purchased_at``, else ``not_before``) plus ``months``; a perpetual license
  keeps what it bought once the window has closed.

A withdrawn release is allowed by no rule; a version the catalog does not know
is allowed only by ``any``, ``pin`` and ``major`` (they do not need a catalog).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from meterstream.clock import micros

from ..errors import InvalidTermsError

RULE_HELP = "any, latest, latest:<n>, pin:<version>, major:<n> or maintenance:<months>"


@dataclass(frozen=True)
class Release:
    """One published version of a model."""

    model: str
    version: str
    released_us: int
    withdrawn: bool = False

    @property
    def key(self) -> bytes:
        return f"{self.model}@{self.version}".encode()

    def to_record(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "released_at": self.released_us,
                "withdrawn": self.withdrawn}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> "Release":
        return cls(r["model"], r["version"], int(micros(r["released_at"])), bool(r.get("withdrawn")))


class ReleaseCatalog:
    """Model -> its releases, oldest first; fed record by record from the releases topic."""

    def __init__(self, releases: list[Release] | None = None) -> None:
        self._by_model: dict[str, dict[str, Release]] = {}
        for r in releases or ():
            self.put(r)

    def put(self, release: Release) -> None:
        self._by_model.setdefault(release.model, {})[release.version] = release

    def forget(self, key: bytes) -> None:
        model, _, version = key.decode().partition("@")
        self._by_model.get(model, {}).pop(version, None)

    def releases(self, model: str) -> list[Release]:
        """Every release of ``model`` (withdrawn ones too), oldest first."""
        return sorted(self._by_model.get(model, {}).values(), key=lambda r: (r.released_us, r.version))

    def get(self, model: str, version: str) -> Release | None:
        return self._by_model.get(model, {}).get(version)

    def models(self) -> list[str]:
        return sorted(self._by_model)


def check_rule(rule: str) -> str:
    """``rule`` if it is a known version rule, else InvalidTermsError naming the field."""
    name, _, arg = rule.partition(":")
    ok = (rule in ("any", "latest") or (name == "pin" and arg != "")
          or (name in ("major", "latest", "maintenance") and arg.isdigit() and (name == "major" or int(arg) > 0)))
    if not ok:
        raise InvalidTermsError("models.version_rule", f"must be {RULE_HELP}, got {rule!r}")
    return rule


def add_months(t_us: int, months: int) -> int:
    """``t_us`` plus whole calendar months (the day clamped to the target month's length)."""
    d = datetime.fromtimestamp(t_us // 1_000_000, timezone.utc)
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp()) * 1_000_000 + t_us % 1_000_000


def version_allowed(rule: str, model: str, version: str, catalog: ReleaseCatalog | None, start_us: int,
                    t_us: int) -> bool:
    """Whether ``rule`` allows ``version`` of ``model`` at time ``t_us`` (license start ``start_us``)."""
    release = catalog.get(model, version) if catalog is not None else None
    if release is not None and release.withdrawn:
        return False
    name, _, arg = rule.partition(":")
    if name == "any":
        return True
    if name == "pin":
        return version == arg
    if name == "major":
        return version.split(".", 1)[0].lstrip("v") == arg
    published = [r for r in catalog.releases(model) if r.released_us <= t_us] if catalog is not None else []
    if name == "latest":
        if catalog is None or not catalog.releases(model):
            return True
        newest = [r.version for r in published if not r.withdrawn][-int(arg or 1):]
        return version in newest
    # maintenance:<months>: what was published before the window closed
    return release is not None and release.released_us < add_months(start_us, int(arg)) \
        and release.released_us <= t_us
