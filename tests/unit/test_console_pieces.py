"""The console's pure pieces: asset hashing, CSV formatting, spend bucketing, sessions."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from proxy.api.csv_export import COLUMNS, spend_csv
from proxy.auth import Authenticator, hash_key
from proxy.console.assets import STATIC, ConsoleAssets, digest_of
from proxy.db.reports import Amounts, BucketRow, bucket_range, fill
from proxy.errors import AuthenticationError
from proxy.sessions import Sessions, SignInThrottle
from proxy.state.memory import MemoryState


def test_one_digest_names_every_asset_and_changes_with_any_byte(tmp_path: Path) -> None:
    (tmp_path / "views").mkdir()
    (tmp_path / "index.html").write_text('<script src="{assets}/app.js"></script>')
    (tmp_path / "app.js").write_text("import './views/a.js';")
    (tmp_path / "views" / "a.js").write_text("export const a = 1;")
    (tmp_path / "notes.txt").write_text("not served")
    first = ConsoleAssets.load(tmp_path)
    assert set(first.files) == {"app.js", "views/a.js"}
    assert first.page == f'<script src="/console/assets/{first.digest}/app.js"></script>'.encode()
    assert first.get(first.digest, "views/a.js") is not None
    assert first.get("0" * 16, "app.js") is None and first.get(first.digest, "x.js") is None
    (tmp_path / "views" / "a.js").write_text("export const a = 2;")
    assert ConsoleAssets.load(tmp_path).digest != first.digest
    (tmp_path / "index.html").write_text("<p>{assets}</p>")  # the page is not hashed
    assert ConsoleAssets.load(tmp_path).digest == ConsoleAssets.load(tmp_path).digest


def test_digest_is_order_free_but_tells_names_apart() -> None:
    assert digest_of({"a": b"1", "b": b"2"}) == digest_of({"b": b"2", "a": b"1"})
    assert digest_of({"a": b"12"}) != digest_of({"a1": b"2"})
    assert len(digest_of({})) == 16


def test_the_shipped_console_loads_and_has_no_inline_script() -> None:
    assets = ConsoleAssets.load(STATIC)
    assert {"app.js", "api.js", "console.css", "views/playground.js"} <= set(assets.files)
    page = assets.page.decode()
    assert "{assets}" not in page and "<script>" not in page and " style=" not in page


def test_csv_quotes_and_neutralises_formulas() -> None:
    text = spend_csv(
        [
            {"request_id": "r1", "key_alias": "=HYPERLINK(1)", "cost": None, "stream": True},
            {"request_id": "r2", "prompt": 'a "quoted", line\nbreak', "cost": 0.04, "images": 2},
        ]
    )
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0]["key_alias"] == "'=HYPERLINK(1)" and rows[0]["cost"] == ""
    assert rows[0]["stream"] == "true"
    assert rows[1]["prompt"] == 'a "quoted", line\nbreak' and rows[1]["cost"] == "0.04"
    assert "usage" not in COLUMNS and "time_iso" in COLUMNS


def test_buckets_cover_the_range_without_gaps() -> None:
    assert list(bucket_range(3600, 3 * 3600, 3600)) == [1, 2]
    assert list(bucket_range(3601, 3 * 3600 + 1, 3600)) == [1, 2, 3]
    assert list(bucket_range(100, 100, 3600)) == [0]
    rows = [
        BucketRow(1, "a", Amounts(1.0, 2, 2, 0)),
        BucketRow(1, "b", Amounts(3.0, 1, 4, 1)),
        BucketRow(3, None, Amounts(0.0, 1, 0, 1)),
        BucketRow(9, "a", Amounts(5.0, 1, 1, 0)),  # outside the range: left out
    ]
    series = fill(rows, 3600, 4 * 3600, 3600)
    assert [start for start, _ in series.buckets] == [3600.0, 7200.0, 10800.0]
    assert series.buckets[1][1] == {}
    assert series.groups() == ["b", "a", "(none)"]
    assert series.totals == Amounts(4.0, 4, 6, 2)
    public = series.public()
    assert public["buckets"][0]["start_iso"] == "1970-01-01T01:00:00Z"
    assert public["group_totals"]["a"] == {
        "spend": 1.0,
        "requests": 2,
        "images": 2,
        "requests_cost_unknown": 0,
    }


async def test_sessions_expire_and_check_their_csrf_token() -> None:
    now = [1000.0]
    sessions = Sessions(ttl=60, clock=lambda: now[0])
    session_id, session = await sessions.open("a1b2")
    assert await sessions.get(session_id) == session and session.holder == "a1b2"
    assert session.csrf_matches(session.csrf) and not session.csrf_matches(None)
    assert not session.csrf_matches(session.csrf + "x")
    assert await sessions.get("unknown") is None and await sessions.get(None) is None
    now[0] += 61
    assert await sessions.get(session_id) is None and len(sessions) == 0
    other, _ = await sessions.open("c3d4")
    await sessions.close(other)
    assert await sessions.get(other) is None


async def test_sessions_on_the_shared_store_are_every_replicas() -> None:
    """Two replicas over one shared store: signed in on one, signed in on the other; signed
    out on the other, signed out on the first at once. Only the holder (a key's hash) and the
    CSRF token are stored, never a key."""
    shared = MemoryState()
    first, second = Sessions(shared=shared), Sessions(shared=shared)
    session_id, session = await first.open("a1b2")
    assert await second.get(session_id) == session
    (name,) = shared._values  # one entry: the session, under its id's hash
    stored = await shared.get(name)
    assert stored is not None and "sk-" not in stored and session_id not in name
    await second.close(session_id)
    assert await first.get(session_id) is None
    assert len(first) == 0 and len(second) == 0  # nothing kept in either process


def test_sign_in_throttle_counts_wrong_keys_per_address_in_a_window() -> None:
    now = [0.0]
    throttle = SignInThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("a") is None
        throttle.failed("a")
    assert throttle.retry_after("a") == 60 and throttle.retry_after("b") is None
    now[0] = 30
    assert throttle.retry_after("a") == 30
    now[0] = 60.5
    assert throttle.retry_after("a") is None


def test_every_console_file_is_package_data() -> None:
    """The console installs with the package: each static file's ending is in pyproject's
    package-data (an .svg left out once meant a 404 in an installed proxy)."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["proxy"]
    for path in STATIC.rglob("*"):
        if path.is_file():
            name = path.relative_to(root / "proxy").as_posix()
            assert any(fnmatch.fnmatch(name, p) for p in patterns), name


def test_text_assets_are_gzipped_once_when_smaller() -> None:
    import gzip

    assets = ConsoleAssets.load(STATIC)
    app = assets.files["app.js"]
    assert app.gzipped is not None and gzip.decompress(app.gzipped) == app.body
    assert len(app.gzipped) < len(app.body)


async def test_a_session_holds_a_keys_hash_and_a_rotated_master_key_ends_it() -> None:
    before = Authenticator("sk-master-old")
    held = hash_key("sk-master-old")  # what a session opened with it holds
    assert (await before.check_holder(held)).is_master
    after = Authenticator("sk-master-new")  # the same store, the proxy restarted rotated
    with pytest.raises(AuthenticationError):
        await after.check_holder(held)
    assert (await after.check_key("sk-master-new")).is_master
