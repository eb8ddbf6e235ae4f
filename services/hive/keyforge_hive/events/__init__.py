"""The event plane: one reader of the Valkey stream per hive, fanned out to SSE clients."""
