"""What every client of the fleet shares: endpoints, targets from ``stack.json``, secrets, backoff.

Used by the worker node, the swarm and the operator commands; it needs httpx and
nothing of the server stack.
"""
