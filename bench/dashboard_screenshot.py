"""The picture in docs/usage.md: real traffic through a gateway for a few minutes, then the
dashboard's 15-minute view in headless Chromium.

A gateway in front of the mock upstream (tests/mock_upstream.py) serves both SDKs for
``--minutes`` minutes at a rate that rises and falls, from two named keys of one team (each with
a budget) and two models, with some answers slow and some refused; then the page is opened,
logged into with the admin token and photographed.

    .venv/bin/python bench/dashboard_screenshot.py [--minutes 4] [--out docs/usage-dashboard.png]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import openai  # noqa: E402
from browser import Browser  # noqa: E402
from mock_upstream import MockUpstream, Reply  # noqa: E402
from server import ServedApp  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.teams.keys import hash_key, new_key  # noqa: E402

TOKEN = "screenshot-token"
ROUTES = """
version: 1
auth:
  token: {token}
  keys:
    - {{name: laptop, hash: "{laptop}", team: platform, budget: {{period: day, usd: 2}}}}
    - {{name: ci-bot, hash: "{ci_bot}", team: platform, budget: {{period: day, tokens: 3000000}}}}
teams:
  platform: {{budget: {{period: month, usd: 40}}}}
sinks:
  claude-api: {{kind: http, base_url: "{upstream}", dialect: anthropic.messages}}
models:
  - {{name: opus, target: claude-opus-5-5}}
  - {{name: sonnet, target: claude-sonnet-5-5}}
routes:
  - {{path: /v1/messages, dialect: anthropic.messages}}
  - {{path: /v1/chat/completions, dialect: openai.chat}}
access_log: {{enabled: false}}
usage: {{path: {ledger}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--out", default=str(ROOT / "docs" / "usage-dashboard.png"))
    args = parser.parse_args()
    chance = random.Random(7)
    upstream = MockUpstream().start()
    upstream.when("busy", Reply(error=(529, "overloaded_error", "busy")))
    upstream.when("long", Reply(text="x " * 40, input_tokens=2400, output_tokens=600,
                                cache_read_input_tokens=18000, chunks=8, delay=0.05))  # fmt: skip
    upstream.when("short", Reply(text="ok", input_tokens=900, output_tokens=120,
                                 cache_read_input_tokens=6000, chunks=3, delay=0.01))  # fmt: skip
    keys = {"laptop": new_key(), "ci-bot": new_key()}
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "routes.yaml"
        config_path.write_text(ROUTES.format(
            token=TOKEN, upstream=upstream.base_url, ledger=Path(folder) / "usage.db",
            laptop=hash_key(keys["laptop"]), ci_bot=hash_key(keys["ci-bot"]),
        ))  # fmt: skip
        app = create_app(load_config(config_path))
        app.config.TOUCHUP = False
        served = ServedApp(app).start()
        clients = {
            name: (
                openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0),
                anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0),
            )
            for name, key in keys.items()
        }  # fmt: skip
        started = time.monotonic()
        end = started + args.minutes * 60
        while (now := time.monotonic()) < end:
            phase = (now - started) / (args.minutes * 60)
            name = "ci-bot" if chance.random() < 0.35 else "laptop"
            chat, messages = clients[name]
            model = "opus" if chance.random() < 0.4 else "sonnet"
            kind = (
                "busy" if chance.random() < 0.05 else ("long" if chance.random() < 0.3 else "short")
            )
            content = [{"role": "user", "content": kind}]
            try:
                if chance.random() < 0.3:
                    list(chat.chat.completions.create(model=model, messages=content, stream=True))
                else:
                    with messages.messages.stream(
                        model=model, max_tokens=900, messages=content
                    ) as s:
                        s.get_final_message()
            except (openai.APIStatusError, anthropic.APIStatusError):
                pass
            time.sleep(0.15 + 0.6 * (1 + math.sin(phase * 2 * math.pi * 2)) / 2)
        browser = Browser().start()
        try:
            browser.navigate(served.url + "/dashboard")
            browser.wait_for("!!document.getElementById('token')")
            browser.evaluate(f"document.getElementById('token').value = {TOKEN!r}; "
                             "document.getElementById('login').submit(); true")  # fmt: skip
            browser.wait_for("Number(document.getElementById('updated')?.dataset.updates) >= 1")
            browser.evaluate("document.querySelector('button[data-minutes=\"15\"]').click(); true")
            browser.wait_for("document.getElementById('updated').dataset.minutes === '15'")
            browser.screenshot(Path(args.out), full_page=True)
            shown = "document.querySelector('[data-metric=requests]').dataset.value"
            print(f"{args.out}: {browser.evaluate(shown)} requests shown")
        finally:
            browser.close()
            served.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
