"""The wire protocol between the hive and its clients, written once.

Header names (``headers``), the error envelope (``errors``) and the request
and response models of every contract endpoint, one module per plane. The
hive declares them as ``response_model``s, so its OpenAPI document describes
every answer; the node, the swarm and the operator commands parse replies
with the very same models. Pydantic only: importing this never pulls in the
server stack.
"""
