"""The fleet control plane: the dispatch freeze and the layered node config."""
