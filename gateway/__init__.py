"""A declarative Sanic gateway that serves Claude through the OpenAI and Anthropic APIs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
