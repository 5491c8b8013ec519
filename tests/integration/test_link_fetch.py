"""jobs/fetch.py against a local HTTP server on 127.0.0.1: allowed with allow_private on, refused with it off,
redirects re-checked, size and time limits, and the connection made to the address that was checked."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time

import pytest

from mastertape.audio import encode
from mastertape.errors import LinkRejected
from mastertape.jobs import fetch
from tests.integration.conftest import make_service
from tests.signals import sine


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""
    hosts: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Handler.hosts.append(self.headers.get("Host", ""))
        port = self.server.server_address[1]
        if self.path == "/song.wav":
            self._send(200, self.body, {"Content-Type": "audio/wav"})
        elif self.path.startswith("/hop/"):
            n = int(self.path.rsplit("/", 1)[1])
            self._send(302, b"", {"Location": f"/hop/{n - 1}" if n > 0 else "/song.wav"})
        elif self.path == "/to-metadata":
            self._send(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path == "/to-other-loopback":
            self._send(302, b"", {"Location": f"http://127.0.0.2:{port}/song.wav"})
        elif self.path == "/big-declared":
            self._send(200, b"x" * 100, {"Content-Length": str(10**12)}, length=False)
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x" * 100)
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif self.path == "/missing":
            self._send(404, b"no", {})
        else:
            self._send(200, b"", {})

    def _send(self, status: int, body: bytes, headers: dict, length: bool = True) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    wav = tmp_path_factory.mktemp("srv") / "song.wav"
    encode(sine(seconds=1.0, dbfs=-6.0), wav, "wav", bit_depth=16)
    _Handler.body = wav.read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _fetch(url: str, tmp_path, allow_private: bool = True, max_bytes: int = 10**7, timeout_s: float = 10.0):
    return fetch.fetch_to_file(
        url, tmp_path / "out.bin", allow_private=allow_private, max_bytes=max_bytes, timeout_s=timeout_s
    )


@pytest.fixture
def only_127_0_0_1_is_public(monkeypatch):
    """Treat 127.0.0.1 as a public address (the test server) and everything else as the real rules say."""
    real = fetch.non_public_reason
    monkeypatch.setattr(
        fetch, "non_public_reason", lambda ip: None if ip == ipaddress.ip_address("127.0.0.1") else real(ip)
    )


def test_fetch_allowed_with_private_links_on(server, tmp_path):
    result = _fetch(f"{server}/song.wav", tmp_path)
    assert (tmp_path / "out.bin").read_bytes() == _Handler.body
    assert result.size_bytes == len(_Handler.body) and result.filename == "song.wav"
    result = _fetch(f"{server}/hop/3", tmp_path)  # redirects followed by hand
    assert result.url.endswith("/song.wav") and result.size_bytes == len(_Handler.body)


def test_loopback_refused_with_private_links_off(server, tmp_path):
    with pytest.raises(LinkRejected, match="loopback"):
        _fetch(f"{server}/song.wav", tmp_path, allow_private=False)
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "169.254.169.254",
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.4",
        "100.64.0.1",
        "0.0.0.0",
        "[fe80::1]",
        "[fd00::1]",
        "[64:ff9b::a00:1]",
        "[2002:a00:1::]",
        "224.0.0.1",
        "localhost",
    ],
)
def test_private_addresses_refused_in_every_spelling(host, tmp_path):
    with pytest.raises(LinkRejected) as exc:
        _fetch(f"http://{host}/x.wav", tmp_path, allow_private=False, timeout_s=5)
    assert "not allowed" in exc.value.message or "not a valid URL" in exc.value.message
    assert exc.value.field == "url"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.wav", "file:///etc/passwd", "gopher://x/", "//x/a", "http:///nohost"]
)
def test_only_http_and_https(url, tmp_path):
    with pytest.raises(LinkRejected):
        _fetch(url, tmp_path, allow_private=True)


def test_redirects_are_checked_again(server, tmp_path, only_127_0_0_1_is_public):
    assert _fetch(f"{server}/hop/2", tmp_path, allow_private=False).size_bytes == len(_Handler.body)
    with pytest.raises(LinkRejected, match="link-local"):
        _fetch(f"{server}/to-metadata", tmp_path, allow_private=False)
    with pytest.raises(LinkRejected, match="loopback"):
        _fetch(f"{server}/to-other-loopback", tmp_path, allow_private=False)
    with pytest.raises(LinkRejected, match="redirects"):
        _fetch(f"{server}/hop/6", tmp_path, allow_private=False)


def test_connects_to_the_address_it_checked(server, tmp_path, monkeypatch, only_127_0_0_1_is_public):
    """A name that resolves to a public address at check time and to the metadata service afterwards
    (DNS rebinding) is fetched from the checked address, resolved once, with the name as Host."""
    port = int(server.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] + ["169.254.169.254"] * 10)
    lookups = []

    def fake_getaddrinfo(host, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    _Handler.hosts.clear()
    result = _fetch(f"http://rebind.test:{port}/song.wav", tmp_path, allow_private=False)
    assert result.size_bytes == len(_Handler.body)
    assert lookups == ["rebind.test"]
    assert _Handler.hosts == [f"rebind.test:{port}"]


def test_size_and_time_limits(server, tmp_path):
    with pytest.raises(LinkRejected, match="larger"):
        _fetch(f"{server}/big-declared", tmp_path)
    with pytest.raises(LinkRejected, match="larger"):
        _fetch(f"{server}/big-chunked", tmp_path, max_bytes=100_000)
    with pytest.raises(LinkRejected, match="larger"):
        _fetch(f"{server}/song.wav", tmp_path, max_bytes=1000)
    t0 = time.monotonic()
    with pytest.raises(LinkRejected, match="longer|in time"):
        _fetch(f"{server}/slow", tmp_path, timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    with pytest.raises(LinkRejected, match="404"):
        _fetch(f"{server}/missing", tmp_path)


def test_from_link_endpoint(server, tmp_path, monkeypatch):
    svc = make_service(tmp_path / "off")
    try:
        r = svc.client.post("/from-link", headers=svc.headers, json={"url": f"{server}/song.wav"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "url"
        r = svc.client.post("/from-link", headers=svc.headers, json={"url": "ftp://example.com/a.wav"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "url"
        # a name that resolves to a private address passes the request-time check and fails in the job
        port = int(server.rsplit(":", 1)[1])
        real = socket.getaddrinfo
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: (
                [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]
                if host == "intranet.test"
                else real(host, *a, **k)
            ),
        )
        r = svc.client.post(
            "/from-link", headers=svc.headers, json={"url": f"http://intranet.test:{port}/a.wav"}
        )
        assert r.status_code == 200 and r.json()["status"] == "in_progress"
        audio_id = r.json()["audio_id"]
        svc.run_jobs()
        st = svc.status("audio", audio_id)
        assert st["is_failed"] and "10.20.30.40" in st["error_message"] and "private" in st["error_message"]
    finally:
        svc.client.close()
        svc.rt.close()

    svc = make_service(tmp_path / "on", allow_private_links=True)
    try:
        r = svc.client.post("/from-link", headers=svc.headers, json={"url": f"{server}/hop/1"})
        assert r.status_code == 200
        audio_id = r.json()["audio_id"]
        master_id = svc.master(audio_id=audio_id, use_restored=False, target_lufs=-16)
        svc.run_jobs()
        st = svc.status("audio", audio_id)
        assert st["is_complete"], st
        assert st["status_details"]["fetched"]["final_url"].endswith("/song.wav")
        assert abs(st["status_details"]["metrics"]["duration_s"] - 1.0) < 1e-3
        assert svc.status("mastered", master_id)["is_complete"]
        r = svc.client.get(f"/download/audio/{audio_id}", headers=svc.headers)
        assert r.status_code == 200 and r.content == _Handler.body
    finally:
        svc.client.close()
        svc.rt.close()
