"""The real model download code, up to the network: a fake Hugging Face Hub on 127.0.0.1.

huggingface_hub reads HF_ENDPOINT and HF_HOME when it is imported, so every Hub scenario
runs in a fresh Python process pointed at the fake Hub. Inside it, a guard on
``socket.connect`` records every connection and refuses any address but 127.0.0.1.

The fake Hub behaves like huggingface.co for ``HEAD``/``GET /{org}/{repo}/resolve/{rev}/{file}``:
small files come straight back (200, ``ETag``, ``X-Repo-Commit``); weight files (LFS) get a
302 to a second loopback server standing in for the CDN, with ``X-Linked-Etag`` and
``X-Linked-Size``; unknown repos get 401 ``X-Error-Code: RepoNotFound`` and missing files
404 ``EntryNotFound``. It never sends ``X-Xet-*`` headers, so no Xet download is tried.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import numpy as np
import pytest
from notorch import BLOCK_TORCH

from clipdesk.core.errors import ClipDeskError, UnsafeCheckpoint
from clipdesk.core.models import CONFIG_NAME, WEIGHT_NAMES, ModelSpec, load, save_local_dir

ROOT = Path(__file__).resolve().parents[2]
COMMIT = hashlib.sha1(b"clipdesk-test").hexdigest()  # 40 hex digits, like a git commit
SAFETENSORS, PICKLE_BIN = WEIGHT_NAMES
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


# --------------------------------------------------------------------------- fake Hub


class FakeHub:
    """A Hub lookalike on loopback: ``/resolve/`` on one port, LFS blobs on a "CDN" port."""

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos = repos
        self.blobs = {
            hashlib.sha256(data).hexdigest(): (name, data)
            for files in repos.values()
            for name, data in files.items()
        }
        self.requests: list[tuple[str, str, str, int]] = []  # (server, method, path, status)
        self.lock = threading.Lock()
        handler = type("Handler", (_HubHandler,), {"fake": self})
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        for server in (self.hub, self.cdn):
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def hits(self, server: str, method: str, path_end: str) -> list[int]:
        """Statuses of the requests to ``server`` with ``method`` whose path ends so."""
        with self.lock:
            return [s for (srv, m, p, s) in self.requests if srv == server and m == method
                    and p.endswith(path_end)]

    def stop(self) -> None:
        if self.running:
            for server in (self.hub, self.cdn):
                server.shutdown()
                server.server_close()
            self.running = False


class _HubHandler(BaseHTTPRequestHandler):
    fake: FakeHub

    def log_message(self, format, *args):  # keep the test output quiet
        pass

    def do_HEAD(self):
        self._serve(with_body=False)

    def do_GET(self):
        self._serve(with_body=True)

    def _send(self, status: int, headers: dict[str, str], body: bytes, with_body: bool) -> None:
        server = "hub" if self.server is self.fake.hub else "cdn"
        with self.fake.lock:
            self.fake.requests.append((server, self.command, self.path, status))
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, with_body: bool, **headers) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {"Content-Type": "application/json", "X-Error-Code": code,
                   "X-Error-Message": message, **headers}
        self._send(status, headers, body, with_body)

    def _serve(self, with_body: bool) -> None:
        path = urlsplit(self.path).path
        if self.server is self.fake.cdn:  # signed-URL storage: just bytes by content hash
            blob = self.fake.blobs.get(path.removeprefix("/blobs/"))
            if blob is None:
                return self._send(404, {}, b"no such blob", with_body)
            name, data = blob
            sha = hashlib.sha256(data).hexdigest()
            headers = {"ETag": f'"{sha}"', "Content-Type": "application/octet-stream",
                       "Content-Disposition": f'inline; filename*=UTF-8\'\'{name}; filename="{name}";'}
            return self._send(200, headers, data, with_body)

        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        files = self.fake.repos.get(match.group(1)) if match else None
        if files is None:  # what huggingface.co answers for a missing (or private) repo
            return self._error(401, "RepoNotFound", "Repository not found", with_body)
        _, revision, filename = match.groups()
        if revision not in ("main", COMMIT):
            return self._error(404, "RevisionNotFound", "Invalid rev id", with_body)
        if filename not in files:
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}",
                               with_body, **{"X-Repo-Commit": COMMIT})
        data = files[filename]
        if filename.endswith((".safetensors", ".bin", ".onnx")):  # LFS: redirect to the CDN
            sha = hashlib.sha256(data).hexdigest()
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(data)), "Location": f"{self.fake.cdn_url}/blobs/{sha}"}
            return self._send(302, headers, b"", with_body)
        git_sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{git_sha}"', "Content-Type": "text/plain"}
        return self._send(200, headers, data, with_body)


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- scenarios in a subprocess

RESULT_MARK = "SCENARIO-RESULT "
PRELUDE = r'''
import json, socket, time

CONNECTS = []
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

def _loopback_only(real):
    def connect(sock, address):
        if isinstance(address, tuple):
            CONNECTS.append(f"{address[0]}:{address[1]}")
            if address[0] != "127.0.0.1":
                raise OSError(f"test guard: no network beyond 127.0.0.1 (tried {address[0]})")
        return real(sock, address)
    return connect

socket.socket.connect = _loopback_only(_connect)
socket.socket.connect_ex = _loopback_only(_connect_ex)

def outcome(fn):
    """fn()'s value, or the exception it raised, with the time it took."""
    start = time.monotonic()
    try:
        value = fn()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc),
                "mro": [c.__name__ for c in type(exc).__mro__], "seconds": time.monotonic() - start}
    return {"ok": True, "value": value, "seconds": time.monotonic() - start}

