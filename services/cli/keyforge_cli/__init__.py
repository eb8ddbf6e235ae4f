"""The ``keyforge`` command: the local fleet, its operators' tools and its worker node."""
