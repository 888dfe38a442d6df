"""``kind: http``: an upstream HTTP API with header injection.

sink.py                 the sink: byte relay (passthrough) or translation through the IR
connection.py           the client session, credentials, concurrency, transport errors
forwarding.py           one request relayed to an upstream of the client's own dialect
anthropic_upstream.py   IR to an Anthropic Messages body, and its SSE back to IR
openai_upstream.py      IR to an OpenAI Chat body, and its SSE back to IR
"""
