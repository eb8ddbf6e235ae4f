"""The node plane: registration, write shield, heartbeats, telemetry, status, last-seen, stats."""
