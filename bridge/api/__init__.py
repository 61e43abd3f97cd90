"""HTTP/WebSocket API (aiohttp): cameras, snapshots, events, JSON-RPC, health and metrics."""
