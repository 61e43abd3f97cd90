"""The bridge's core: its error kinds, its events and the two ports every adapter uses.

``core`` imports only ``bridge.config`` and the standard library (``tests/test_layout.py``), so
each adapter (REST, JSON-RPC, MQTT) and each part can depend on it without depending on the
others. See docs/architecture.md.
"""
