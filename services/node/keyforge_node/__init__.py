"""``keyforge-node`` (or ``keyforge node``): the fleet's worker, a client of the hive and gateway.

Loops (``runner``): heartbeats at the interval the hive asks for (``heartbeat``),
work (``work``: lease, fetch verified assets, anneal in worker processes) and
result delivery (``submitter`` over the persistent ``outbox``).

Resilience: 404 ``unknown_node`` → register again; 401 → re-read the secret
source and retry (rotation); no answer or 5xx → exponential backoff with
jitter, the best unsent result kept and resent (idempotent on the hive);
SIGTERM → the running batch finishes or is abandoned within seconds. The
node id is made once and kept in the state dir.
"""
