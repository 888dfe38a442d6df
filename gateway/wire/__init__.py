"""Wire formats shared by dialects (the gateway as a server) and sinks (the gateway as a client).

Anthropic content blocks and stream events, OpenAI content parts and tools: each converted to and
from the IR in one place, whichever side of the gateway speaks them.
"""
