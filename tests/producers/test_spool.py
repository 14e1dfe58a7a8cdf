"""The spool on its own: framing, damage, bounds, acknowledgement and recovery (no broker)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from meterstream.producers.errors import SpoolError, SpoolFullError
from meterstream.producers.spool import HEAD_LEN, MAGIC, ScanStats, Spool, frame, scan


def _spool(path: Path, **kw: int) -> Spool:
    return Spool(path, max_bytes=kw.get("max_bytes", 1 << 20), segment_bytes=kw.get("segment_bytes", 1 << 16),
                 fsync=True)


def _values(spool: Spool) -> list[bytes]:
    return [r.value for r in spool.unacked(1 << 30, skip=set())]


def test_records_read_back_in_order_across_segments(tmp_path: Path) -> None:
    sp = _spool(tmp_path, segment_bytes=256)
    values = [f"batch-{i}".encode() * 10 for i in range(40)]
    for v in values:
        sp.append(b"lic-1", v)
    assert len(list(tmp_path.glob("*.seg"))) > 5
    assert _values(sp) == values
    assert [r.key for r in sp.unacked(1 << 30, set())] == [b"lic-1"] * 40


def test_acknowledged_rolled_segments_are_deleted(tmp_path: Path) -> None:
    sp = _spool(tmp_path, segment_bytes=256)
    positions = [sp.append(b"k", b"x" * 100) for _ in range(20)]
    for pos in positions:
        sp.ack(pos)
    assert sp.pending() == 0
    assert len(list(tmp_path.glob("*.seg"))) == 1  # only the active segment remains
    sp.close()
    assert list(tmp_path.glob("*.seg")) == []  # nothing unacknowledged: the active one goes too


def test_full_spool_raises_a_clear_error(tmp_path: Path) -> None:
    sp = _spool(tmp_path, max_bytes=1 << 16, segment_bytes=1 << 12)
    with pytest.raises(SpoolFullError, match="is full"):
        for _ in range(1000):
            sp.append(b"k", b"y" * 1000)
    assert sp.total_bytes <= 1 << 16
    assert sp.pending() > 50  # what was accepted is still there


def test_total_bytes_follows_appends_deletes_and_recovery(tmp_path: Path) -> None:
    """The running total append checks equals the segments' sizes on disk, through rolls, acks and a reopen."""
    sp = _spool(tmp_path, segment_bytes=256)
    positions = [sp.append(b"k", b"z" * 90) for _ in range(30)]
    on_disk = lambda: sum(p.stat().st_size for p in tmp_path.glob("*.seg"))  # noqa: E731
    assert sp.total_bytes == on_disk() > 0
    for pos in positions[:20]:
        sp.ack(pos)
    assert sp.total_bytes == on_disk() < 30 * 90
    sp.close()
    again = _spool(tmp_path, segment_bytes=256)
    assert again.total_bytes == on_disk() and again.pending() == 10


def test_a_second_process_cannot_open_the_same_directory(tmp_path: Path) -> None:
    _spool(tmp_path)
    with pytest.raises(SpoolError, match="in use"):
        _spool(tmp_path)


def test_a_new_spool_replays_what_an_earlier_one_left(tmp_path: Path) -> None:
    sp = _spool(tmp_path, segment_bytes=300)
    values = [f"v{i}".encode() * 30 for i in range(10)]
    positions = [sp.append(b"k", v) for v in values]
    sp.ack(positions[0])
    assert sp._fd is not None
    os.close(sp._fd)  # a crash: no close(); the lock goes with the process
    os.close(sp._lock_fd)
    again = _spool(tmp_path)
    # Records of a segment are replayed whole: acknowledgements are not persisted.
    assert set(_values(again)) >= set(values[1:])
    assert again.pending() >= 9


def test_damaged_record_is_reported_and_skipped_and_the_rest_kept(tmp_path: Path, caplog) -> None:
    sp = _spool(tmp_path)
    values = [f"value-{i}".encode() * 5 for i in range(10)]
    positions = [sp.append(b"lic", v) for v in values]
    sp.close()
    seg = next(tmp_path.glob("*.seg"))
    data = bytearray(seg.read_bytes())
    data[positions[3][1] + HEAD_LEN + 4] ^= 0xFF  # a payload byte of record 3
    data[positions[6][1] + 5] ^= 0x55  # the length field of record 6
    seg.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR):
        again = _spool(tmp_path)
    assert again.stats.corrupt_records == 2
    assert "damaged record" in caplog.text
    assert _values(again) == [v for i, v in enumerate(values) if i not in (3, 6)]


def test_garbage_and_truncated_tail_are_skipped(tmp_path: Path) -> None:
    good = [frame(b"k", f"v{i}".encode()) for i in range(3)]
    data = b"garbage" + good[0] + MAGIC + b"\x00\x00" + good[1] + b"\xff" * 50 + good[2] + good[2][:-3]
    stats = ScanStats()
    got = [r.value for r in scan(data, 1, stats)]
    assert got == [b"v0", b"v1", b"v2"]
    assert stats.corrupt_records == 4  # leading garbage, broken magic, trailing garbage, torn tail


def test_record_damaged_after_writing_is_dropped_not_stuck(tmp_path: Path) -> None:
    sp = _spool(tmp_path)
    positions = [sp.append(b"k", b"z" * 64) for _ in range(3)]
    seg = next(tmp_path.glob("*.seg"))
    with open(seg, "r+b") as f:
        f.seek(positions[1][1] + HEAD_LEN + 10)
        f.write(b"\x00\x01")
    assert len(sp.unacked(1 << 30, set())) == 2
    assert sp.pending() == 2 and sp.stats.corrupt_records == 1


def test_default_spool_takes_the_first_free_slot(tmp_path: Path, monkeypatch) -> None:
    from meterstream.producers import settings as settings_module
    from meterstream.producers import spool as meter_module
    from meterstream.producers.settings import ProducerSettings

    monkeypatch.setattr(settings_module, "default_spool_dir", lambda: tmp_path)
    s = ProducerSettings()
    first, second = meter_module.open_spool(s), meter_module.open_spool(s)
    assert (first.directory.name, second.directory.name) == ("slot-0", "slot-1")
    first.close()  # a process gone: the next one takes over its slot (and replays it)
    assert meter_module.open_spool(s).directory.name == "slot-0"


def test_spool_command_reports_pending_and_damaged_records(tmp_path: Path, capsys) -> None:
    from meterstream.cli import main

    sp = _spool(tmp_path)
    positions = [sp.append(b"k", b"v" * 50) for _ in range(5)]
    assert sp._fd is not None
    os.close(sp._fd)
    os.close(sp._lock_fd)
    seg = next(tmp_path.glob("*.seg"))
    data = bytearray(seg.read_bytes())
    data[positions[2][1] + HEAD_LEN + 3] ^= 1
    seg.write_bytes(bytes(data))
    assert main(["spool", str(tmp_path)]) == 0
    assert "4 records awaiting Kafka" in capsys.readouterr().out
    _spool(tmp_path)  # held by this process now
    assert main(["spool", str(tmp_path)]) == 1
    assert "in use" in capsys.readouterr().err
