"""``keyforge swarm``: many light simulated nodes on one lean keep-alive pool (load, demos)."""
