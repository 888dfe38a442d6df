"""Valid requests of each dialect, from which the fuzz target (tests/test_fuzz_http.py) mutates.

Each is served with a 200 by the default routes (a test checks it): they carry the features of
their dialect (tools and tool results, images, documents, thinking, structured outputs, custom
and namespace tools, system turns) so that mutations reach every part of the decoders.
"""

from __future__ import annotations

from typing import Any

_TOOL_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

_CHAT = [
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
        ],
        "max_tokens": 50,
        "temperature": 0.5,
    },
    {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "developer", "content": "Use tools."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "read a.txt"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PNG}"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "contents"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "read_file",
                    "description": "Read",
                    "parameters": _TOOL_SCHEMA,
                },
            }
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning_effort": "low",
        "user": "u1",
    },
    {
        "model": "o3",
        "messages": [{"role": "user", "content": "answer in JSON"}],
        "max_completion_tokens": 100,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": _TOOL_SCHEMA, "strict": True},
        },
        "stop": ["END"],
        "seed": 1,
    },
]

PATCH = "*** Begin Patch\n*** Add File: a.txt\n+héllo\n*** End Patch"
_PDF = "JVBERi0xLjQKJcfsj6IK"
_NOTE = "bm90ZXM6IMO8bsOvY29kZQ=="  # "notes: ünïcode"

_CHAT.append(
    {
        "model": "gpt-4.1",
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "patch it"},
                    {
                        "type": "file",
                        "file": {
                            "filename": "a.pdf",
                            "file_data": f"data:application/pdf;base64,{_PDF}",
                        },
                    },
                    {"type": "file", "file": {"filename": "n.txt", "file_data": _NOTE}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "custom",
                        "custom": {"name": "apply_patch", "input": PATCH},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "done"}],
            },
            {"role": "user", "content": "patch it again"},
        ],
        "tools": [
            {
                "type": "custom",
                "custom": {
                    "name": "apply_patch",
                    "description": "Apply",
                    "format": {"type": "text"},
                },
            }
        ],
        "tool_choice": "required",
    }
)

_RESPONSES = [
    {"model": "gpt-4o", "input": "hello", "instructions": "Be brief.", "max_output_tokens": 50},
    {
        "model": "gpt-4o",
        "stream": True,
        "input": [
            {"role": "system", "content": "You are a coding assistant."},
            {"role": "user", "content": [{"type": "input_text", "text": "patch it"}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "read_file",
                "arguments": '{"path": "a.txt"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "contents"},
        ],
        "tools": [
            {"type": "function", "name": "read_file", "parameters": _TOOL_SCHEMA},
            {"type": "custom", "name": "apply_patch", "description": "Apply a patch"},
            {"type": "web_search"},
        ],
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "medium", "summary": "auto"},
        "text": {"verbosity": "low"},
        "store": False,
        "truncation": "auto",
    },
    {
        "model": "o3",
        "input": [{"role": "user", "content": "answer in JSON"}],
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": _TOOL_SCHEMA}},
        "tool_choice": "none",
    },
]

_RESPONSES.append(
    {
        "model": "gpt-4o",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "patch it"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{_PNG}"},
                    {
                        "type": "input_file",
                        "filename": "n.txt",
                        "file_data": f"data:text/plain;base64,{_NOTE}",
                    },
                ],
            },
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "plan"}],
                "encrypted_content": "claude-thinking:sig",
            },
            {
                "type": "custom_tool_call",
                "call_id": "call_3",
                "name": "apply_patch",
                "input": PATCH,
            },
            {"type": "custom_tool_call_output", "call_id": "call_3", "output": "done"},
            {"role": "developer", "content": "Keep going."},
            {"role": "user", "content": "think, then patch it"},
        ],
        "tools": [
            {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
            {
                "type": "namespace",
                "name": "files",
                "tools": [{"type": "function", "name": "read", "parameters": _TOOL_SCHEMA}],
            },
        ],
        "parallel_tool_calls": False,
        "reasoning": {"effort": "high", "summary": "detailed"},
    }
)

_MESSAGES = [
    {
        "model": "claude-sonnet-4.5",
        "max_tokens": 50,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hello"}],
    },
    {
        "model": "opus",
        "max_tokens": 1024,
        "stream": True,
        "system": [{"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "read a.txt"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": _PNG},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "look", "signature": "sig"},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "read_file",
                        "input": {"path": "a.txt"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "contents"}],
                    }
                ],
            },
        ],
        "tools": [{"name": "read_file", "description": "Read", "input_schema": _TOOL_SCHEMA}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u1"},
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_k": 5,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    },
    {
        "model": "claude-opus-5-5",
        "max_tokens": 100,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "a doc"},
                    },
                    {"type": "text", "text": "summarize"},
                ],
            }
        ],
        "output_config": {
            "effort": "low",
            "format": {"type": "json_schema", "schema": _TOOL_SCHEMA},
        },
    },
]

_MESSAGES.append(
    {
        "model": "haiku",
        "max_tokens": 200,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": _PDF},
                        "title": "a.pdf",
                    },
                    {
                        "type": "text",
                        "text": "think about it",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "redacted_thinking", "data": "xyz"},
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "read_file",
                        "input": {"path": "b"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "no such file"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": _PNG,
                                },
                            },
                        ],
                    }
                ],
            },
            {"role": "system", "content": "Answer briefly.", "output_config": {"effort": "high"}},
            {"role": "user", "content": "read a.txt"},
        ],
        "tools": [
            {"name": "read_file", "input_schema": _TOOL_SCHEMA, "strict": True},
        ],
        "tool_choice": {"type": "tool", "name": "read_file"},
        "service_tier": "auto",
    }
)

_COUNT_TOKENS = [
    {
        "model": "claude-sonnet-4-5",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hello"}],
        "tools": [{"name": "read_file", "input_schema": _TOOL_SCHEMA}],
    }
]

#: Valid requests, by route dialect (custom routes by path). Chat routes also take the other
#: shapes editors post there (gateway/dialects/chat_shapes.py).
SEEDS: dict[str, list[dict[str, Any]]] = {
    "openai.chat": _CHAT + _RESPONSES + _MESSAGES,
    "openai.responses": _RESPONSES,
    "anthropic.messages": _MESSAGES,
    "anthropic.count_tokens": _COUNT_TOKENS,
    "/api/chat": [
        {"prompt": "hello", "model": "sonnet", "system": "Be brief.", "max_tokens": 10},
        {"prompt": "hello", "stream": True},
    ],
    "/api/code": [{"prompt": "list the files", "working_dir": ".", "stream": False}],
    "/api/analyze": [{"content": "some text", "instruction": "summarize", "model": "haiku"}],
}
