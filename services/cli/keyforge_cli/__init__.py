"""``keyforge``: the operators' commands, and the one entry point of the full install."""
