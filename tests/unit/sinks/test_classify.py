"""nginx error categories from real nginx messages (the part before ``, client: ...``)."""

from __future__ import annotations

import pytest

from formats.decode import decode_nginx
from sinks.classify import CATEGORIES, classify

CASES = [
    # upstream timeouts
    ("upstream timed out (110: Connection timed out) while reading response header from upstream",
     "upstream_timeout"),
    ("upstream timed out (110: Connection timed out) while connecting to upstream",
     "upstream_timeout"),
    ("upstream timed out (110: Connection timed out) while reading upstream", "upstream_timeout"),
    ("upstream timed out (110: Operation timed out) while sending request to upstream",
     "upstream_timeout"),
    # refused
    ("connect() failed (111: Connection refused) while connecting to upstream",
     "connection_refused"),
    ("connect() to unix:/run/php/php8.2-fpm.sock failed (111: Connection refused) while "
     "connecting to upstream", "connection_refused"),
    # files
    ('open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)',
     "file_not_found"),
    ('"/var/www/html/index.html" is not found (2: No such file or directory)', "file_not_found"),
    ('open() "/etc/nginx/ssl/site.crt" failed (2: No such file or directory)', "file_not_found"),
    ('open() "/srv/app/static/x.css/y" failed (20: Not a directory)', "file_not_found"),
    # permissions
    ('open() "/var/www/private/report.pdf" failed (13: Permission denied)', "permission_denied"),
    ('directory index of "/var/www/html/uploads/" is forbidden', "permission_denied"),
    ("access forbidden by rule", "permission_denied"),
    ('"/srv/www/index.html" is forbidden (13: Permission denied)', "permission_denied"),
    # client side
    ("client prematurely closed connection while reading response header from upstream",
     "client_closed"),
    ("client prematurely closed connection while sending to client", "client_closed"),
    ("client closed connection while waiting for request", "client_closed"),
    ("client timed out (110: Connection timed out) while reading client request headers",
     "client_closed"),
    ("recv() failed (104: Connection reset by peer) while reading client request line",
     "client_closed"),
    ("writev() failed (32: Broken pipe) while sending to client", "client_closed"),
    # other upstream failures
    ("upstream prematurely closed connection while reading response header from upstream",
     "upstream_error"),
    ("recv() failed (104: Connection reset by peer) while reading response header from upstream",
     "upstream_error"),
    ("upstream sent too big header while reading response header from upstream",
     "upstream_error"),
    ("upstream sent invalid header while reading response header from upstream",
     "upstream_error"),
    ("no live upstreams while connecting to upstream", "upstream_error"),
    ("connect() failed (113: No route to host) while connecting to upstream", "upstream_error"),
    ("api.internal could not be resolved (3: Host not found)", "upstream_error"),
    ("no resolver defined to resolve backend.local", "upstream_error"),
    # TLS
    ("SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while "
     "SSL handshaking, client: 10.0.0.1", "ssl"),
    ("SSL_do_handshake() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) "
     "while SSL handshaking to upstream", "ssl"),
    ('no "ssl_certificate" is defined for the "listen ... ssl" directive in /etc/nginx/x.conf',
     "ssl"),
    ("SSL_read() failed (SSL: error:0A000119:SSL routines::decryption failed or bad record mac)",
     "ssl"),
    # limits
    ('limiting requests, excess: 10.480 by zone "api", client: 203.0.113.7', "limit"),
    ('limiting connections by zone "addr"', "limit"),
    ("client intended to send too large body: 10485761 bytes", "limit"),
    ("1024 worker_connections are not enough", "limit"),
    ("accept4() failed (24: Too many open files)", "limit"),
    # everything else
    ("an upstream response is buffered to a temporary file "
     "/var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream", "other"),
    ("signal process started", "other"),
    ("using inherited sockets from \"6;7;\"", "other"),
    ("", "other"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "category"), CASES, ids=[c for _, c in CASES])
def test_classify(message: str, category: str) -> None:
    assert classify(message) == category


def test_every_category_is_covered_and_allowed_by_the_table() -> None:
    assert {c for _, c in CASES} == set(CATEGORIES)


def test_classifies_the_message_of_a_parsed_raw_entry() -> None:
    line = (
        b"2024/01/02 03:04:05 [error] 1234#1234: *99 connect() failed (111: Connection refused) "
        b'while connecting to upstream, client: 10.0.0.1, server: shop, request: "GET / HTTP/1.1"'
        b', upstream: "http://127.0.0.1:8080/", host: "shop"'
    )
    records, rejected = decode_nginx(line, default_host="h")
    assert not rejected
    assert classify(records[0].message) == "connection_refused"  # type: ignore[union-attr]
