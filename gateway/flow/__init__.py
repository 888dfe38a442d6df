"""The request path: one request from its arrival to its answer, read in this folder.

    HTTP request (read within the limits: server/http_reading.py)
      -> dispatch.py     the one handler: the runtime it runs on, its Exchange, then
           routes.py       path -> Route, which holds its Endpoint (endpoints.py); a path
                           below a route may be another endpoint's (/v1/responses/{id}) .. 404
           guard.py        Host and Origin this gateway answers to ........................ 403
           (method)        the endpoint's methods; OPTIONS is a CORS preflight ............ 405
           auth.py         the auth hooks -> an Identity: key name, routes, models ... 401/403
           (admission)     a named key's limits (services.limiter) ....................... 429
           hook            gateway_request_started
           endpoint.serve  the endpoint answers. For a completion (complete.py):
      -> body.py         the body as a JSON object ........................................ 400
         responses.py    (Responses only) the stored conversation and items it refers to put
                         in its body, from services.responses .......................... 400/404
      -> prepare.py      decode in the route's dialect (dialects/) into the IR, request
                         transforms (pipeline/), the model resolved to a target: a sink and
                         the name it receives (config/routing.py); or none of it for a
                         passthrough, whose bytes go on untouched
      -> complete.py     the caller may use the model? then a target answers, before any byte
                         is sent (deadline.py bounds it): a whole answer (response transforms,
                         encoded in the dialect), a stream with its first events, or a relayed
                         upstream answer (answers.py) ............................. 4xx/5xx/504
         attempts.py     the model's targets in their strategy's order (targets.py: cooldowns,
                         used-up subscriptions), retried with backoff or moved on from, while
                         no byte has reached the client
      -> stream.py       SSE in the client's dialect; a failure from here is in-band
         relay.py        the upstream's bytes as they come (their usage read on the way)
         responses.py    (Responses only) the answer stored before it is sent; a stream's
                         before its last event, through the follower stream.py tells
      -> dispatch.py     the answer sent, the key's hold released, then the request-finished
                         hook (access log, metrics, ledger: builtin/)

Every error before the first byte reaches the client in its own dialect's shape
(dispatch.error_response); MCP tool calls (endpoints/mcp/) enter at complete.py and read the
answer whole. Nothing here imports an endpoint of endpoints/: they register through the
``gateway_register_endpoints`` hook, as this folder's own completion endpoints do.
"""
