"""Code every KeyForge service shares: settings, Valkey keys, connections, errors, health."""
