"""The official `openai` SDK against the gateway: a completion, a stream, and a tool call.

    GATEWAY_URL=http://127.0.0.1:8000 python examples/openai_sdk/chat.py

The API key is the gateway's token (GATEWAY_TOKEN), or anything when the gateway has none.
"""

import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000") + "/v1",
    api_key=os.environ.get("GATEWAY_TOKEN", "unused"),
)

answer = client.chat.completions.create(
    model="gpt-4o",  # an alias: routes.yaml sends it to Claude Opus
    messages=[
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "What is a gateway?"},
    ],
)
print("completion:", answer.choices[0].message.content)
print("usage:", answer.usage.prompt_tokens, "in,", answer.usage.completion_tokens, "out")

print("stream: ", end="")
stream = client.chat.completions.create(
    model="sonnet",
    messages=[{"role": "user", "content": "Count to five."}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()

weather = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
answer = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    tools=[weather],
)
message = answer.choices[0].message
for call in message.tool_calls or []:
    print("tool call:", call.function.name, json.loads(call.function.arguments))
print("finish reason:", answer.choices[0].finish_reason)
