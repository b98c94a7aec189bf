"""The durable broker's object store honours conditional PUTs (Tansu's watermarks need them)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp.test_utils import TestClient, TestServer

from devtools.stack.objstore import Store, make_app


async def test_conditional_put_get_range_list_and_delete(tmp_path: Path) -> None:
    async with TestClient(TestServer(make_app(Store(tmp_path)))) as client:
        created = await client.put("/b/w/mark.json", data=b"one", headers={"If-None-Match": "*"})
        assert created.status == 200
        etag = created.headers["ETag"]
        again = await client.put("/b/w/mark.json", data=b"two", headers={"If-None-Match": "*"})
        assert again.status == 412  # exists: a restarted broker must read it, not recreate it
        stale = await client.put("/b/w/mark.json", data=b"two", headers={"If-Match": '"x"'})
        assert stale.status == 412
        updated = await client.put("/b/w/mark.json", data=b"two", headers={"If-Match": etag})
        assert updated.status == 200
        got = await client.get("/b/w/mark.json")
        assert await got.read() == b"two"
        part = await client.get("/b/w/mark.json", headers={"Range": "bytes=1-"})
        assert part.status == 206 and await part.read() == b"wo"
        await client.put("/b/w/r/0.batch", data=b"batch")
        listing = await (await client.get("/b?list-type=2&prefix=w/&delimiter=/")).text()
        assert "<Key>w/mark.json</Key>" in listing and "<Prefix>w/r/</Prefix>" in listing
        assert (await client.delete("/b/w/mark.json")).status == 204
        assert (await client.get("/b/w/mark.json")).status == 404
        assert (await client.get("/b/../etc/passwd")).status in (400, 404)


async def test_listing_is_by_folder_in_write_order_with_the_writes_etags(tmp_path: Path) -> None:
    """Tansu lists a partition's batches on each fetch and takes the newest LastModified as the
    end offset: a listing reads only the prefix's folder, and writes list strictly in order."""
    store = Store(tmp_path)
    async with TestClient(TestServer(make_app(store))) as client:
        etags = {}
        for n in range(30):  # many writes within one millisecond would tie at S3's precision
            key = f"p/0/records/{n:020}.batch"
            etags[key] = (await client.put(f"/b/{key}", data=b"x" * n)).headers["ETag"]
        await client.put("/b/p/1/records/00000000000000000000.batch", data=b"other partition")
        listing = await (await client.get("/b?list-type=2&prefix=p/0/records/")).text()
        keys = re.findall(r"<Key>(.*?)</Key>", listing)
        assert keys == sorted(etags)  # the other partition's folder is not in it
        stamps = re.findall(r"<LastModified>(.*?)</LastModified>", listing)
        assert all(a < b for a, b in itertools.pairwise(stamps)), stamps
        assert re.findall(r"<ETag>(.*?)</ETag>", listing) == [escape(etags[k]) for k in keys]
        for key, tag in etags.items():  # the ETag a GET computes is the listed one
            assert (await client.get(f"/b/{key}")).headers["ETag"] == tag
        page = await (await client.get("/b?list-type=2&prefix=p/0/records/&max-keys=10")).text()
        assert "<IsTruncated>true</IsTruncated>" in page
        token = re.search(r"<NextContinuationToken>(.*?)</NextContinuationToken>", page)
        assert token is not None
        rest = await (
            await client.get(f"/b?list-type=2&prefix=p/0/records/&continuation-token={token[1]}")
        ).text()
        assert re.findall(r"<Key>(.*?)</Key>", page + rest) == keys
