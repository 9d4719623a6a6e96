"""Polling upstream feeds and JSON APIs served by a real HTTP server on loopback."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from syndicate.core import Syndicate
from syndicate.ingest.poll import Status

from . import upstream as fixtures
from .upstream import Entry, atom, json_feed, poller, rss, sources

server, upstream, site = fixtures.server, fixtures.upstream, fixtures.site

BODY = "<p>沪指午后震荡走高。</p>"


def feed_source(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "cls", "kind": "feed", "url": url, "every": "5m", **extra}


def one(core: Syndicate, configured: list[Any], **limits: Any) -> Any:
    return poller(core, configured, **limits).poll()[0]


# --- formats ---------------------------------------------------------------------------


def test_rss_items_become_posts_by_the_import_rules(upstream: HTTPServer, site: Syndicate) -> None:
    body = BODY + '<script>alert(1)</script><p onclick="x()">二段</p>'
    upstream.expect_request("/rss").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/a/1.html", "沪指收涨", body)]),
        content_type="application/rss+xml; charset=utf-8")
    result = one(site, sources(feed_source(upstream.url_for("/rss"))))
    assert result.status is Status.OK and result.new == 1, result
    post = site.store.latest(10)[0]
    assert post.title == "沪指收涨"
    assert post.category.slug == "cailianshe" and post.category.name == "财联社"
    assert post.tags == ("财联社新闻",)
    assert "script" not in post.html and "onclick" not in post.html
    assert post.html.endswith('<p class="em_media">（文章来源：财联社）</p>')
    assert post.source == "财联社" and post.url == "https://up.example.com/a/1.html"
    assert post.published == datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
    assert post.summary.startswith("沪指午后震荡走高。")


def test_atom_and_the_configured_media_name(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/atom").respond_with_data(
        atom("Some Feed", [Entry("tag:up.example.com,2026:1", "Atom 标题", BODY)]),
        content_type="application/atom+xml")
    result = one(site, sources(feed_source(upstream.url_for("/atom"), media="中国电子报")))
    assert result.new == 1, result
    post = site.store.latest(1)[0]
    assert post.category.slug == "zhongguodianzibao"
    assert post.tags == ("中国电子报新闻",)
    assert "（文章来源：中国电子报）" in post.html


def test_json_feed(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/feed.json").respond_with_data(
        json_feed("证券时报", [Entry("https://up.example.com/j/1", "JSON 标题", BODY),
                              Entry("https://up.example.com/j/2", "", "<p>没有标题的正文。后面</p>")]),
        content_type="application/feed+json")
    result = one(site, sources(feed_source(upstream.url_for("/feed.json"))))
    assert result.new == 2, result
    titles = {p.title for p in site.store.latest(10)}
    assert titles == {"JSON 标题", "没有标题的正文。"}
    assert {p.category.slug for p in site.store.latest(10)} == {"zhengquanshibao"}


def test_an_existing_category_of_the_media_name_is_reused(upstream: HTTPServer, site: Syndicate) -> None:
    from .conftest import make_input

    site.save([make_input("NW202601010000000001", category_slug="yangxing", category_name="央行",
                          tags=("央行新闻",))])
    upstream.expect_request("/rss").respond_with_data(
        rss("央行", [Entry("https://up.example.com/a/9.html", "公开市场操作", BODY)]))
    one(site, sources(feed_source(upstream.url_for("/rss"))))
    assert site.store.in_category("yangxing", 1)[0].title == "公开市场操作"


def test_gbk_feed_declared_as_gb2312(upstream: HTTPServer, site: Syndicate) -> None:
    # 碁 and 瑢 are in GBK but not in GB2312: upstreams that say gb2312 send them anyway.
    upstream.expect_request("/gbk").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/g/1", "围碁与瑢", "<p>碁瑢正文</p>")],
            encoding="gb2312"),
        content_type="application/rss+xml; charset=gb2312")
    assert one(site, sources(feed_source(upstream.url_for("/gbk")))).new == 1
    post = site.store.latest(1)[0]
    assert post.title == "围碁与瑢" and "碁瑢正文" in post.html


# --- the JSON list + detail API --------------------------------------------------------


def em_source(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "em-market", "kind": "json", "url": server.url_for("/api/list"),
        "items": "data.list", "every": "1m",
        "fields": {"id": "infoCode", "title": "title", "date": "showTime", "media": "mediaName",
                   "summary": "digest", "url": "uniqueUrl"},
        "body_url": server.url_for("/api/detail") + "?id={id}", "body_field": "data.content",
        **extra,
    }


class EmApi:
    """A list + detail JSON API answering in GBK; counts detail requests per id."""

    def __init__(self, server: HTTPServer) -> None:
        self.records: list[dict[str, Any]] = []
        self.bodies: dict[str, str] = {}
        self.details: dict[str, int] = {}
        server.expect_request("/api/list").respond_with_handler(self.list)
        server.expect_request("/api/detail").respond_with_handler(self.detail)

    def add(self, code: str, title: str, media: str = "证券时报", body: str = BODY) -> None:
        self.records.append({"infoCode": code, "title": title, "showTime": "2026-03-09 10:23:24",
                             "mediaName": media, "digest": f"{title}摘要",
                             "uniqueUrl": f"http://finance.eastmoney.com/a/{code[-18:]}.html",
                             "readCount": len(self.records) * 7})
        self.bodies[code] = body

    def list(self, request: Request) -> Response:
        payload = json.dumps({"data": {"list": self.records}}, ensure_ascii=False).encode("gbk")
        etag = f'"{hashlib.sha256(payload).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(payload, content_type="application/json; charset=GBK",
                        headers={"ETag": etag})

    def detail(self, request: Request) -> Response:
        code = request.args["id"]
        self.details[code] = self.details.get(code, 0) + 1
        payload = json.dumps({"data": {"content": self.bodies[code]}}, ensure_ascii=False)
        return Response(payload.encode("gbk"), content_type="application/json; charset=GBK")


def test_list_and_detail_api_in_gbk(upstream: HTTPServer, site: Syndicate) -> None:
    api = EmApi(upstream)
    api.add("NW202603092600103318", "券商板块走强", media="证券时报", body="<p>碁字正文，完整内容。</p>")
    api.add("202603092600118301", "央行开展逆回购", media="东财滚动")
    result = one(site, sources(em_source(upstream)))
    assert (result.new, result.details) == (2, 2), result
    post = site.post("202603092600103318")  # the bare form finds the NW post
    assert post.id == "NW202603092600103318"
    assert post.title == "券商板块走强"
    assert "碁字正文，完整内容。" in post.html
    assert post.summary == "券商板块走强摘要"
    assert post.category.slug == "zhengquanshibao" and post.tags == ("证券时报新闻",)
    assert post.published == datetime(2026, 3, 9, 2, 23, 24, tzinfo=UTC)  # site time zone
    assert post.url == "http://finance.eastmoney.com/a/202603092600103318.html"


def test_detail_requests_only_for_new_or_changed_items(upstream: HTTPServer, site: Syndicate) -> None:
    api = EmApi(upstream)
    api.add("NW202603092600000001", "第一条")
    api.add("NW202603092600000002", "第二条")
    poll = poller(site, sources(em_source(upstream)))
    assert poll.poll()[0].new == 2
    before = site.post("NW202603092600000001")

    api.records[1]["readCount"] += 100  # a field we do not map: not a change
    unchanged = poll.poll()[0]
    assert (unchanged.new, unchanged.updated, unchanged.details) == (0, 0, 0)
    assert site.post("NW202603092600000001") == before  # nothing written

    api.add("NW202603092600000003", "第三条")
    api.records[0]["title"] = "第一条（更正）"
    api.bodies["NW202603092600000001"] = "<p>更正后的正文。</p>"
    changed = poll.poll()[0]
    assert (changed.new, changed.updated, changed.details) == (1, 1, 2), changed
    assert api.details == {"NW202603092600000001": 2, "NW202603092600000002": 1,
                           "NW202603092600000003": 1}
    after = site.post("NW202603092600000001")
    assert after.title == "第一条（更正）" and "更正后的正文" in after.html
    assert after.updated > before.updated and after.published == before.published


def test_nw_and_bare_infocode_from_two_sources_are_one_post(upstream: HTTPServer,
                                                            site: Syndicate) -> None:
    api = EmApi(upstream)
    api.add("NW202603092600000011", "同一篇文章", media="证券时报")
    upstream.expect_request("/rss").respond_with_data(rss("东财滚动", [Entry(
        "http://finance.eastmoney.com/a/202603092600000011.html", "同一篇文章", BODY)]))
    configured = sources(em_source(upstream), feed_source(upstream.url_for("/rss")))
    results = poller(site, configured).poll()
    assert sum(r.new for r in results) == 1 and sum(r.updated for r in results) == 1
    assert site.store.count() == 1
    post = site.post("202603092600000011")
    assert set(post.categories) == {"zhengquanshibao", "dongcaigundong"}


def test_unchanged_feed_items_write_nothing(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/rss").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/a/1", "标题", BODY)]))
    poll = poller(site, sources(feed_source(upstream.url_for("/rss"))))
    assert poll.poll()[0].new == 1
    stored = site.store.latest(1)[0]
    again = poll.poll()[0]
    assert (again.new, again.updated, again.unchanged, again.skipped) == (0, 0, 0, 1)
    assert site.store.latest(1)[0] == stored


def test_an_item_stored_already_by_another_way_is_unchanged(upstream: HTTPServer,
                                                            site: Syndicate) -> None:
    api = EmApi(upstream)
    api.add("NW202603092600000021", "标题")
    poll = poller(site, sources(em_source(upstream)))
    poll.poll()
    site.store.remember_items("em-market", {"NW202603092600000021": ("stale", "x")},
                              datetime.now(UTC))
    api.records[0]["readCount"] += 1  # a new list (a new ETag) with the same item
    result = poll.poll()[0]  # the fingerprint differs, the post does not
    assert (result.new, result.updated, result.unchanged) == (0, 0, 1)


# --- polite HTTP -----------------------------------------------------------------------


def test_conditional_get_sends_back_the_stored_validators(upstream: HTTPServer,
                                                          site: Syndicate) -> None:
    seen: list[dict[str, str | None]] = []
    document = rss("财联社", [Entry("https://up.example.com/a/1", "标题", BODY)])

    def handler(request: Request) -> Response:
        seen.append({"etag": request.headers.get("If-None-Match"),
                     "since": request.headers.get("If-Modified-Since"),
                     "agent": request.headers.get("User-Agent")})
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(document, content_type="application/rss+xml",
                        headers={"ETag": '"v1"', "Last-Modified": "Mon, 09 Mar 2026 02:00:00 GMT"})

    upstream.expect_request("/rss").respond_with_handler(handler)
    poll = poller(site, sources(feed_source(upstream.url_for("/rss"))))
    assert poll.poll()[0].status is Status.OK
    second = poll.poll()[0]
    assert second.status is Status.NOT_MODIFIED and second.http_status == 304
    assert seen[0]["etag"] is None and seen[0]["since"] is None
    assert seen[1] == {"etag": '"v1"', "since": "Mon, 09 Mar 2026 02:00:00 GMT",
                       "agent": seen[0]["agent"]}
    assert "https://news.example.com" in (seen[0]["agent"] or "")
    state = site.store.source_states(["cls"])[0]
    assert state.etag == '"v1"' and state.last_modified == "Mon, 09 Mar 2026 02:00:00 GMT"
    assert state.last_status == 304 and state.failures == 0


def test_cache_control_max_age_delays_the_next_poll(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/rss").respond_with_data(
        rss("财联社", []), headers={"Cache-Control": "public, max-age=3600"})
    result = one(site, sources(feed_source(upstream.url_for("/rss"), every="1m")))
    wait = result.next_poll - datetime.now(UTC)
    assert timedelta(minutes=59) < wait < timedelta(minutes=67)


def test_retry_after_and_backoff(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/busy").respond_with_data("busy", status=503,
                                                       headers={"Retry-After": "7200"})
    poll = poller(site, sources(feed_source(upstream.url_for("/busy"), every="1m")))
    first = poll.poll()[0]
    assert first.status is Status.FAILED and "503" in (first.error or "")
    assert first.next_poll - datetime.now(UTC) > timedelta(hours=1, minutes=59)

    upstream.clear()
    upstream.expect_request("/busy").respond_with_data("oops", status=500)
    for minutes in (2, 4, 8):  # failures 2, 3, 4 (plus up to 10% jitter, never less)
        result = poll.poll()[0]
        wait = (result.next_poll - datetime.now(UTC)).total_seconds()
        assert minutes * 60 - 5 <= wait <= minutes * 66, (minutes, wait)
    state = site.store.source_states(["cls"])[0]
    assert state.failures == 4 and "500" in (state.last_error or "")

    upstream.clear()
    upstream.expect_request("/busy").respond_with_data(rss("财联社", []))
    assert poll.poll()[0].status is Status.OK
    assert site.store.source_states(["cls"])[0].failures == 0


def test_permanent_redirect_moves_the_stored_url(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": upstream.url_for("/new")})
    upstream.expect_request("/temp").respond_with_data(
        "", status=302, headers={"Location": upstream.url_for("/new")})
    upstream.expect_request("/new").respond_with_data(rss("财联社", []))
    configured = sources(feed_source(upstream.url_for("/old")),
                         {**feed_source(upstream.url_for("/temp")), "name": "temp"})
    poll = poller(site, configured)
    for _ in range(2):  # one or two answers may be a mistake or an attack
        poll.poll()
        assert site.store.source_states(["cls"])[0].url == upstream.url_for("/old")
    poll.poll()
    states = {s.name: s for s in site.store.source_states()}
    assert states["cls"].url == upstream.url_for("/new")
    assert states["temp"].url == upstream.url_for("/temp")  # a temporary one does not


def test_gzip_is_accepted_and_decoded(upstream: HTTPServer, site: Syndicate) -> None:
    document = rss("财联社", [Entry("https://up.example.com/z/1", "压缩", BODY)])
    upstream.expect_request("/gz").respond_with_data(
        gzip.compress(document), headers={"Content-Encoding": "gzip"},
        content_type="application/rss+xml")
    assert one(site, sources(feed_source(upstream.url_for("/gz")))).new == 1


# --- faults ----------------------------------------------------------------------------


def failing(core: Syndicate, upstream: HTTPServer, path: str, **limits: Any) -> str:
    result = one(core, sources(feed_source(upstream.url_for(path))), **limits)
    assert result.status is Status.FAILED, result
    state = core.store.source_states(["cls"])[0]
    assert state.last_error == result.error and state.failures == 1
    assert state.next_poll > datetime.now(UTC) and state.claimed_by is None
    return result.error or ""


def test_http_500(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/e").respond_with_data("Internal error", status=500)
    assert "HTTP 500" in failing(site, upstream, "/e")


def test_garbage(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/e").respond_with_data(b"\x00\x01garbage{{<<", content_type="text/xml")
    assert "not a feed" in failing(site, upstream, "/e")


def test_html_error_page_with_status_200(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/e").respond_with_data(
        "<!DOCTYPE html><html><body><h1>系统维护中</h1></body></html>", content_type="text/html")
    assert "HTML page" in failing(site, upstream, "/e")


def test_html_error_page_from_a_json_api(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/api/list").respond_with_data(
        "<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    result = one(site, sources(em_source(upstream)))
    assert result.status is Status.FAILED and "HTML page" in (result.error or "")


def test_huge_body_declared(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/e").respond_with_data(b"x" * 50_000)
    assert "too large" in failing(site, upstream, "/e", max_bytes=10_000)


def test_huge_body_streamed_without_length(upstream: HTTPServer, site: Syndicate) -> None:
    def handler(request: Request) -> Response:
        return Response((b"<rss>" + b"x" * 4096 for _ in range(100)), content_type="text/xml")

    upstream.expect_request("/e").respond_with_handler(handler)
    assert "too large" in failing(site, upstream, "/e", max_bytes=10_000)


def test_slow_source_times_out(upstream: HTTPServer, site: Syndicate) -> None:
    def handler(request: Request) -> Response:
        time.sleep(1.5)
        return Response(rss("财联社", []))

    upstream.expect_request("/e").respond_with_handler(handler)
    began = time.monotonic()
    assert "timed out" in failing(site, upstream, "/e", read_timeout=0.3)
    assert time.monotonic() - began < 1.4


def test_dripping_source_hits_the_deadline(upstream: HTTPServer, site: Syndicate) -> None:
    def drip() -> Any:
        for _ in range(20):
            time.sleep(0.1)
            yield b"<!-- drip -->"

    upstream.expect_request("/e").respond_with_handler(
        lambda request: Response(drip(), content_type="text/xml"))
    assert "too slow" in failing(site, upstream, "/e", read_timeout=1.0, deadline=0.5)


def test_unreachable_source(site: Syndicate) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = one(site, sources(feed_source(f"http://127.0.0.1:{port}/feed")))
    assert result.status is Status.FAILED and "cannot fetch" in (result.error or "")


def test_one_bad_source_does_not_stop_the_others(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/bad").respond_with_data("no", status=500)
    upstream.expect_request("/html").respond_with_data("<html><body>x</body></html>",
                                                       content_type="text/html")
    upstream.expect_request("/good").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/ok/1", "好的", BODY)]))
    configured = sources(*({**feed_source(upstream.url_for(f"/{n}")), "name": n}
                           for n in ("bad", "html", "good")))
    results = {r.name: r for r in poller(site, configured).poll()}
    assert results["bad"].status is Status.FAILED and results["html"].status is Status.FAILED
    assert results["good"].new == 1


def test_a_bad_item_is_reported_and_the_others_stored(upstream: HTTPServer, site: Syndicate) -> None:
    api = EmApi(upstream)
    api.add("NW202603092600000031", "好的")
    api.add("NW202603092600000032", "没有来源", media="")
    api.records.append({"title": "没有编号"})
    result = one(site, sources(em_source(upstream)))
    assert result.new == 1
    assert any("no media name" in e for e in result.item_errors)
    assert any("no id" in e for e in result.item_errors)


def test_a_failed_detail_request_skips_only_that_item(upstream: HTTPServer, site: Syndicate) -> None:
    api = EmApi(upstream)
    api.add("NW202603092600000041", "有正文")
    api.add("NW202603092600000042", "正文出错")
    del api.bodies["NW202603092600000042"]  # the handler fails: HTTP 500
    poll = poller(site, sources(em_source(upstream)))
    result = poll.poll()[0]
    assert result.new == 1 and any("detail request" in e for e in result.item_errors)
    api.bodies["NW202603092600000042"] = BODY  # fixed upstream: the next poll gets it
    retried = poll.poll()[0]  # the list did not change, but it is fetched in full again
    assert (retried.http_status, retried.new, retried.details) == (200, 1, 1)
    assert poll.poll()[0].http_status == 304


def test_a_stopping_worker_finishes_the_request_in_flight_and_leaves_the_rest(
        upstream: HTTPServer, site: Syndicate) -> None:
    api = EmApi(upstream)
    for n in range(4):
        api.add(f"NW2026030926000005{n:02d}", f"第{n}条")
    poll = poller(site, sources(em_source(upstream)))
    original = api.detail

    def stop_during_the_second(request: Request) -> Response:
        if len(api.details) == 1:
            poll.stop.set()  # SIGTERM arrives while this detail request is in flight
        return original(request)

    upstream.clear()
    upstream.expect_request("/api/list").respond_with_handler(api.list)
    upstream.expect_request("/api/detail").respond_with_handler(stop_during_the_second)
    result = poll.poll_one("em-market", force=True)
    assert result.new == 2 and result.incomplete
    state = site.store.source_states(["em-market"])[0]
    assert state.claimed_by is None and state.next_poll <= datetime.now(UTC)
    resumed = poller(site, sources(em_source(upstream))).run_due()[0]  # another worker
    assert (resumed.new, resumed.details, resumed.skipped) == (2, 2, 2)


# --- claims ----------------------------------------------------------------------------


def test_two_pollers_never_fetch_one_source_at_once(upstream: HTTPServer, site: Syndicate) -> None:
    hits: dict[str, int] = {}
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            hits[request.path] = hits.get(request.path, 0) + 1
        time.sleep(0.3)
        return Response(rss("财联社", []))

    for n in range(6):
        upstream.expect_request(f"/s{n}").respond_with_handler(handler)
    configured = sources(*({**feed_source(upstream.url_for(f"/s{n}")), "name": f"s{n}"}
                           for n in range(6)))
    first, second = poller(site, configured), poller(site, configured)
    assert first.worker != second.worker
    results: list[Any] = []
    threads = [threading.Thread(target=lambda p=p: results.extend(p.run_due()))
               for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hits == {f"/s{n}": 1 for n in range(6)}
    assert sorted(r.name for r in results if r.status is not Status.SKIPPED) == \
        [f"s{n}" for n in range(6)]
    # Now every source is scheduled for later: nothing is due.
    assert first.run_due() == [] and second.run_due() == []


def test_an_expired_claim_is_taken_over(site: Syndicate) -> None:
    configured = sources(feed_source("http://127.0.0.1:9/never"))
    poll = poller(site, configured)
    now = datetime.now(UTC)
    assert site.store.claim_source("cls", "dead-worker", now - timedelta(minutes=5),
                                   timedelta(minutes=2), force=True) is not None
    assert site.store.claim_source("cls", "other", now, timedelta(minutes=2)) is not None
    assert site.store.claim_source("cls", poll.worker, now, timedelta(minutes=2)) is None
    assert not site.store.release_source("cls", "dead-worker", None, now)
    assert site.store.release_source("cls", "other", None, now)


def test_the_worker_loop_polls_on_schedule_and_stops(upstream: HTTPServer, site: Syndicate) -> None:
    upstream.expect_request("/rss").respond_with_data(
        rss("财联社", [Entry("https://up.example.com/w/1", "循环", BODY)]))
    poll = poller(site, sources(feed_source(upstream.url_for("/rss"))))
    seen: list[Any] = []

    def report(result: Any) -> None:
        seen.append(result)
        poll.stop.set()

    thread = threading.Thread(target=poll.run, kwargs={"report": report, "idle": 0.1})
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert [r.new for r in seen] == [1]
    assert site.store.source_states(["cls"])[0].claimed_by is None


def test_a_crash_while_saving_leaves_no_half_written_post(upstream: HTTPServer,
                                                          site: Syndicate) -> None:
    api = EmApi(upstream)
    for n in range(5):
        api.add(f"NW2026030926000001{n:02d}", f"第{n}条")
    poll = poller(site, sources(em_source(upstream)))
    original = site.save

    def crash(items: Any) -> Any:
        raise RuntimeError("killed")

    site.save = crash  # type: ignore[method-assign]
    failed = poll.poll()[0]
    assert failed.status is Status.FAILED and "killed" in (failed.error or "")
    assert site.store.count() == 0
    assert site.store.source_states(["em-market"])[0].claimed_by is None
    site.save = original  # type: ignore[method-assign]
    assert poll.poll()[0].new == 5  # the next poll does the whole job again
    assert all(site.post(f"NW2026030926000001{n:02d}").tags == ("证券时报新闻",) for n in range(5))


def test_a_new_or_changed_item_pings_the_websub_hubs(upstream: HTTPServer, database_url: str,
                                                     tmp_path: Any) -> None:
    from syndicate.settings import load_settings

    pings: list[dict[str, str]] = []
    upstream.expect_request("/hub", method="POST").respond_with_handler(
        lambda request: (pings.append(dict(request.form)), Response(status=204))[1])
    entries = [Entry("https://up.example.com/h/1", "初稿", BODY)]
    upstream.expect_request("/rss").respond_with_handler(
        lambda request: Response(rss("财联社", entries), content_type="application/rss+xml"))
    settings = load_settings({"DATABASE_URL": database_url, "BASE_URL": "https://news.example.com",
                              "WEBSUB_HUBS": upstream.url_for("/hub")},
                             environ={}, instance_path=tmp_path)
    core = Syndicate(settings)
    core.init()
    try:
        poll = poller(core, sources(feed_source(upstream.url_for("/rss"))))
        poll.poll()
        core.websub.flush(5)
        topics = {p["hub.url"] for p in pings}
        assert "https://news.example.com/category/cailianshe.atom" in topics
        assert all(p["hub.mode"] == "publish" for p in pings)
        pings.clear()
        poll.poll()  # unchanged: no ping
        core.websub.flush(1)
        assert pings == []
        entries[0] = Entry("https://up.example.com/h/1", "更正稿", BODY)
        assert poll.poll()[0].updated == 1
        core.websub.flush(5)
        assert "https://news.example.com/feed.xml" in {p["hub.url"] for p in pings}
    finally:
        core.websub.stop()
        core.store.dispose()
