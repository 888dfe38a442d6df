"""The server around the request path: what lives as long as the process, not a request.

context.py       what the gateway keeps on the Sanic app (app.ctx), every attribute declared
runtime.py       one loaded configuration made live: config, router, sinks, pipeline, plugins
reload.py        a changed routes.yaml (or SIGHUP) builds a new Runtime and swaps it in
plugins.py       the plugin manager: built-ins, hooks/ files, awaiting hook results
http_reading.py  reading a request off the connection within the configured limits
workers.py       `gateway serve --workers N`
"""
