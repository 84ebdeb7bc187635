"""Fixtures for the provider wire tests: a fresh loopback LLM server and an httpx client.

Test modules load them with `pytest_plugins = ["tests.unit.provider_fixtures"]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.server import FakeLLMServer, running_server
from tests.unit.provider_helpers import Sleeps
from tui.providers import threaded
from tui.providers.retry import RetryPolicy


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    with running_server() as server:
        yield server


@pytest.fixture(params=["loop", "thread"])
async def http_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """Every wire test runs over httpx's own transport and over the app's (a thread reads)."""
    if request.param == "thread":
        async with threaded.async_client() as client:
            yield client
    else:
        async with httpx.AsyncClient() as client:
            yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    """The default policy, never sleeping for real, with no jitter."""
    return RetryPolicy(sleep=sleeps, random=lambda: 0.0)
