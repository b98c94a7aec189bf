"""A file-backed S3 subset for the durable embedded broker: ``python -m devtools.stack.objstore``.

Tansu's S3 storage keeps each partition's watermark in an object that it replaces with
conditional PUTs (``If-None-Match: *`` to create, ``If-Match: ETAG`` to update). A server that
ignores those headers (s3rver does) lets a restarted broker create the watermark afresh, so its
offsets start at 0 again and new batches overwrite acknowledged ones. This server implements
what the broker uses, path-style and without authentication (it listens on the loopback address
only): PUT (conditional), GET and HEAD (ranges), DELETE, ListObjectsV2 and multi-object delete.
Objects are files under ``--dir``, written to a temporary file, fsynced and renamed.

Tansu lists a partition's batch objects on every fetch and answers ListOffsets with the object
of the newest ``LastModified``, so a listing walks only the folder its prefix names (not the
whole bucket), reads no object (ETags are kept from the writes, keyed by mtime and size), and
every write gets a modification time strictly after the previous one, listed to the microsecond
(S3 lists milliseconds; with whole seconds, many batches tied and ListOffsets picked an old one).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

from aiohttp import web

_LOCK = threading.Lock()
_DELETE_KEY = re.compile(rb"<Key>(.*?)</Key>", re.S)


class Store:
    """Objects as files: ``root/bucket/key``; the ETag is the MD5 of the content."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._etags: dict[Path, tuple[int, int, str]] = {}  # path -> mtime_ns, size, etag
        self._last_ns = 0

    def etag_of(self, path: Path) -> tuple[str, os.stat_result]:
        """The ETag of the object at ``path`` (from the write that made it when known) and its
        stat."""
        st = path.stat()
        known = self._etags.get(path)
        if known is not None and known[0] == st.st_mtime_ns and known[1] == st.st_size:
            return known[2], st
        tag = self.etag(path.read_bytes())
        self._etags[path] = (st.st_mtime_ns, st.st_size, tag)
        return tag, st

    def path(self, bucket: str, key: str) -> Path:
        """The file of an object (keys never leave the bucket folder)."""
        target = (self.root / bucket / key).resolve()
        if not str(target).startswith(str((self.root / bucket).resolve()) + os.sep):
            raise web.HTTPBadRequest(text="bad key")
        return target

    @staticmethod
    def etag(data: bytes) -> str:
        """The quoted ETag of ``data``."""
        return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'

    def put(
        self, bucket: str, key: str, data: bytes, if_match: str | None, if_none: str | None
    ) -> str | None:
        """Write an object; None when a precondition failed, else its ETag."""
        path = self.path(bucket, key)
        with _LOCK:
            current = path.read_bytes() if path.is_file() else None
            if if_none == "*" and current is not None:
                return None
            if if_match is not None and (current is None or self.etag(current) != if_match):
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            now = max(time.time_ns(), self._last_ns + 1000)  # strictly after the last write
            self._last_ns = now
            os.utime(tmp, ns=(now, now))
            os.replace(tmp, path)
            tag = self.etag(data)
            self._etags[path] = (now, len(data), tag)
        return tag

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object (absent is fine)."""
        path = self.path(bucket, key)
        path.unlink(missing_ok=True)
        self._etags.pop(path, None)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key of ``bucket`` that starts with ``prefix``, sorted."""
        base = self.root / bucket
        folder_part = prefix.rpartition("/")[0]  # the folder the prefix names in full
        start = self.path(bucket, folder_part + "/x").parent if folder_part else base
        out = []
        for folder, _, files in os.walk(start):
            for name in files:
                if name.startswith("."):
                    continue
                key = str(Path(folder, name).relative_to(base))
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)


def _error(status: int, code: str, key: str = "") -> web.Response:
    body = f"<Error><Code>{code}</Code><Key>{escape(key)}</Key></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


