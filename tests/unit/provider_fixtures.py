"""Fixtures for the provider wire tests: a fresh loopback LLM server and an httpx client.

Test modules load them with `pytest_plugins = ["tests.unit.provider_fixtures"]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.server import FakeLLMServer, running_server
from tests.unit.provider_helpers import Sleeps
from tui.providers.retry import RetryPolicy


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    with running_server() as server:
        yield server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    """The default policy, never sleeping for real, with no jitter."""
    return RetryPolicy(sleep=sleeps, random=lambda: 0.0)
