"""The namespaced, versioned KV and its encrypted secrets, access rules and garbage collection."""
