"""The journal's durability setting: ``synchronous=FULL`` by default, ``NORMAL`` on request,
anything else refused (the crash test in ``test_daemon_process.py`` runs under both)."""

from __future__ import annotations

import pytest
from gpuplane.daemon.journal import Journal


@pytest.mark.parametrize(("sync", "pragma"), [("full", 2), ("normal", 1)])
def test_journal_sync_mode_is_applied(tmp_path, sync, pragma):
    journal = Journal(tmp_path / "j.db", sync)
    try:
        assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == pragma
    finally:
        journal.close()


def test_the_default_is_full(tmp_path):
    journal = Journal(tmp_path / "j.db")
    try:
        assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        journal.close()


def test_unknown_journal_sync_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="journal_sync"):
        Journal(tmp_path / "j.db", "off")
