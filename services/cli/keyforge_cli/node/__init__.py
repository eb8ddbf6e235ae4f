"""``keyforge node``: the fleet's worker, a real client of the hive and the asset gateway.

Loops (``runner``): heartbeats at the interval the hive asks for (``heartbeat``),
work (``work``: lease, fetch verified assets, anneal in worker processes) and
result delivery (``submitter`` over the persistent ``outbox``).

Resilience: 404 ``unknown_node`` → register again; 401 → re-read the secret
source and retry (rotation); no answer or 5xx → exponential backoff with
jitter, the best unsent result kept and resent (idempotent on the hive);
SIGTERM → the running batch finishes or is abandoned within seconds. The
node id is made once and kept in the state dir.
"""

from keyforge_cli.node.command import add_commands

__all__ = ["add_commands"]
