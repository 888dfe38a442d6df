"""An example local plugin: every file in hooks/ is loaded at start. Delete it or rename it to
_example_header_auth.py (names starting with "_" are skipped) if you do not want it.

It does nothing until you uncomment a hook below (with the imports). See docs/hooks.md for every
hook.
"""

# from gateway.errors import AuthenticationFailed
# from gateway.hookspecs import hookimpl
#
#
# @hookimpl
# async def gateway_authenticate(exchange):
#     """Accept only requests that carry the header X-Team: platform."""
#     if exchange.headers.get("x-team") != "platform":
#         raise AuthenticationFailed("This gateway serves the platform team only.")
#     return {"team": "platform"}
#
#
# @hookimpl
# def gateway_request_finished(exchange):
#     """Runs after every request; `exchange` has status, latency, model and usage, never text."""
#     if exchange.status is not None and exchange.status >= 500:
#         print(f"[hooks/example] {exchange.method} {exchange.path} failed with {exchange.status}")
