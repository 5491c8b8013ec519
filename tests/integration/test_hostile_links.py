"""Hostile links through POST /from-link: every spelling of a loopback, private, link-local or metadata
address, redirects to them, DNS answers that change between check and connect, other schemes, endless,
stalled and oversize bodies. Each is refused with a reason naming what is wrong (a 422 at once when the
URL alone shows it, else a failed import), never a 5xx. The links are served by this test on loopback;
the allowed cases run with MASTERTAPE_ALLOW_PRIVATE_LINKS on, or treat 127.0.0.1 (only) as public."""

from __future__ import annotations

import gzip
import http.server
import ipaddress
import socket
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest

from mastertape.audio import encode
from mastertape.jobs import fetch
from tests.integration.conftest import make_service
from tests.integration.hostile_files import OTHER_SCHEMES, PRIVATE_SPELLINGS
from tests.signals import sine

#: what the server at 127.0.0.1 redirects to: spellings that are not 127.0.0.1 itself (which the
#: redirect tests treat as public); the port is added
REDIRECT_TARGETS = [
    "127.0.0.2",
    "2130706434",
    "[::1]",
    "[::ffff:127.0.0.2]",
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "[fd00:ec2::254]",
    "10.0.0.1",
    "0x0a000001",
    "192.168.1.1",
    "[fd00::1]",
    "0.0.0.0",
    "localhost",
]
LINK_MAX_BYTES = 300_000


