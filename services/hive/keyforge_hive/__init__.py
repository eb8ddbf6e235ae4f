"""The hive: the fleet's API for nodes and operators."""
