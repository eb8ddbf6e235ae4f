"""The job plane: specs, the lease queue, scoring, results, submissions and retention."""
