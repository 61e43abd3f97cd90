"""Cluster mode: several bridges sharing the cameras through PostgreSQL leases."""
