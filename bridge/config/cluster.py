"""The ``cluster:`` section: several bridges sharing the cameras through PostgreSQL."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import voluptuous as vol

from .options import Section, Sections, matching, number, option, optional, options_of, section_schema


def _dsn(value: object) -> str:
    """A ``postgresql://`` (or ``postgres://``) connection URL."""
    text = vol.Coerce(str)(value)
    if not text.startswith(("postgresql://", "postgres://")):
        raise vol.Invalid("expected a postgresql:// URL")
    return text


@dataclass(frozen=True)
class ClusterConfig:
    """``cluster:`` section. Durations in seconds. Without ``dsn`` the bridge runs alone."""

    dsn: str | None = option(
        optional(_dsn),
        None,
        "PostgreSQL URL of the cluster's database (use `!env NAME`); unset: no cluster.",
        secret=True,
    )
    name: str | None = option(
        optional(matching(r"^[A-Za-z0-9_-]{1,64}$", "expected 1-64 letters, digits, _ or -")),
        None,
        "This bridge's member name, unique in the cluster; unset: the host name.",
    )
    lease_ttl: float = option(number(3, 300), 15.0, "Seconds a camera's lease lasts without renewal (failover time).")
    renew_interval: float = option(number(0.5, 100), 5.0, "Seconds between heartbeats and lease renewals.")

    @property
    def member(self) -> str:
        """``name``, or the host name (up to its first dot, characters outside ``[A-Za-z0-9_-]``
        replaced by ``-``)."""
        if self.name:
            return self.name
        host = socket.gethostname().split(".")[0] or "bridge"
        return "".join(c if c.isalnum() or c in "_-" else "-" for c in host)[:64]

    @property
    def enabled(self) -> bool:
        """Whether the bridge is a member of a cluster."""
        return self.dsn is not None


def _renew_below_ttl(data: dict[str, object]) -> dict[str, object]:
    if float(data["renew_interval"]) * 2 >= float(data["lease_ttl"]):  # type: ignore[arg-type]
        raise vol.Invalid(
            f"must be less than half of lease_ttl ({data['lease_ttl']}), got {data['renew_interval']}",
            path=["renew_interval"],
        )
    return data


CLUSTER_OPTIONS = options_of(ClusterConfig)
CLUSTER_SCHEMA = vol.All(section_schema(CLUSTER_OPTIONS), _renew_below_ttl)
SECTIONS: Sections = {"": Section(CLUSTER_OPTIONS)}
