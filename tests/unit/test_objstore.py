"""The durable broker's object store honours conditional PUTs (Tansu's watermarks need them)."""

from __future__ import annotations

from pathlib import Path

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
