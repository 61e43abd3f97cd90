"""The history of applied configurations: the last :data:`KEEP` files a bridge ran with, each
with its time and a summary of what changed, for ``camera-bridge config history`` and
``config rollback N``.

Entries live in ``{state_dir}/config-history/``: ``NNNNNN.yaml`` (the file's text as applied,
mode 0600: it may hold credentials) and ``NNNNNN.json`` (``{"n", "applied_at", "summary",
"source"}``), written atomically. Numbers only grow. Blocking: call from a thread.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..files import write_atomic

#: how many applied configurations are kept
KEEP = 20


@dataclass(frozen=True)
class Entry:
    """One applied configuration: number ``n``, ``applied_at`` (seconds since the epoch), the
    ``summary`` of its changes and ``source`` (``start``, ``SIGHUP``, ``file change``, ``api``,
    ``rollback N``)."""

    n: int
    applied_at: float
    summary: str
    source: str


class ConfigHistory:
    """The history folder ``root``."""

    def __init__(self, root: Path, keep: int = KEEP) -> None:
        self.root = root
        self._keep = keep

    def entries(self) -> list[Entry]:
        """Every kept entry, oldest first (unreadable metadata files are skipped)."""
        found = []
        for meta in sorted(self.root.glob("*.json")):
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                found.append(
                    Entry(int(data["n"]), float(data["applied_at"]), str(data["summary"]), str(data["source"]))
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda e: e.n)

    def latest_text(self) -> str | None:
        """The text of the newest entry, None when there is none."""
        entries = self.entries()
        return self.text(entries[-1].n) if entries else None

    def record(self, text: str, summary: str, source: str) -> Entry:
        """Keep ``text`` as the newest applied configuration; drop entries beyond :data:`KEEP`.
        Raises OSError."""
        entries = self.entries()
        entry = Entry((entries[-1].n + 1) if entries else 1, time.time(), summary, source)
        name = f"{entry.n:06d}"
        write_atomic(self.root / f"{name}.yaml", text.encode("utf-8"), mode=0o600)
        write_atomic(self.root / f"{name}.json", json.dumps(entry.__dict__).encode("utf-8"))
        for old in (entries + [entry])[: -self._keep]:
            for suffix in (".json", ".yaml"):
                (self.root / f"{old.n:06d}{suffix}").unlink(missing_ok=True)
        return entry

    def text(self, n: int) -> str:
        """The configuration text of entry ``n``. Raises ConfigError when it is not kept."""
        try:
            return (self.root / f"{n:06d}.yaml").read_text(encoding="utf-8")
        except OSError:
            kept = ", ".join(str(e.n) for e in self.entries()) or "none"
            raise ConfigError([f"(history): no configuration {n} is kept (kept: {kept})"]) from None