def _stamp(st: os.stat_result) -> tuple[str, str]:
    """HTTP date and ISO 8601 time (microseconds) of a modification time."""
    mtime = st.st_mtime_ns / 1e9
    stamp = datetime.fromtimestamp(st.st_mtime_ns // 1000 / 1e6, UTC)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return formatdate(mtime, usegmt=True), iso


def make_app(store: Store) -> web.Application:
    """The aiohttp application serving ``store``."""

    async def bucket_get(request: web.Request) -> web.Response:
        bucket = request.match_info["bucket"]
        prefix = request.query.get("prefix", "")
        delimiter = request.query.get("delimiter", "")
        start = request.query.get("continuation-token") or request.query.get("start-after", "")
        limit = int(request.query.get("max-keys", "1000"))
        contents, prefixes = [], []
        for key in store.keys(bucket, prefix):
            if key <= start:
                continue
            if delimiter and delimiter in key[len(prefix) :]:
                common = prefix + key[len(prefix) :].split(delimiter, 1)[0] + delimiter
                if common not in prefixes:
                    prefixes.append(common)
                continue
            contents.append(key)
        truncated = len(contents) > limit
        contents = contents[:limit]
        parts = [f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"]
        parts.append(f"<KeyCount>{len(contents)}</KeyCount><MaxKeys>{limit}</MaxKeys>")
        parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated:
            parts.append(f"<NextContinuationToken>{escape(contents[-1])}</NextContinuationToken>")
        for key in contents:
            try:
                tag, st = store.etag_of(store.path(bucket, key))
            except FileNotFoundError:
                continue  # deleted since the walk
            _, iso = _stamp(st)
            parts.append(
                f"<Contents><Key>{escape(key)}</Key><LastModified>{iso}</LastModified>"
                f"<ETag>{escape(tag)}</ETag><Size>{st.st_size}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        for common in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{escape(common)}</Prefix></CommonPrefixes>")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            + "".join(parts)
            + "</ListBucketResult>"
        )
        return web.Response(text=body, content_type="application/xml")

    async def bucket_post(request: web.Request) -> web.Response:
        bucket = request.match_info["bucket"]
        if "delete" not in request.query:
            return _error(400, "NotImplemented")
        deleted = []
        for raw in _DELETE_KEY.findall(await request.read()):
            key = raw.decode()
            store.delete(bucket, key)
            deleted.append(f"<Deleted><Key>{escape(key)}</Key></Deleted>")
        body = "<DeleteResult>" + "".join(deleted) + "</DeleteResult>"
        return web.Response(text=body, content_type="application/xml")

    async def bucket_put(request: web.Request) -> web.Response:
        (store.root / request.match_info["bucket"]).mkdir(parents=True, exist_ok=True)
        return web.Response(status=200)

    async def object_put(request: web.Request) -> web.Response:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        data = await request.read()
        etag = store.put(
            bucket, key, data, request.headers.get("If-Match"), request.headers.get("If-None-Match")
        )
        if etag is None:
            return _error(412, "PreconditionFailed", key)
        return web.Response(status=200, headers={"ETag": etag})

    async def object_get(request: web.Request) -> web.StreamResponse:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        path = store.path(bucket, key)
        if not path.is_file():
            return _error(404, "NoSuchKey", key)
        data = path.read_bytes()
        etag = store.etag(data)
        if request.headers.get("If-Match") not in (None, etag):
            return _error(412, "PreconditionFailed", key)
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        modified, _ = _stamp(path.stat())
        headers = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
        status, body = 200, data
        found = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("Range", ""))
        if found:
            first, last = found.groups()
            if first == "":
                lo, hi = max(0, len(data) - int(last)), len(data) - 1
            else:
                lo, hi = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
            status, body = 206, data[lo : hi + 1]
            headers["Content-Range"] = f"bytes {lo}-{hi}/{len(data)}"
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=body, headers=headers)

    async def object_delete(request: web.Request) -> web.Response:
        bucket, key = request.match_info["bucket"], request.match_info["key"]
        store.delete(bucket, key)
        return web.Response(status=204)

    app = web.Application(client_max_size=256 << 20)
    app.router.add_get("/{bucket}", bucket_get)
    app.router.add_get("/{bucket}/", bucket_get)
    app.router.add_post("/{bucket}", bucket_post)
    app.router.add_post("/{bucket}/", bucket_post)
    app.router.add_put("/{bucket}", bucket_put)
    app.router.add_put("/{bucket}/{key:.+}", object_put)
    app.router.add_get("/{bucket}/{key:.+}", object_get)  # also HEAD
    app.router.add_delete("/{bucket}/{key:.+}", object_delete)
    return app


def main() -> None:
    """Serve ``--dir`` on ``--host``:``--port`` until killed; ``--bucket`` is created."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bucket", default="tansu")
    ns = p.parse_args()
    (ns.dir / ns.bucket).mkdir(parents=True, exist_ok=True)
    print(f"objstore listening on http://{ns.host}:{ns.port} ({quote(str(ns.dir))})", flush=True)
    web.run_app(make_app(Store(ns.dir)), host=ns.host, port=ns.port, print=None)


if __name__ == "__main__":
    main()
