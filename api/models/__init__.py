"""Typed request and response models (msgspec Structs): the OpenAPI document's schemas are generated from them,
request bodies and query strings are decoded through them, and tests hold real responses to them (an undeclared
field fails), so the description and the code cannot drift apart.

One module per API area; `api.typed` has the decoding helpers and `api.openapi` turns Structs into components.
"""
