"""The two sinks that run Claude Code: ``kind: cli`` (the binary, one process per request) and
``kind: sdk`` (the official Python SDK). docs/cli-sink.md has what was measured.

    cli.py, sdk.py        the two sinks
    shared.py             what they share: settings, the binary, the process limit, run dirs
    run_plan.py           one IR request as one Claude Code run (pure: flags, env, transcript)
    conversation.py       the client's turns as a resumed transcript plus replayed lines
    client_tools.py       the client's own tools, offered without the CLI running them
    stream_json.py        the CLI's stream-json output as IR events
    spare.py, warm_pool.py  processes started before their request
    child_process.py, ndjson.py  one child in its own process group, its output decoded
    binary.py, login.py   finding the binary; whether it can reach Claude
    run_dirs.py, confinement.py  private run directories; per-request working directories
    settings.py, sdk_adapters.py  the sink options; the two Python SDKs behind one interface
"""