def report(**fields):
    print("SCENARIO-RESULT " + json.dumps({**fields, "connects": CONNECTS}), flush=True)
'''


def hub_env(hf_home: Path, endpoint: str) -> dict[str, str]:
    """The environment minus proxies and Hugging Face settings, pointed at ``endpoint``."""
    env = {
        k: v for k, v in os.environ.items()
        if not (k.upper().endswith("_PROXY") or k.upper().startswith(("HF_", "HUGGINGFACE", "TQDM_"))
                or k in ("CLIPDESK_MODEL", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                         "CLIPDESK_ONNX_CACHE", "CLIPDESK_RUNTIME"))
    }
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_XET="1",
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_IMPLICIT_TOKEN="1")
    return env


def run_scenario(body: str, hf_home: Path, endpoint: str) -> dict:
    """Run ``body`` (which calls ``report``) in a fresh Python; its report plus ``wall_s``."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)], env=hub_env(hf_home, endpoint),
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    wall = time.monotonic() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert proc.returncode == 0 and lines, (
        f"scenario failed (rc={proc.returncode})\n{proc.stdout}\n{proc.stderr[-4000:]}"
    )
    result = json.loads(lines[-1][len(RESULT_MARK):])
    assert all(c.startswith("127.0.0.1:") for c in result["connects"]), result["connects"]
    return {**result, "wall_s": wall}


def assert_error(outcome: dict, cls: str, *, not_cls: str | None = None) -> str:
    assert not outcome["ok"], f"expected {cls}, got {outcome}"
    assert cls in outcome["mro"], outcome
    if not_cls:
        assert not_cls not in outcome["mro"], outcome
    return outcome["message"]


LOAD_TINY = """
from clipdesk.core.models import ModelSpec, is_cached, load, locate
spec = ModelSpec.parse("hf-hub:clipdesk-test/tiny")
was_cached = is_cached(spec)
def run():
    encoder = load(spec, device="cpu")
    vector = encoder.encode_texts(["a cat"])
    return {"shape": list(vector.shape), "vector": vector[0].tolist(),
            "weights": str(locate(spec, download=False).weights)}
report(was_cached=was_cached, load=outcome(run), cached=is_cached(spec))
"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random CLIP saved as a local-dir folder, its file bytes, and its text embedding."""
    import open_clip
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.model.CLIP(**TINY_CFG)
    folder = save_local_dir(model, TINY_CFG, tmp_path_factory.mktemp("tiny"))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    expected = load(ModelSpec.parse(f"local-dir:{folder}"), device="cpu").encode_texts(["a cat"])
    return SimpleNamespace(
        model=model, folder=folder, config=(folder / CONFIG_NAME).read_bytes(),
        safetensors=(folder / SAFETENSORS).read_bytes(), state_dict_bin=buffer.getvalue(),
        cat=expected[0],
    )


def tiny_repos(tiny) -> dict[str, dict[str, bytes]]:
    return {
        "clipdesk-test/tiny": {CONFIG_NAME: tiny.config, SAFETENSORS: tiny.safetensors},
        "clipdesk-test/tiny-bin": {CONFIG_NAME: tiny.config, PICKLE_BIN: tiny.state_dict_bin},
        "clipdesk-test/config-only": {CONFIG_NAME: tiny.config},
    }


@pytest.fixture
def fake_hub(tiny):
    hub = FakeHub(tiny_repos(tiny))
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def downloaded(tiny, tmp_path_factory):
    """Scenario 1, shared: download hf-hub:clipdesk-test/tiny into a fresh cache; then stop the Hub."""
    hub = FakeHub(tiny_repos(tiny))
    hf_home = tmp_path_factory.mktemp("downloaded") / "hf"
    try:
        result = run_scenario(LOAD_TINY, hf_home, hub.url)
    finally:
        hub.stop()
    return SimpleNamespace(hub=hub, hf_home=hf_home, result=result)


# --------------------------------------------------------------------------- Hub scenarios


def test_first_load_downloads_config_and_weights_once(downloaded, tiny):
    """Not cached + Hub up: load() fetches the config and the weights (once) and works."""
    result, hub = downloaded.result, downloaded.hub
    assert result["was_cached"] is False
    assert result["load"]["ok"], result["load"]
    value = result["load"]["value"]
    assert value["shape"] == [1, 32]
    vector = np.array(value["vector"])
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(vector, tiny.cat, atol=1e-5)  # the served weights, not random ones
    assert result["cached"] is True

    snapshot = downloaded.hf_home / "hub" / "models--clipdesk-test--tiny" / "snapshots" / COMMIT
    assert Path(value["weights"]) == snapshot / SAFETENSORS
    assert (snapshot / SAFETENSORS).read_bytes() == tiny.safetensors
    assert (snapshot / CONFIG_NAME).read_bytes() == tiny.config

    assert hub.hits("hub", "HEAD", f"/tiny/resolve/main/{CONFIG_NAME}") == [200]
    assert hub.hits("hub", "GET", f"/tiny/resolve/main/{CONFIG_NAME}") == [200]
    assert hub.hits("hub", "HEAD", f"/tiny/resolve/main/{SAFETENSORS}") == [302]
    sha = hashlib.sha256(tiny.safetensors).hexdigest()
    assert hub.hits("cdn", "GET", f"/blobs/{sha}") == [200]  # weights fetched exactly once
    assert hub.hits("hub", "HEAD", PICKLE_BIN) == []  # safetensors found: the pickle not asked for


def test_cached_model_loads_offline_without_any_connection(downloaded, tiny):
    """Cached + Hub gone: load() works from the cache, connects to nothing, and is quick."""
    assert not downloaded.hub.running
    result = run_scenario(LOAD_TINY, downloaded.hf_home, downloaded.hub.url)
    assert result["was_cached"] is True
    assert result["load"]["ok"], result["load"]
    np.testing.assert_allclose(result["load"]["value"]["vector"], tiny.cat, atol=1e-5)
    assert result["connects"] == []
    assert result["wall_s"] < 20, result  # no retry loop against the dead endpoint


@pytest.mark.parametrize("endpoint", ["stopped-hub", "closed-port"])
def test_never_downloaded_model_offline_is_unavailable_with_advice(endpoint, tiny, tmp_path):
    """Not cached + no Hub: ModelUnavailable at once, advising a local-dir: model."""
    if endpoint == "stopped-hub":
        hub = FakeHub(tiny_repos(tiny))
        hub.stop()
        url = hub.url
    else:
        url = closed_port_url()
    result = run_scenario("""
        from clipdesk.core.models import ModelSpec, is_cached, locate
        spec = ModelSpec.parse("hf-hub:clipdesk-test/tiny")
        report(locate=outcome(lambda: str(locate(spec).weights)),
               no_download=outcome(lambda: str(locate(spec, download=False).weights)),
               cached=is_cached(spec))
    """, tmp_path / "hf", url)
    message = assert_error(result["locate"], "ModelUnavailable")
    assert "hf-hub:clipdesk-test/tiny" in message and "local-dir:" in message
    assert "local-dir:" in assert_error(result["no_download"], "ModelUnavailable")
    assert result["cached"] is False
    assert result["wall_s"] < 15, result


def test_default_pretrained_model_offline_is_unavailable(tmp_path):
    """The default ARCH:TAG spec, not cached, Hub unreachable: ModelUnavailable too."""
    result = run_scenario("""
        from clipdesk.core.models import DEFAULT_SPEC, ModelSpec, locate
        report(locate=outcome(lambda: str(locate(ModelSpec.parse(DEFAULT_SPEC)).weights)))
    """, tmp_path / "hf", closed_port_url())
    message = assert_error(result["locate"], "ModelUnavailable")
    assert "ViT-B-32:laion2b_s34b_b79k" in message and "local-dir:" in message
    assert result["wall_s"] < 30, result


def test_unknown_repo_or_repo_without_weights_is_a_plain_error(fake_hub, tmp_path):
    """Hub up but no such repo / no weights in it: ClipDeskError naming it, not 'offline'."""
    result = run_scenario("""
        from clipdesk.core.models import ModelSpec, locate
        report(unknown=outcome(lambda: str(locate(ModelSpec.parse("hf-hub:clipdesk-test/nope")))),
               empty=outcome(lambda: str(locate(ModelSpec.parse("hf-hub:clipdesk-test/config-only")))))
    """, tmp_path / "hf", fake_hub.url)
    message = assert_error(result["unknown"], "ClipDeskError", not_cls="ModelUnavailable")
    assert "clipdesk-test/nope" in message
    message = assert_error(result["empty"], "ClipDeskError", not_cls="ModelUnavailable")
    assert "clipdesk-test/config-only" in message and "no open_clip weights" in message
    assert fake_hub.hits("hub", "HEAD", f"config-only/resolve/main/{SAFETENSORS}") == [404]
    assert fake_hub.hits("hub", "HEAD", f"config-only/resolve/main/{PICKLE_BIN}") == [404]


def test_repo_with_only_a_pickle_falls_back_to_it_and_then_stays_offline(fake_hub, tmp_path):
    """No safetensors on the Hub: the .bin is fetched; the next lookup makes no request."""
    result = run_scenario("""
        from clipdesk.core.models import ModelSpec, locate
        spec = ModelSpec.parse("hf-hub:clipdesk-test/tiny-bin")
        first = outcome(lambda: str(locate(spec).weights))
        before = len(CONNECTS)
        again = outcome(lambda: str(locate(spec).weights))
        report(first=first, again=again, new_connects=len(CONNECTS) - before)
    """, tmp_path / "hf", fake_hub.url)
    assert result["first"]["ok"], result["first"]
    assert result["first"]["value"].endswith(PICKLE_BIN)
    assert result["again"]["ok"] and result["again"]["value"] == result["first"]["value"]
    assert result["new_connects"] == 0
    assert fake_hub.hits("hub", "HEAD", f"tiny-bin/resolve/main/{SAFETENSORS}") == [404]
    assert fake_hub.hits("cdn", "GET", hashlib.sha256(fake_hub.repos[
        "clipdesk-test/tiny-bin"][PICKLE_BIN]).hexdigest()) == [200]


def test_download_reports_progress_through_tqdm_class(fake_hub, tiny, tmp_path):
    """A custom tqdm_class sees the weights file's size and every byte of it."""
    result = run_scenario("""
        from tqdm.auto import tqdm
        from clipdesk.core.models import ModelSpec, locate

        class Recorder(tqdm):
            bars = []
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                Recorder.bars.append(self)
            def update(self, n=1):
                self.seen = getattr(self, "seen", 0) + n
                return super().update(n)

        got = outcome(lambda: str(locate(ModelSpec.parse("hf-hub:clipdesk-test/tiny"),
                                         tqdm_class=Recorder).weights))
        report(got=got, bars=[{"desc": b.desc, "total": b.total, "seen": getattr(b, "seen", 0)}
                              for b in Recorder.bars])
    """, tmp_path / "hf", fake_hub.url)
    assert result["got"]["ok"], result["got"]
    size = len(tiny.safetensors)
    weights_bars = [b for b in result["bars"] if SAFETENSORS in b["desc"]]
    assert weights_bars == [{"desc": SAFETENSORS, "total": size, "seen": size}], result["bars"]


# --------------------------------------------------------------------------- checkpoint safety


class _WritesMarker:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


class _TensorWithOddState:
    """A tensor whose pickled state makes torch's weights-only unpickler raise TypeError
    (``Tensor.set_(*state)``), while plain pickle accepts it (``Tensor.__setstate__``)."""

    def __reduce__(self):
        import torch

        rebuild, args = torch.zeros(1).__reduce_ex__(2)[:2]
        return (rebuild, args, (False, None, None))


def _local_dir(folder: Path, tiny, weights: bytes | object) -> Path:
    import torch

    folder.mkdir()
    (folder / CONFIG_NAME).write_bytes(tiny.config)
    if isinstance(weights, bytes):
        (folder / PICKLE_BIN).write_bytes(weights)
    else:
        torch.save(weights, folder / PICKLE_BIN)
    return folder


@pytest.mark.parametrize("force_unsafe_default", [False, True], ids=["torch-default", "no-weights-only-env"])
@pytest.mark.parametrize("payload", ["code", "type-error-then-code", "whole-model"])
def test_pickled_code_in_a_checkpoint_never_runs(payload, force_unsafe_default, tiny, tmp_path,
                                                 monkeypatch):
    """A .bin that needs code to unpickle is refused, and the code does not run, even where a
    plain torch.load would run it (torch < 2.6, or TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)."""
    if force_unsafe_default:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "code-ran"
    weights = {
        "code": {"logit_scale": _WritesMarker(marker)},
        "type-error-then-code": [_TensorWithOddState(), _WritesMarker(marker)],
        "whole-model": tiny.model,
    }[payload]
    folder = _local_dir(tmp_path / "model", tiny, weights)
    with pytest.raises(ClipDeskError) as info:
        load(ModelSpec.parse(f"local-dir:{folder}"), device="cpu")
    assert not marker.exists(), "unpickling ran the checkpoint's code"
    if payload != "type-error-then-code":
        assert isinstance(info.value, UnsafeCheckpoint)
        assert "refused to load" in str(info.value) and "safetensors" in str(info.value)
    assert str(folder / PICKLE_BIN) in str(info.value)


def test_weights_only_pickle_checkpoint_loads(tiny, tmp_path):
    """A plain torch.save(model.state_dict()) .bin in a local-dir loads and embeds correctly."""
    folder = _local_dir(tmp_path / "model", tiny, tiny.state_dict_bin)
    encoder = load(ModelSpec.parse(f"local-dir:{folder}"), device="cpu")
    np.testing.assert_allclose(encoder.encode_texts(["a cat"])[0], tiny.cat, atol=1e-5)


# --------------------------------------------------------------------------- ONNX layout on the Hub

LOAD_ONNX = BLOCK_TORCH + """
import sys
from clipdesk.core.models import DEFAULT_SPEC, ModelSpec, is_cached, load
def run(text):
    spec = ModelSpec.parse(text)
    def go():
        encoder = load(spec, device="cpu")
        vector = encoder.encode_texts(["a cat"])
        image = encoder.encode_images(__import__("numpy").zeros((2, 3, 32, 32), "float32"))
        return {"runtime": encoder.runtime, "identity": encoder.identity,
                "vector": vector[0].tolist(), "image_shape": list(image.shape),
                "root": str(encoder.onnx.root)}
    return {"was_cached": is_cached(spec), "load": outcome(go), "cached": is_cached(spec)}
report(hub=run("hf-hub:clipdesk-test/onnx-tiny"), default=run(DEFAULT_SPEC),
       torch=[m for m in sys.modules if m.split(".")[0] in ("torch", "open_clip")])
"""


@pytest.fixture(scope="module")
def immich_files(tiny, tmp_path_factory) -> dict[str, bytes]:
    """The tiny model as Immich publishes models: every file of its repository."""
    import tinyclip

    folder = tinyclip.immich_layout(tiny.folder, tmp_path_factory.mktemp("immich"))
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def test_onnx_layout_downloads_and_loads_without_torch(immich_files, tiny, tmp_path):
    """An ONNX repository (Immich's layout) and the default model (Immich's export of it)
    download through the real code, load on ONNX Runtime with torch unimportable, and then
    load again offline from the cache."""
    hub = FakeHub({"clipdesk-test/onnx-tiny": immich_files,
                   "immich-app/ViT-B-32__laion2b-s34b-b79k": immich_files})
    try:
        result = run_scenario(LOAD_ONNX, tmp_path / "hf", hub.url)
    finally:
        hub.stop()
    assert result["torch"] == []
    for name in ("hub", "default"):
        run = result[name]
        assert run["was_cached"] is False and run["cached"] is True
        assert run["load"]["ok"], run["load"]
        value = run["load"]["value"]
        assert value["runtime"] == "onnx" and value["image_shape"] == [2, 32]
        vector = np.array(value["vector"])
        assert float(vector @ tiny.cat) >= 0.9999  # the served model, not another one
    assert result["default"]["load"]["value"]["identity"] == "ViT-B-32:laion2b_s34b_b79k"
    assert "models--immich-app--ViT-B-32__laion2b-s34b-b79k" in result["default"]["load"]["value"]["root"]
    onnx_sha = hashlib.sha256(immich_files["visual/model.onnx"]).hexdigest()
    assert hub.hits("cdn", "GET", f"/blobs/{onnx_sha}") == [200, 200]  # once per repository
    assert hub.hits("hub", "GET", "/resolve/main/open_clip_config.json") == []

    offline = run_scenario(LOAD_ONNX, tmp_path / "hf", closed_port_url())  # cached: no Hub
    for name in ("hub", "default"):
        assert offline[name]["was_cached"] is True and offline[name]["load"]["ok"]
        assert offline[name]["load"]["value"]["vector"] == result[name]["load"]["value"]["vector"]
    assert offline["connects"] == []


def test_incomplete_onnx_repository_is_a_plain_error(immich_files, tmp_path):
    partial = {k: v for k, v in immich_files.items() if k != "visual/model.onnx"}
    hub = FakeHub({"clipdesk-test/partial": partial})
    try:
        result = run_scenario("""
            from clipdesk.core.models import ModelSpec, load
            report(load=outcome(lambda: load(ModelSpec.parse("hf-hub:clipdesk-test/partial"))
                                        .dim))
        """, tmp_path / "hf", hub.url)
    finally:
        hub.stop()
    message = assert_error(result["load"], "ClipDeskError", not_cls="ModelUnavailable")
    assert "visual/model.onnx" in message
