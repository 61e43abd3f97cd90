"""What changed between two validated configurations: which cameras were added, removed or
changed, and which other sections differ. Hot reload restarts exactly that."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .root import Config

#: top-level fields of :class:`Config` compared as whole sections (``cameras`` is per camera)
SECTIONS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "cameras")


@dataclass(frozen=True)
class ConfigDiff:
    """Camera ids ``added``, ``removed`` and ``changed`` (options differ), and the names of the
    other top-level keys that differ (``mqtt``, ``api``, ``log_level``, ...), each sorted."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing differs."""
        return not (self.added or self.removed or self.changed or self.sections)

    def summary(self) -> str:
        """One line for people and the history, e.g. ``cameras +porch -attic ~door; mqtt``."""
        parts = []
        cams = [f"+{c}" for c in self.added] + [f"-{c}" for c in self.removed] + [f"~{c}" for c in self.changed]
        if cams:
            parts.append("cameras " + " ".join(cams))
        if self.sections:
            parts.append(", ".join(self.sections))
        return "; ".join(parts) or "no change"

    def as_data(self) -> dict[str, list[str]]:
        """JSON-able form."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "sections": list(self.sections),
        }


def diff(old: Config, new: Config) -> ConfigDiff:
    """The differences from ``old`` to ``new`` (dataclass equality, so every option counts)."""
    before, after = old.cameras, new.cameras
    return ConfigDiff(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(c for c in set(before) & set(after) if before[c] != after[c])),
        sections=tuple(name for name in SECTIONS if getattr(old, name) != getattr(new, name)),
    )
