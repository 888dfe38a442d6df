"""The ``gateway`` command line.

main.py       argument parsing and the small commands (serve, check, routes, token, init)
try_route.py  `gateway try`: the request side of a route, without calling its sink
usage.py      `gateway usage`: the ledger's totals as tables or JSON
"""
