"""The CityLoop hub: HTTP API, websocket consoles, event store and wiring (no domain rules here)."""
