"""SSRF-safe download of a user-supplied link (the `/from-link` import), with size and time limits.

The defences, in order (OWASP SSRF Prevention Cheat Sheet, "application layer" case):
1. only `http` and `https` URLs with a host;
2. the host is resolved here (`getaddrinfo`), and every address it resolves to must be public: not
   private, loopback, link-local (which includes the 169.254.169.254 cloud metadata service),
   multicast, reserved, unspecified or shared (RFC 6598), judged with `ipaddress` after unwrapping
   IPv4-mapped, 6to4, Teredo and NAT64 IPv6 forms; decimal, octal, hex and short spellings of IPv4
   (2130706433, 0x7f000001, 0177.0.0.1, 127.1) are read as inet_aton(3) reads them, and literal
   addresses and `localhost` names (RFC 6761) are refused already when the request is made;
3. the connection goes to the address that was checked (the URL's host is replaced by it; `Host`
   and TLS SNI/certificate checks keep the name), so a DNS answer that changes between check and
   connect cannot redirect it;
4. redirects are followed by hand, at most 5, and every hop is checked again from step 1;
5. the body is streamed to a file as sent (`Accept-Encoding: identity`; a compressed body is stored, not
   inflated), counting bytes against `max_bytes` (a larger Content-Length is refused before reading),
   and the whole fetch, redirects included, has one deadline, checked on every chunk; a server that
   stalls is cut off by the read timeout (at most 10 s), so a fetch ends within `timeout_s` + 10 s.
Proxies from the environment are not used (`trust_env=False`): a proxy would resolve names itself.
`allow_private=True` (MASTERTAPE_ALLOW_PRIVATE_LINKS) lifts step 2 only, for operators who fetch from
their own network.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx

from mastertape.errors import LinkRejected, StorageError

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL, after redirects
    size_bytes: int
    content_type: str | None
    filename: str | None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def non_public_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public internet address (e.g. "loopback"), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = non_public_reason(inner)
            return f"{reason} (inside an IPv6 address)" if reason else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local or cloud metadata", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("shared (carrier-grade NAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED),
        ("non-global", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise LinkRejected(f"not a valid URL: {exc}", field="url") from None
    if parsed.scheme not in ("http", "https"):
        raise LinkRejected(
            f"only http and https links can be imported, not {parsed.scheme or 'no scheme'!r}", field="url"
        )
    if not parsed.host:
        raise LinkRejected("the link has no host name", field="url")
    return parsed


# the numbers-and-dots forms inet_aton(3) (and so getaddrinfo) accepts: 1 to 4 parts, each decimal, octal
# (leading 0) or hex (0x): 2130706433, 0x7f000001, 0177.0.0.1, 127.1, with an optional trailing dot
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host that is an IP literal names, in any spelling the resolver would accept
    (dotted, decimal, octal, hex, short forms, IPv6 with brackets or a zone), else None."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            return None
    return None


def _is_localhost_name(host: str) -> bool:
    """`localhost` and every name under `.localhost` (RFC 6761 section 6.3), any case, trailing dot or not."""
    name = host.lower().rstrip(".")
    return name in ("localhost", "localhost.localdomain") or name.endswith(".localhost")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def check_url(url: str, *, allow_private: bool) -> str:
    """Request-time check without DNS: scheme, host, a literal IP address. Returns the normalised URL."""
    parsed = _parse(url)
    ip = _literal_ip(parsed.host)
    if ip is not None and not allow_private:
        reason = non_public_reason(ip)
        if reason:
            spelled = "" if str(ip) == parsed.host.strip("[]") else f" ({ip})"
            raise LinkRejected(
                f"{parsed.host}{spelled} is {_article(reason)} {reason} address: links to private networks "
                f"are not allowed on this server",
                field="url",
            )
    if _is_localhost_name(parsed.host) and not allow_private:
        raise LinkRejected("links to localhost are not allowed on this server", field="url")
    return str(parsed)


def resolve(host: str, port: int, *, allow_private: bool) -> IPAddress:
    """Resolve `host`, refuse it if any of its addresses is not public, return the address to connect to."""
    if _is_localhost_name(host) and not allow_private:  # a redirect hop too, whatever the resolver says
        raise LinkRejected("links to localhost are not allowed on this server", field="url")
    ip = _literal_ip(host)
    if ip is not None:
        addresses = [ip]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise LinkRejected(f"cannot resolve the host name {host!r}: {exc}", field="url") from None
        addresses = []
        for info in infos:
            addr = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if addr not in addresses:
                addresses.append(addr)
        if not addresses:
            raise LinkRejected(f"the host name {host!r} has no address", field="url")
    if not allow_private:
        for addr in addresses:
            reason = non_public_reason(addr)
            if reason:
                raise LinkRejected(
                    f"{host} resolves to {addr}, {_article(reason)} {reason} address: links to private "
                    f"networks are not allowed on this server",
                    field="url",
                )
    return addresses[0]


def _filename(url: httpx.URL, disposition: str | None) -> str | None:
    if disposition:
        m = re.search(r"filename\*=(?:UTF-8'')?([^;]+)", disposition, re.I) or re.search(
            r'filename="?([^";]+)"?', disposition, re.I
        )
        if m:
            name = os.path.basename(unquote(m.group(1).strip()))
            if name:
                return name[:200]
    name = os.path.basename(unquote(url.path or ""))
    return name[:200] or None


def fetch_to_file(
    url: str,
    dest: str | os.PathLike,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout_s: float,
    progress: Callable[[int, int | None], None] | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> FetchResult:
    """Download `url` into `dest` under the rules of the module docstring; LinkRejected says why not."""
    deadline = time.monotonic() + timeout_s
    current = _parse(url)
    dest = Path(dest)

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LinkRejected(
                f"the download took longer than this server's limit of {timeout_s:g} s", field="url"
            )
        return left

    with httpx.Client(trust_env=False, follow_redirects=False, verify=True) as client:
        for hop in range(max_redirects + 1):
            port = current.port or (443 if current.scheme == "https" else 80)
            ip = resolve(current.host, port, allow_private=allow_private)
            target = current.copy_with(host=str(ip))
            host_header = current.host if current.port is None else f"{current.host}:{current.port}"
            headers = {
                "Host": host_header,
                "Accept": "audio/*, video/*, application/octet-stream;q=0.9, */*;q=0.5",
                "User-Agent": "mastertape-link-import",
                "Accept-Encoding": "identity",
            }
            extensions = {"sni_hostname": current.host} if current.scheme == "https" else {}
            left = remaining()
            timeout = httpx.Timeout(min(left, 10.0), connect=min(left, 10.0))  # and the deadline per chunk
            try:
                with client.stream(
                    "GET", target, headers=headers, extensions=extensions, timeout=timeout
                ) as resp:
                    if resp.status_code in _REDIRECTS:
                        location = resp.headers.get("location")
                        if not location:
                            raise LinkRejected(
                                f"the server answered {resp.status_code} without a location", field="url"
                            )
                        if hop == max_redirects:
                            raise LinkRejected(f"more than {max_redirects} redirects", field="url")
                        current = _parse(current.join(location))
                        continue
                    if resp.status_code >= 400:
                        raise LinkRejected(
                            f"the server answered {resp.status_code} {resp.reason_phrase} for {current}",
                            field="url",
                        )
                    return _save(resp, current, dest, max_bytes, remaining, progress)
            except httpx.TimeoutException:
                raise LinkRejected(
                    f"the server at {current.host} did not answer in time", field="url"
                ) from None
            except httpx.HTTPError as exc:
                raise LinkRejected(f"could not download {current}: {exc}", field="url") from None
    raise LinkRejected(f"more than {max_redirects} redirects", field="url")  # pragma: no cover


def _save(
    resp: httpx.Response,
    url: httpx.URL,
    dest: Path,
    max_bytes: int,
    remaining: Callable[[], float],
    progress: Callable[[int, int | None], None] | None,
) -> FetchResult:
    limit_msg = f"the file is larger than this server's limit of {max_bytes:,} bytes"
    declared = resp.headers.get("content-length")
    total: int | None = None
    if declared is not None and declared.isdigit():
        total = int(declared)
        if total > max_bytes:
            raise LinkRejected(limit_msg, field="url")
    size = 0
    try:
        with open(dest, "wb") as out:
            # the bytes as sent (a Content-Encoding is not undone: a small gzip cannot inflate to gigabytes
            # here), as received, so that the deadline is checked often
            for chunk in resp.iter_raw():
                remaining()
                size += len(chunk)
                if size > max_bytes:
                    raise LinkRejected(limit_msg, field="url")
                out.write(chunk)
                if progress is not None:
                    progress(size, total)
    except OSError as exc:  # the server's disk is full or failing: not the link's fault, so retried
        raise StorageError(
            f"the server could not store the download ({exc.strerror or 'write failed'}): a problem with "
            f"the server's storage, not with your link. Try again later"
        ) from exc
    remaining()
    if size == 0:
        raise LinkRejected(f"{url} returned an empty file", field="url")
    return FetchResult(
        url=str(url),
        size_bytes=size,
        content_type=resp.headers.get("content-type"),
        filename=_filename(url, resp.headers.get("content-disposition")),
    )
