"""Model catalogue, cache, downloads and checkpoint checks (sam2studio.engines.models).

Downloads run against an in-memory HTTP server on 127.0.0.1; the payload is a real
sam2.1-tiny checkpoint built from the installed sam2 config with random weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import os
import socket
import threading
from importlib import resources
from pathlib import Path

import pytest
import torch

from loopback import POLL_S
from sam2studio.engines import models
from sam2studio.errors import Cancelled, CheckpointError, UserError

TINY = "sam2.1-tiny"
TINY_FILE = "sam2.1_hiera_tiny.pt"


# --------------------------------------------------------------------------- fixtures


def _save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def payload() -> bytes:
    """A real sam2.1-tiny checkpoint (random weights), ~156 MB."""
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    model = build_sam2_video_predictor(
        "configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu"
    )
    data = _save({"model": model.state_dict()})
    del model
    return data


@pytest.fixture(scope="session")
def payload_file(payload, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "random_tiny.pt"
    path.write_bytes(payload)
    return path


class _State:
    def __init__(self) -> None:
        self.data = b""
        self.honour_range = True
        self.cut_after: int | None = None  # close the connection after N body bytes, once
        self.status: int | None = None  # answer every request with this error status
        self.send_length = True
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        st: _State = self.server.state  # type: ignore[attr-defined]
        with st.lock:
            st.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
            cut, st.cut_after = st.cut_after, None
        if st.status is not None:
            self.send_error(st.status)
            return
        data = st.data
        start = 0
        rng = self.headers.get("Range")
        if rng and st.honour_range:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = memoryview(data)[start:]
        if st.send_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if cut is not None:
            body = body[:cut]
            self.close_connection = True
        try:
            for i in range(0, len(body), 1 << 20):
                self.wfile.write(body[i : i + (1 << 20)])
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = _State()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    httpd.url = f"{httpd.base}/files/{TINY_FILE}"  # type: ignore[attr-defined]
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Cache in tmp_path, no mirror override, no proxies between us and 127.0.0.1."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(models.CACHE_ENV, str(cache))
    monkeypatch.delenv(models.BASE_URL_ENV, raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return cache


def _ranges(server) -> list[str | None]:
    return [r.get("Range") for r in server.state.requests]


# --------------------------------------------------------------------------- catalogue


def test_catalogue_has_every_size_of_both_versions_with_existing_configs():
    expected = {
        f"{v}-{s}" for v in ("sam2.1", "sam2") for s in ("tiny", "small", "base-plus", "large")
    }
    assert set(models.model_names()) == expected
    assert models.DEFAULT_MODEL == "sam2.1-tiny"
    sam2_root = resources.files("sam2")
    for info in models.MODELS.values():
        assert sam2_root.joinpath(info.config).is_file(), info.config
        assert info.url.startswith("https://dl.fbaipublicfiles.com/segment_anything_2/")
        assert info.url.endswith("/" + info.filename)
        assert info.size_bytes > 100_000_000
        assert info.size_mb == round(info.size_bytes / 1e6)
        assert info.description and "\n" not in info.description
        assert info.sha256 is None or len(info.sha256) == 64
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.name = "x"  # type: ignore[misc]
    tiny = models.get_model(TINY)
    assert tiny.config == "configs/sam2.1/sam2.1_hiera_t.yaml"
    assert tiny.url == (
        "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt"
    )
    assert models.get_model("sam2-large").url == (
        "https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_large.pt"
    )


def test_unknown_model_name_raises_user_error_listing_valid_names():
    with pytest.raises(UserError) as err:
        models.get_model("sam3-huge")
    msg = str(err.value)
    assert "sam3-huge" in msg
    for name in models.MODELS:
        assert name in msg
    with pytest.raises(UserError):
        models.download("sam3-huge")
    with pytest.raises(UserError):
        models.installed_path("nope")


def test_cache_dir_defaults_to_platformdirs_and_env_overrides(monkeypatch, tmp_path):
    from platformdirs import user_cache_dir

    monkeypatch.delenv(models.CACHE_ENV)
    assert models.cache_dir() == Path(user_cache_dir("sam2studio")) / "checkpoints"
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert models.cache_dir() == tmp_path / "elsewhere"


def test_base_url_env_replaces_directory_of_catalogue_url(monkeypatch):
    assert models.model_url(TINY) == models.get_model(TINY).url
    monkeypatch.setenv(models.BASE_URL_ENV, "http://mirror.example/sam/")
    assert models.model_url(TINY) == "http://mirror.example/sam/sam2.1_hiera_tiny.pt"
    assert models.model_url("sam2-small") == "http://mirror.example/sam/sam2_hiera_small.pt"


def test_list_models_and_table_show_installed_state(isolated):
    rows = models.list_models()
    assert [info.name for info, _, _ in rows] == models.model_names()
    assert all(not installed and path is None for _, installed, path in rows)
    table = models.format_model_table()
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["NAME", "SIZE", "INSTALLED", "DESCRIPTION"]
    assert not models.is_installed(TINY)

    isolated.mkdir(parents=True)
    (isolated / TINY_FILE).write_bytes(b"pretend")
    (isolated / "sam2_hiera_large.pt.part").write_bytes(b"half")  # a .part is not installed
    assert models.is_installed(TINY)
    assert models.installed_path(TINY) == isolated / TINY_FILE
    assert not models.is_installed("sam2-large")
    by_name = {info.name: (installed, path) for info, installed, path in models.list_models()}
    assert by_name[TINY] == (True, isolated / TINY_FILE)
    assert by_name["sam2-large"] == (False, None)

    table = models.format_model_table()
    row = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert row["sam2.1-tiny"].split()[1:5] == ["(default)", "156", "MB", "yes"]
    assert row["sam2-large"].split()[1:4] == ["898", "MB", "no"]
    assert models.get_model("sam2-large").description in row["sam2-large"]
    assert str(isolated) in table


def test_resolve_checkpoint_prefers_given_file_then_installed(isolated, tmp_path):
    assert models.resolve_checkpoint(TINY) is None
    with pytest.raises(CheckpointError, match="does not exist"):
        models.resolve_checkpoint(TINY, tmp_path / "missing.pt")
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"x")
    assert models.resolve_checkpoint(TINY, str(mine)) == mine
    isolated.mkdir(parents=True)
    (isolated / TINY_FILE).write_bytes(b"x")
    assert models.resolve_checkpoint(TINY) == isolated / TINY_FILE
    assert models.resolve_checkpoint(TINY, mine) == mine
    with pytest.raises(UserError):
        models.resolve_checkpoint("bogus")


# --------------------------------------------------------------------------- check_checkpoint


def test_check_checkpoint_accepts_real_checkpoint(payload_file):
    models.check_checkpoint(payload_file, "configs/sam2.1/sam2.1_hiera_t.yaml")
    models.check_checkpoint(payload_file, TINY)  # a catalogue name works too


def test_check_checkpoint_rejects_checkpoint_of_another_config(payload_file):
    # sam2.1 tiny has a few more tensors than sam2 tiny
    with pytest.raises(CheckpointError) as err:
        models.check_checkpoint(payload_file, "configs/sam2/sam2_hiera_t.yaml")
    msg = str(err.value)
    assert str(payload_file) in msg
    assert "does not fit sam2-tiny" in msg
    assert "unexpected keys" in msg


def test_check_checkpoint_rejects_garbage_truncated_and_wrong_layout(tmp_path, payload):
    cases = {
        "garbage.pt": os.urandom(100_000),
        "truncated.pt": payload[: len(payload) // 3],
        "empty.pt": b"",
        "no_model_key.pt": _save({"state_dict": {"x": torch.zeros(2)}}),
    }
    for fname, data in cases.items():
        (tmp_path / fname).write_bytes(data)
    for fname in ("garbage.pt", "truncated.pt", "empty.pt"):
        with pytest.raises(CheckpointError, match="not a valid checkpoint") as err:
            models.check_checkpoint(tmp_path / fname, TINY)
        assert fname in str(err.value)
    with pytest.raises(CheckpointError, match="no 'model' state dict") as err:
        models.check_checkpoint(tmp_path / "no_model_key.pt", TINY)
    assert "no_model_key.pt" in str(err.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        models.check_checkpoint(tmp_path / "absent.pt", TINY)


def test_check_checkpoint_reports_shape_mismatch(tmp_path, payload):
    state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)["model"]
    key = next(k for k, v in state.items() if v.ndim == 2)
    state[key] = torch.zeros(3, 3)
    path = tmp_path / "reshaped.pt"
    path.write_bytes(_save({"model": state}))
    with pytest.raises(CheckpointError) as err:
        models.check_checkpoint(path, TINY)
    msg = str(err.value)
    assert "reshaped.pt does not fit sam2.1-tiny" in msg
    assert "1 tensors of the wrong shape" in msg and key in msg
    assert "missing" not in msg and "unexpected" not in msg


def test_a_checkpoint_builds_the_model_with_exactly_its_weights(payload_file):
    from sam2studio.engines.sam2_engine import build_predictor

    saved = torch.load(payload_file, map_location="cpu", weights_only=True)["model"]
    torch.manual_seed(123)  # the build's random initialisation must not survive the load
    built = build_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", payload_file, device="cpu").state_dict()
    assert built.keys() == saved.keys()
    assert all(torch.equal(built[k], saved[k]) for k in saved)


def test_a_bad_checkpoint_is_refused_before_the_model_is_built(tmp_path, payload, monkeypatch):
    import sam2.build_sam

    from sam2studio.engines.sam2_engine import build_predictor

    built = []
    monkeypatch.setattr(sam2.build_sam, "build_sam2_video_predictor", lambda *a, **k: built.append(a))
    (tmp_path / "truncated.pt").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt is not a valid checkpoint"):
        build_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", tmp_path / "truncated.pt", device="cpu")
    with pytest.raises(CheckpointError, match="absent.pt does not exist"):
        build_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", tmp_path / "absent.pt", device="cpu")
    assert built == []


def test_a_checkpoint_of_another_model_says_what_does_not_fit(payload_file):
    from sam2studio.engines.sam2_engine import build_predictor

    with pytest.raises(CheckpointError, match="does not fit sam2-tiny: .*unexpected keys") as err:
        build_predictor("configs/sam2/sam2_hiera_t.yaml", payload_file, device="cpu")
    assert str(payload_file) in str(err.value)


# --------------------------------------------------------------------------- downloads


def test_complete_download_lands_in_cache_and_reports_progress(server, payload, isolated):
    server.state.data = payload
    calls: list[tuple[int, int | None]] = []
    path = models.download(TINY, url=server.url, progress=lambda d, t: calls.append((d, t)))
    assert path == isolated / TINY_FILE
    assert path.read_bytes() == payload
    assert not (isolated / (TINY_FILE + ".part")).exists()
    assert calls[0] == (0, len(payload))
    assert calls[-1] == (len(payload), len(payload))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) <= 200  # throttled
    assert len(set(calls)) == len(calls)  # no repeats
    assert _ranges(server) == [None]
    assert models.is_installed(TINY)

    # Installed already: no second request unless forced.
    assert models.download(TINY, url=server.url) == path
    assert len(server.state.requests) == 1


def test_interrupted_download_keeps_part_and_resumes_with_range(server, payload, isolated):
    server.state.data = payload
    cut = int(len(payload) * 0.4)
    server.state.cut_after = cut
    with pytest.raises(UserError) as err:
        models.download(TINY, url=server.url)
    msg = str(err.value)
    assert msg.startswith(f"could not download {TINY} from {server.url}: ")
    assert f"after {cut} of {len(payload)} bytes" in msg
    assert "\n" not in msg
    part = isolated / (TINY_FILE + ".part")
    assert part.stat().st_size == cut
    assert not (isolated / TINY_FILE).exists()

    calls: list[tuple[int, int | None]] = []
    path = models.download(TINY, url=server.url, progress=lambda d, t: calls.append((d, t)))
    assert _ranges(server) == [None, f"bytes={cut}-"]
    assert calls[0] == (cut, len(payload))
    assert calls[-1] == (len(payload), len(payload))
    assert path.read_bytes() == payload
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, payload, isolated):
    server.state.data = payload
    server.state.honour_range = False
    isolated.mkdir(parents=True)
    part = isolated / (TINY_FILE + ".part")
    part.write_bytes(b"\xff" * 1000)  # stale bytes that must not survive
    path = models.download(TINY, url=server.url)
    assert _ranges(server) == ["bytes=1000-"]
    assert path.read_bytes() == payload
    assert not part.exists()


def test_complete_part_answered_with_416_is_verified_and_installed(server, payload, isolated):
    server.state.data = payload
    isolated.mkdir(parents=True)
    (isolated / (TINY_FILE + ".part")).write_bytes(payload)
    path = models.download(TINY, url=server.url)
    assert _ranges(server) == [f"bytes={len(payload)}-"]
    assert path.read_bytes() == payload


def test_corrupt_payload_is_rejected_and_removed(server, payload, isolated):
    server.state.data = os.urandom(len(payload))
    with pytest.raises(CheckpointError) as err:
        models.download(TINY, url=server.url)
    msg = str(err.value)
    assert TINY_FILE in msg and "not a valid checkpoint (corrupt or truncated)" in msg
    assert not (isolated / TINY_FILE).exists()
    assert not (isolated / (TINY_FILE + ".part")).exists()


def test_checkpoint_for_another_model_is_rejected_naming_the_file(server, isolated):
    server.state.data = _save({"model": {"x": torch.zeros(4, 4)}})
    with pytest.raises(CheckpointError) as err:
        models.download(TINY, url=server.url)
    msg = str(err.value)
    assert TINY_FILE in msg
    assert "does not fit sam2.1-tiny" in msg
    assert "missing keys" in msg and "1 unexpected keys (e.g. x)" in msg
    assert list(isolated.iterdir()) == []


def test_sha256_mismatch_is_rejected(server, payload, isolated, monkeypatch):
    server.state.data = payload
    wrong = dataclasses.replace(models.MODELS[TINY], sha256="0" * 64)
    monkeypatch.setitem(models.MODELS, TINY, wrong)
    with pytest.raises(CheckpointError, match="sha256") as err:
        models.download(TINY, url=server.url)
    assert TINY_FILE in str(err.value)
    assert list(isolated.iterdir()) == []

    right = dataclasses.replace(wrong, sha256=hashlib.sha256(payload).hexdigest().upper())
    monkeypatch.setitem(models.MODELS, TINY, right)
    assert models.download(TINY, url=server.url).read_bytes() == payload


def test_cancel_raises_cancelled_and_keeps_part_for_resume(server, payload, isolated):
    server.state.data = payload
    cancel = threading.Event()

    def progress(done, total):
        if done > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        models.download(TINY, url=server.url, progress=progress, cancel=cancel)
    part = isolated / (TINY_FILE + ".part")
    kept = part.stat().st_size
    assert 0 < kept < len(payload)
    assert not (isolated / TINY_FILE).exists()

    path = models.download(TINY, url=server.url)
    assert _ranges(server)[-1] == f"bytes={kept}-"
    assert path.read_bytes() == payload


def test_connection_refused_is_one_clear_sentence():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{TINY_FILE}"
    with pytest.raises(UserError) as err:
        models.download(TINY, url=url, timeout=5)
    msg = str(err.value)
    assert msg == (
        f"could not download {TINY} from {url}: connection refused; "
        "check your connection or pass --checkpoint FILE"
    )
    assert not isinstance(err.value, CheckpointError)
    with pytest.raises(UserError, match="could not download sam2.1-tiny from not a url: "):
        models.download(TINY, url="not a url")


def test_http_error_status_is_user_error(server, isolated):
    server.state.status = 404
    with pytest.raises(UserError, match=r"could not download sam2\.1-tiny .*HTTP 404"):
        models.download(TINY, url=server.url)
    assert not (isolated / TINY_FILE).exists()


def test_download_honours_base_url_env(server, payload, isolated, monkeypatch):
    server.state.data = payload
    server.state.send_length = False  # no Content-Length: the load check still guards it
    monkeypatch.setenv(models.BASE_URL_ENV, f"{server.base}/mirror/")
    calls = []
    path = models.download(TINY, progress=lambda d, t: calls.append((d, t)))
    assert server.state.requests[0]["path"] == f"/mirror/{TINY_FILE}"
    assert path.read_bytes() == payload
    assert calls[-1] == (len(payload), None)
