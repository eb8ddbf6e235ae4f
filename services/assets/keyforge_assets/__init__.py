"""The asset gateway: read-only, serves system assets straight from Valkey."""
