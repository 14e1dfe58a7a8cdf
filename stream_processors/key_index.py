"""Finding a license by its key, on any worker, and the model-release catalog every worker holds.

Licenses are partitioned by id, but a caller of validate knows only its key.
So every worker follows the *whole* compacted licenses topic (all partitions,
not only those its consumer group assigned it) and keeps ``SHA-256(key) ->
license id`` for every accepted key of every license (two during a rotation).
The licenses topic stays the only source of truth: there is no second topic a
publisher could forget to update, a rotation or a deletion reaches the index
the moment it reaches the topic, and a restarted worker rebuilds the index by
reading the topic to its end. Its cost is one entry per key in every worker's
memory (about 200 bytes; a million licenses is ~200 MB per worker).

The worker that receives a request looks the key's hash up here, then hands
the request to the worker owning the license's partition, which verifies the
key against its own copy of the terms in constant time (``verify_key``).

The same follower thread reads the model-release catalog (one partition).
Both are written by this thread and read by the event loop: single dict
operations, atomic under the GIL.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading

from meterstream.config import KafkaSettings
from meterstream.errors import MeterstreamError
from meterstream.kafka.compacted import CompactedReader
from meterstream.schemas import RecordCodec

from .license.releases import Release, ReleaseCatalog
from .license.terms import LicenseTerms

log = logging.getLogger(__name__)


def key_hash(key: str) -> str:
    """Hex SHA-256 of a presented key (what the index and the terms hold)."""
    return hashlib.sha256(key.encode()).hexdigest()


def verify_key(terms: LicenseTerms, presented_hash: str) -> bool:
    """True if ``presented_hash`` is one of the license's key hashes; every hash is compared in full,
    in constant time, so the time taken says nothing about how much of a hash matched."""
    ok = False
    for h in terms.accepted_key_hashes:
        ok |= hmac.compare_digest(h.encode(), presented_hash.encode())
    return ok


class KeyIndex:
    """Key hash -> license id, for every license on the topic."""

    def __init__(self) -> None:
        self._by_hash: dict[str, str] = {}
        self._hashes: dict[str, tuple[str, ...]] = {}

    def apply(self, license_id: str, terms: LicenseTerms | None) -> None:
        """One licenses-topic record (None: a tombstone): replace the license's keys."""
        for h in self._hashes.pop(license_id, ()):
            if self._by_hash.get(h) == license_id:
                del self._by_hash[h]
        if terms is None:
            return
        hashes = terms.accepted_key_hashes
        self._hashes[license_id] = hashes
        for h in hashes:
            self._by_hash[h] = license_id

    def lookup(self, presented_hash: str) -> str | None:
        return self._by_hash.get(presented_hash)

    def __len__(self) -> int:
        return len(self._by_hash)


class Follower:
    """A thread that reads the licenses and the model-release topics to their end, then follows them."""

    def __init__(self, kafka: KafkaSettings, licenses_topic: str, releases_topic: str,
                 index: KeyIndex, catalog: ReleaseCatalog) -> None:
        self.kafka, self.licenses_topic, self.releases_topic = kafka, licenses_topic, releases_topic
        self.index, self.catalog = index, catalog
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="meterstream-key-index", daemon=True)
        self._license_codec, self._release_codec = RecordCodec("license"), RecordCodec("model_release")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            with CompactedReader(self.kafka, self.licenses_topic) as licenses, \
                    CompactedReader(self.kafka, self.releases_topic) as releases:
                # the catalog first: no key is known (so nothing is validated) before the releases are
                for reader, topic in ((releases, self.releases_topic), (licenses, self.licenses_topic)):
                    for msg in reader.catch_up():
                        self._apply(topic, msg.key(), msg.value())
                self.caught_up.set()
                log.info("key index: %d keys; release catalog: %d models", len(self.index),
                         len(self.catalog.models()))
                while not self._stop.is_set():
                    for reader, topic in ((licenses, self.licenses_topic), (releases, self.releases_topic)):
                        for msg in reader.poll(0.1):
                            self._apply(topic, msg.key(), msg.value())
        except Exception:  # noqa: BLE001 - the worker keeps metering; validate answers unknown_key
            log.exception("key index follower stopped")

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            if topic == self.licenses_topic:
                terms = None if value is None else LicenseTerms.from_record(self._license_codec.decode(value))
                self.index.apply(key.decode(), terms)
            elif value is None:
                self.catalog.forget(key)
            else:
                self.catalog.put(Release.from_record(self._release_codec.decode(value)))
        except (MeterstreamError, KeyError, TypeError, ValueError) as exc:
            log.error("%s record %r ignored: %s", topic, key, exc)