class _Handler(http.server.BaseHTTPRequestHandler):
    song = b""
    bomb = b""
    hosts: list[str] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Handler.hosts.append(self.headers.get("Host", ""))
        url = urlparse(self.path)
        try:
            if url.path == "/song.wav":
                self._send(200, self.song, {"Content-Type": "audio/wav"})
            elif url.path == "/redirect":
                self._send(302, b"", {"Location": parse_qs(url.query)["to"][0]})
            elif url.path == "/loop":
                self._send(302, b"", {"Location": "/loop"})
            elif url.path == "/endless":  # chunked, never ends
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    self.wfile.write(b"10000\r\n" + b"\0" * 0x10000 + b"\r\n")
            elif url.path == "/drip":  # a byte every 50 ms: never stalls, never finishes in time
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif url.path == "/stall":  # accepts, then answers nothing
                time.sleep(30)
            elif url.path == "/huge-declared":
                self.send_response(200)
                self.send_header("Content-Length", str(50 * 2**30))
                self.end_headers()
                self.wfile.write(b"\0" * 1000)
            elif url.path == "/gzip-bomb":  # ~100 kB that inflates to 100 MB
                self._send(200, self.bomb, {"Content-Encoding": "gzip", "Content-Type": "audio/wav"})
            else:
                self._send(404, b"not here", {})
        except OSError:
            pass  # the client hung up, as it should

    def _send(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(family: int, host: str):
    class Server(http.server.ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    httpd = Server((host, 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture(scope="module")
def links(tmp_path_factory):
    wav = tmp_path_factory.mktemp("links") / "song.wav"
    encode(sine(seconds=1.0, dbfs=-6.0), wav, "wav", bit_depth=16)
    _Handler.song = wav.read_bytes()
    _Handler.bomb = gzip.compress(b"\0" * 100 * 2**20, compresslevel=6)
    httpd = _serve(socket.AF_INET, "127.0.0.1")
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def strict(tmp_path):
    """A service with private links off (the default) and small link limits."""
    svc = make_service(tmp_path / "strict", link_max_bytes=LINK_MAX_BYTES, link_timeout_s=2.0)
    yield svc
    svc.client.close()
    svc.rt.close()


@pytest.fixture
def loopback_is_public(monkeypatch):
    """Treat 127.0.0.1 (the test server) as a public address; every other address as the rules say."""
    real = fetch.non_public_reason
    here = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(fetch, "non_public_reason", lambda ip: None if ip == here else real(ip))


def _import(svc, url: str) -> dict:
    """POST /from-link; run the import job; return the asset's status (or the 4xx error body)."""
    r = svc.client.post("/from-link", headers=svc.headers, json={"url": url})
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        return {"http": r.status_code, **r.json()["error"]}
    audio_id = r.json()["audio_id"]
    svc.run_jobs()
    return {"http": 200, **svc.status("audio", audio_id)}


def _refused(result: dict) -> str:
    """The reason a link was refused: at once (422 on url) or by the import job (failed asset)."""
    if result["http"] == 422:
        assert result["field"] == "url" and result["code"] == "link_rejected", result
        return result["message"]
    assert result["http"] == 200 and result["status"] == "failed", result
    assert result["status_details"]["error_code"] == "link_rejected", result
    return result["error_message"]


@pytest.mark.parametrize("host", PRIVATE_SPELLINGS)
def test_private_addresses_in_every_spelling_are_refused_when_asked(strict, links, host):
    port = links.rsplit(":", 1)[1]
    result = _import(strict, f"http://{host}:{port}/song.wav")
    # a literal address or a localhost name is refused before anything is stored or queued
    assert result["http"] == 422, result
    assert "not allowed on this server" in result["message"], result["message"]


def test_legacy_spellings_name_the_address_they_mean():
    for spelled, meant in (("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("2852039166", "169.254.169.254")):
        with pytest.raises(fetch.LinkRejected) as exc:
            fetch.check_url(f"http://{spelled}/a.wav", allow_private=False)
        assert f"({meant})" in exc.value.message


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
def test_redirects_to_private_addresses_are_refused(strict, links, loopback_is_public, target):
    port = links.rsplit(":", 1)[1]
    msg = _refused(_import(strict, f"{links}/redirect?to=http://{target}:{port}/song.wav"))
    assert "not allowed" in msg or "cannot resolve" in msg, msg


def test_redirect_chains_and_loops_end(strict, links, loopback_is_public):
    hop = f"{links}/redirect?to={links}/song.wav"
    ok = _import(strict, f"{links}/redirect?to={hop}")
    assert ok["status"] == "completed" and ok["status_details"]["fetched"]["final_url"].endswith("/song.wav")
    assert "redirects" in _refused(_import(strict, f"{links}/loop"))


def test_dns_answer_changing_after_the_check_cannot_redirect_the_connection(strict, links, loopback_is_public,
                                                                           monkeypatch):
    """rebind.test answers 127.0.0.1 (public here) once, then the metadata address: the import resolves
    once, connects to the address it checked, and sends the name as Host."""
    port = int(links.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] + ["169.254.169.254"] * 20)
    lookups: list[str] = []

    def fake(host, *args, **kwargs):
        if host in ("rebind.test", "mixed.test"):
            lookups.append(host)
            if host == "mixed.test":  # one public and one private answer: refused as a whole
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("127.0.0.1", "10.9.8.7")]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    _Handler.hosts.clear()
    result = _import(strict, f"http://rebind.test:{port}/song.wav")
    assert result["status"] == "completed", result
    assert lookups == ["rebind.test"] and _Handler.hosts == [f"rebind.test:{port}"]
    assert result["status_details"]["metrics"]["duration_s"] == pytest.approx(1.0, abs=1e-3)
    msg = _refused(_import(strict, f"http://mixed.test:{port}/song.wav"))
    assert "10.9.8.7" in msg and "private" in msg


@pytest.mark.parametrize("url", OTHER_SCHEMES)
def test_other_schemes_are_refused(strict, url):
    result = _import(strict, url)
    assert result["http"] == 422 and result["field"] == "url", result


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/a.wav", "gopher://x:70/_x"])
def test_redirects_to_other_schemes_are_refused(strict, links, loopback_is_public, target):
    assert "only http and https" in _refused(_import(strict, f"{links}/redirect?to={target}"))


@pytest.mark.parametrize(
    ("path", "phrase"),
    [
        ("/endless", "larger than this server's limit of 300,000 bytes"),
        ("/huge-declared", "larger than this server's limit"),
        ("/drip", "took longer than this server's limit of 2 s"),
        ("/stall", "did not answer in time"),
        ("/missing.wav", "404"),
    ],
)
def test_endless_slow_stalled_and_oversize_bodies_are_cut_off(strict, links, loopback_is_public, path, phrase):
    t0 = time.monotonic()
    msg = _refused(_import(strict, f"{links}{path}"))
    assert phrase in msg, msg
    assert time.monotonic() - t0 < 2.0 + 10.0 + 5.0  # the deadline, plus one read timeout at most
    leftovers = [p for p in (strict.settings.data_dir / "blobs").rglob("*") if p.is_file()]
    assert leftovers == []  # nothing half-downloaded is kept


def test_a_compressed_body_is_stored_as_sent_not_inflated(strict, links, loopback_is_public):
    """A 100 kB gzip that would inflate to 100 MB (over the 300 kB limit): stored as its 100 kB, then
    refused by the decoder as not audio."""
    result = _import(strict, f"{links}/gzip-bomb")
    assert result["status"] == "failed" and "not an audio file" in result["error_message"], result
    blobs = [p for p in (strict.settings.data_dir / "blobs" / "audio").rglob("original")]
    assert len(blobs) == 1 and blobs[0].stat().st_size < LINK_MAX_BYTES


def test_allowed_when_the_operator_allows_private_links(tmp_path, links):
    svc = make_service(tmp_path / "open", allow_private_links=True)
    try:
        port = links.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "2130706433", "0x7f.1", "localhost"):
            result = _import(svc, f"http://{host}:{port}/redirect?to=/song.wav")
            assert result["status"] == "completed", (host, result)
            assert result["status_details"]["metrics"]["sample_rate"] == 48000
    finally:
        svc.client.close()
        svc.rt.close()


def test_allowed_over_ipv6_loopback(tmp_path):
    try:
        httpd = _serve(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    svc = make_service(tmp_path / "v6", allow_private_links=True)
    try:
        result = _import(svc, f"http://[::1]:{httpd.server_address[1]}/song.wav")
        assert result["status"] == "completed", result
    finally:
        httpd.shutdown()
        svc.client.close()
        svc.rt.close()
