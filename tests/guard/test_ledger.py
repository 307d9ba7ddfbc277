from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from guard.ledger import Ledger


def _ledger(tmp_path: Path, rows: int = 5) -> Ledger:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for i in range(rows):
        ledger.append("check_prompt", {"request_id": f"r{i}", "decision": "allow", "verdicts": []})
    return ledger


def _execute(ledger: Ledger, sql: str, *params: object) -> None:
    conn = sqlite3.connect(ledger.path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def test_when_untouched_then_chain_verifies(tmp_path: Path) -> None:
    check = _ledger(tmp_path).verify()
    assert check.ok and check.rows == 5


def test_when_empty_then_chain_verifies(tmp_path: Path) -> None:
    assert Ledger(tmp_path / "empty.sqlite3").verify().ok


@pytest.mark.parametrize("tamper,bad_seq", [
    ("UPDATE ledger SET record = replace(record, 'allow', 'block') WHERE seq = 3", 3),
    ("UPDATE ledger SET kind = 'release' WHERE seq = 2", 2),
    ("UPDATE ledger SET ts = ts + 1 WHERE seq = 4", 4),
    ("DELETE FROM ledger WHERE seq = 3", 3),
    ("DELETE FROM ledger WHERE seq = 1", 1),
])
def test_when_a_row_is_edited_or_deleted_then_verify_names_it(tmp_path: Path, tamper: str, bad_seq: int) -> None:
    ledger = _ledger(tmp_path)
    _execute(ledger, tamper)
    check = ledger.verify()
    assert not check.ok
    assert check.first_bad_seq == bad_seq


def test_when_rows_are_reordered_then_verify_fails(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    conn = sqlite3.connect(ledger.path)
    rows = conn.execute("SELECT seq, ts, kind, record, prev_hash, hash FROM ledger ORDER BY seq").fetchall()
    conn.execute("DELETE FROM ledger")
    for row in (rows[0], rows[2], rows[1], rows[3], rows[4]):  # swap rows 2 and 3, renumbering to hide it
        conn.execute("INSERT INTO ledger (seq, ts, kind, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
                     (len(conn.execute("SELECT seq FROM ledger").fetchall()) + 1, *row[1:]))
    conn.commit()
    conn.close()
    check = ledger.verify()
    assert not check.ok and check.first_bad_seq == 2


def test_when_the_last_row_is_rewritten_with_a_recomputed_hash_then_earlier_rows_still_anchor_it(
        tmp_path: Path) -> None:
    from guard.ledger import chain_hash

    ledger = _ledger(tmp_path)
    conn = sqlite3.connect(ledger.path)
    seq, ts, kind, record, prev = conn.execute(
        "SELECT seq, ts, kind, record, prev_hash FROM ledger WHERE seq = 3").fetchone()
    forged = record.replace("allow", "block")
    conn.execute("UPDATE ledger SET record = ?, hash = ? WHERE seq = 3",
                 (forged, chain_hash(prev, seq, ts, kind, forged)))
    conn.commit()
    conn.close()
    check = ledger.verify()
    assert not check.ok and check.first_bad_seq == 4  # row 4 no longer chains to the forged row 3


def test_when_appending_then_rows_read_back_in_order(tmp_path: Path) -> None:
    rows = list(_ledger(tmp_path, 3).rows())
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["request_id"] == "r0"


def test_when_the_newest_rows_are_cut_off_then_the_head_file_catches_it(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    _execute(ledger, "DELETE FROM ledger WHERE seq >= 4")
    check = ledger.verify()
    assert not check.ok and "head records row 5" in (check.problem or "")


def test_when_the_head_is_rewritten_in_place_then_it_holds_only_the_newest_row(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 12)  # seq 9 -> 10 -> 11: the number grows a digit; the record keeps its width
    text = ledger.head_path.read_text(encoding="ascii")
    assert text.split() == ["12", _last_hash(ledger)]
    assert len(text) == 86 and text.endswith("\n")
    assert ledger.verify().ok


def test_when_the_head_file_was_deleted_or_replaced_by_a_longer_one_then_the_next_append_rewrites_it(
        tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 3)
    ledger.head_path.unlink()
    ledger.append("check_prompt", {"request_id": "r3", "decision": "allow", "verdicts": []})
    assert ledger.head_path.read_text(encoding="ascii").split()[0] == "4" and ledger.verify().ok
    ledger.head_path.write_text("4 " + "f" * 64 + "\n" + "x" * 200, encoding="ascii")
    ledger.append("check_prompt", {"request_id": "r4", "decision": "allow", "verdicts": []})
    assert ledger.head_path.read_text(encoding="ascii").split() == ["5", _last_hash(ledger)]
    assert ledger.verify().ok


def _last_hash(ledger: Ledger) -> str:
    conn = sqlite3.connect(ledger.path)
    try:
        return conn.execute("SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()[0]
    finally:
        conn.close()
