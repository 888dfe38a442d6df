"""Transforms: Jinja templates and Python functions, each checked by JSON Schema, run in order
on a request (or an answer) as routes.yaml names them.

    transforms.py      loading the transforms of a configuration and running a pipeline of them
    payload_schema.py  compiled JSON Schemas, with readable violations when one fails
"""
