"""The official `anthropic` SDK against the gateway: a message, a stream, and the model list.

    GATEWAY_URL=http://127.0.0.1:8000 python examples/anthropic_sdk/messages.py

Use GATEWAY_URL=http://127.0.0.1:8000/api to reach the Anthropic API itself through the
gateway (the gateway injects ANTHROPIC_API_KEY; this client never sees it).
"""

import os

from anthropic import Anthropic

client = Anthropic(
    base_url=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000"),
    api_key=os.environ.get("GATEWAY_TOKEN", "unused"),
)

message = client.messages.create(
    model="opus",
    max_tokens=300,
    system="Answer in one sentence.",
    messages=[
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "7."},
        {"role": "user", "content": "And a larger one?"},
    ],
)
print("message:", message.content[0].text)
print(
    "stop reason:",
    message.stop_reason,
    "| usage:",
    message.usage.input_tokens,
    "in,",
    message.usage.output_tokens,
    "out",
)

print("stream: ", end="")
with client.messages.stream(
    model="sonnet", max_tokens=300, messages=[{"role": "user", "content": "Count to five."}]
) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
print()

print("models:", ", ".join(model.id for model in client.models.list()))
