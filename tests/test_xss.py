"""No payload of the XSS corpus survives as executable markup (issue 3, "Done when").

Every payload of ``tests/xss_payloads.py`` goes

* through ``forum.rooms.markup`` directly: ``sanitise_html`` on the raw payload (the bleach
  layer alone, without markdown-it's escaping in front of it) and ``render_markdown``;
* through the JSON API: post creation, post edit and thread creation (as title and first post);
* out again as it is served: the API's ``html`` field and the HTML pages that show it (thread
  pages, post history, the edit form, a quote-reply draft, the room's thread list).

What "no executable markup" means is checked on the HTML as a parser reads it (the standard
library's ``html.parser``, which decodes character references in attribute values the way a
browser does): in a post body only allow-listed tags and attributes, no ``on*`` or ``style``
attribute, every ``<a>`` with ``rel="nofollow noopener noreferrer"``, every URL's scheme
``http``, ``https`` or ``mailto`` once control characters and whitespace are removed. On a whole
page: none of the script-capable elements, no event or style attribute, no ``http-equiv``
meta, forms that post only to our own paths. ``tests/browser/test_rooms_browser.py`` then loads
the same payloads in Chromium.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from markupsafe import escape

from forum import db, keys
from forum.auth import service as auth
from forum.rooms import markup, service
from forum.settings import Settings
from tests import conftest
from tests.factories import TestUser, make_user, sign_in
from tests.xss_payloads import PAYLOADS, Payload

# --- what "no executable markup" means -------------------------------------------------------

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
# The allow-list of a post body, written out here on purpose (not imported from markup.py): a
# widened allow-list must be a visible change to this test too.
POST_ATTRIBUTES: dict[str, frozenset[str]] = {
    **{tag: frozenset() for tag in (
        "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "li", "p", "pre", "s", "strong", "table", "tbody", "tr", "thead", "ul")},
    "a": frozenset({"href", "title", "rel"}), "abbr": frozenset({"title"}),
    "ol": frozenset({"start"}), "th": frozenset({"align"}), "td": frozenset({"align"}),
}
# Never in a post body, nor anywhere on a page (apart from the page's own meta/link/form).
SCRIPT_CAPABLE = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal", "svg",
    "math", "style", "img", "image", "video", "audio", "source", "track", "picture", "base",
    "template", "noscript", "xmp", "plaintext", "noembed", "isindex", "keygen", "bgsound",
    "marquee", "details", "xml", "layer", "ilayer",
})
FORBIDDEN_IN_POSTS = SCRIPT_CAPABLE | {"meta", "link", "form", "input", "button", "textarea",
                                       "select", "title", "body", "html", "head"}
URL_ATTRIBUTES = frozenset({
    "href", "src", "action", "formaction", "data", "background", "poster", "cite", "srcset",
    "xlink:href", "lowsrc", "dynsrc", "codebase", "longdesc", "icon", "manifest", "ping",
})
LINK_REL = {"nofollow", "noopener", "noreferrer"}
# Browsers drop tab/CR/LF anywhere in a URL and C0 controls and spaces around it; dropping every
# control, space and NBSP anywhere can only find more schemes, never fewer.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f-\xa0\s]+")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Paths our own page forms post to.
_OWN_FORM_ACTION = re.compile(r"^/[A-Za-z0-9/_\-]*$")


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see in an attribute value (references already decoded)."""
    match = _SCHEME.match(_URL_NOISE.sub("", value))
    return match.group(1).lower() if match else None


class Parsed(HTMLParser):
    """Every start tag with its attributes, and anything that is not an element or text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.others: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.others.append(f"comment <!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        if decl.lower() != "doctype html":
            self.others.append(f"declaration <!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self.others.append(f"declaration <![{data}]>")

    def handle_pi(self, data: str) -> None:
        self.others.append(f"processing instruction <?{data}>")


def parse(html: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(html)
    parsed.close()
    return parsed


def _common_problems(tag: str, attrs: list[tuple[str, str | None]]) -> list[str]:
    problems = []
    for name, value in attrs:
        if name.startswith("on"):
            problems.append(f"<{tag}> has event attribute {name}={value!r}")
        if name in {"style", "srcdoc", "formaction", "http-equiv"}:
            problems.append(f"<{tag}> has {name}={value!r}")
        if name in URL_ATTRIBUTES and value is not None:
            scheme = url_scheme(value)
            if scheme is not None and scheme not in SAFE_SCHEMES:
                problems.append(f"<{tag}> has {name} with scheme {scheme!r}: {value!r}")
    return problems


def fragment_problems(html: str) -> list[str]:
    """What makes a post body's HTML unsafe; empty when it is inert."""
    parsed = parse(html)
    problems = list(parsed.others)
    for tag, attrs in parsed.tags:
        if tag in FORBIDDEN_IN_POSTS or tag not in POST_ATTRIBUTES:
            problems.append(f"<{tag}> is not allowed in a post")
            continue
        problems += _common_problems(tag, attrs)
        names = {name for name, _ in attrs}
        if names - POST_ATTRIBUTES[tag]:
            problems.append(f"<{tag}> has attributes {sorted(names - POST_ATTRIBUTES[tag])}")
        if tag == "a":
            rel = set((dict(attrs).get("rel") or "").split())
            if not LINK_REL <= rel:
                problems.append(f"<a> without rel={' '.join(sorted(LINK_REL))}: {attrs!r}")
    return problems


def page_problems(html: str) -> list[str]:
    """What makes a whole served page unsafe; empty when it is inert."""
    parsed = parse(html)
    problems = [o for o in parsed.others if not o.startswith("comment")]
    for tag, attrs in parsed.tags:
        values = dict(attrs)
        if tag in SCRIPT_CAPABLE:
            problems.append(f"<{tag}> on the page: {attrs!r}")
        elif tag == "meta" and set(values) - {"charset", "name", "content"}:
            problems.append(f"<meta> with {attrs!r}")
        elif tag == "meta" and "name" in values and values["name"] != "viewport":
            problems.append(f"<meta> with {attrs!r}")
        elif tag == "link" and not (values.get("rel") in ("stylesheet", "icon")
                                    and (values.get("href") or "").startswith("/static/")):
            problems.append(f"<link> with {attrs!r}")
        elif tag == "form" and not _OWN_FORM_ACTION.match(values.get("action") or ""):
            problems.append(f"<form> posting elsewhere: {attrs!r}")
        problems += _common_problems(tag, attrs)
    return problems


def assert_inert_fragment(html: str, what: str) -> None:
    problems = fragment_problems(html)
    assert not problems, f"{what}: executable markup survived in {html!r}:\n  " + \
        "\n  ".join(problems)


def assert_inert_page(html: str, what: str) -> None:
    problems = page_problems(html)
    assert not problems, f"{what}: executable markup on the page:\n  " + "\n  ".join(problems)


def api_text(payload: Payload) -> str:
    """The payload as the API can take it: NUL characters are refused whole (a 422, tested
    below), so the API gets the payload without them — often the very spelling a NUL hid."""
    return payload.text.replace("\x00", "")


def stored_body(text: str) -> str:
    """What the service keeps of a post body (``check_body``)."""
    return text.replace("\r\n", "\n").strip()


def stored_title(text: str) -> str:
    """What the service keeps of a title (``check_title``): whitespace collapsed."""
    return " ".join(text.split())


# --- the checker itself is not vacuous -------------------------------------------------------

@pytest.mark.parametrize("html", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<p onclick=alert(1)>x</p>",
    '<p style="color:red">x</p>',
    '<a href="javascript:alert(1)" rel="nofollow noopener noreferrer">x</a>',
    '<a href="jav&#x09;ascript:alert(1)" rel="nofollow noopener noreferrer">x</a>',
    '<a href=" &#14; JaVaScRiPt:alert(1)" rel="nofollow noopener noreferrer">x</a>',
    '<a href="data:text/html,x" rel="nofollow noopener noreferrer">x</a>',
    '<a href="ftp://example.com/" rel="nofollow noopener noreferrer">x</a>',
    '<a href="https://example.com/">no rel</a>',
    "<svg><a>x</a></svg>",
    "<!--x-->",
    "<![CDATA[x]]>",
    "<div>not on the allow-list</div>",
])
def test_the_fragment_checker_catches_known_bad_html(html: str) -> None:
    assert fragment_problems(html)


@pytest.mark.parametrize("html", [
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://attacker.example/">',
    '<form action="https://attacker.example/"></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<iframe srcdoc=x></iframe>",
    '<body onload="alert(1)">',
    '<textarea></textarea><script>alert(1)</script>',
])
def test_the_page_checker_catches_known_bad_html(html: str) -> None:
    assert page_problems(html)


def test_the_checkers_accept_what_is_allowed() -> None:
    assert fragment_problems(
        '<p><a href="https://example.com/?a=1&amp;b=2" title="t" rel="nofollow noopener '
        'noreferrer">x</a> <a href="mailto:a@example.org" rel="nofollow noopener noreferrer">m'
        '</a> <a href="/threads/1" rel="nofollow noopener noreferrer">r</a> <code>&lt;script'
        '&gt;</code></p><ol start="3"><li>i</li></ol>') == []


# --- the sanitiser, directly ------------------------------------------------------------------

@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_sanitise_html_leaves_no_executable_markup(payload: Payload) -> None:
    """The bleach layer alone, on raw HTML (as if markdown-it let the payload through)."""
    html = markup.sanitise_html(payload.text)
    assert_inert_fragment(html, f"sanitise_html(payload {payload.n})")
    # No mutation XSS: what the sanitiser emits reads back the same (a second pass, as a
    # browser re-parsing the fragment would, changes nothing).
    assert markup.sanitise_html(html) == html, f"payload {payload.n} mutates when re-parsed"


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_render_markdown_leaves_no_executable_markup(payload: Payload) -> None:
    html = markup.render_markdown(payload.text)
    assert_inert_fragment(html, f"render_markdown(payload {payload.n})")
    assert markup.sanitise_html(html) == html, f"payload {payload.n} mutates when re-parsed"


@pytest.mark.parametrize("text", ["www.example.org/x", "https://example.org/x",
                                  "HTTPS://EXAMPLE.ORG/X", "http://example.org/x?a=b"])
def test_bare_web_urls_still_become_links(text: str) -> None:
    html = markup.render_markdown(f"see {text} there")
    assert re.search(r'<a href="(?i:https?)://[^"]+" rel="nofollow noopener noreferrer">', html)


@pytest.mark.parametrize("text", ["data://example.com/text/html;base64,PHNjcmlwdD4=",
                                  "data:example.com/x", "ftp://example.com/x",
                                  "feed://example.com/x", "ssh://example.com",
                                  "webcal://example.com/x", "callto://example.com/x"])
def test_bare_urls_of_other_schemes_are_not_linked_as_such(text: str) -> None:
    """Regression: the linkifier, which runs after the sanitiser, made links of these."""
    html = markup.render_markdown(text)
    assert_inert_fragment(html, text)
    assert all(url_scheme(value or "") in {None, "http", "https"}
               for _tag, attrs in parse(html).tags for name, value in attrs if name == "href")


def test_template_syntax_is_shown_literally() -> None:
    for payload in PAYLOADS:
        if payload.category == "template":
            html = markup.render_markdown(payload.text)
            text = re.sub(r"<[^>]+>", "", html)
            # Braces survive as text; nothing is evaluated (no 49 appears from 7*7).
            assert payload.text.count("{") == text.count("{"), (payload.text, html)
            assert "49" not in text


# --- through the API and the pages ------------------------------------------------------------

@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    """As the shared fixture, with room for a corpus' worth of posts in one minute."""
    return Settings.from_env(conftest.test_environ(tmp_path, DIEF_POSTS_PER_MINUTE="1000"))


@dataclass
class Member:
    """A signed-in member of one room, talking to the app through ``client``."""

    client: TestClient
    user: TestUser
    name: str
    csrf: str
    room_id: uuid.UUID
    room_slug: str

    async def call(self, method: str, path: str, body: Any = None,
                   expect: int = 200) -> Any:
        headers = {"Accept-Language": "en"}
        if method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        async with self.client.request(method, path, json=body, headers=headers) as response:
            text = await response.text()
            assert response.status == expect, (method, path, response.status, text[:500])
            return await response.json() if expect != 204 else None

    async def page(self, path: str) -> str:
        async with self.client.get(path, headers={"Accept-Language": "en"}) as response:
            text = await response.text()
            assert response.status == 200, (path, response.status, text[:500])
            assert response.content_type == "text/html"
            return text


async def room_member(client: TestClient, name: str = "Room Member") -> Member:
    app = client.app
    user = await make_user(client, role="delegate", name=name)
    async with db.transaction(app[keys.POOL]) as conn:
        room = await service.create_room(conn, app[keys.KEYRING], None,
                                         slug=f"xss-{uuid.uuid4().hex[:8]}",
                                         kind="working_group", name="XSS corpus room")
        await service.add_member(conn, app[keys.KEYRING], None, room.id, user.id)
    return Member(client, user, name, await sign_in(client, user), room.id, room.slug)


def assert_served_post(page: str, post: dict[str, Any]) -> None:
    """The page shows the post's stored HTML, unchanged, as the body of ``li#post-<id>``."""
    assert f'<li class="post" id="post-{post["id"]}">' in page
    assert f'<div class="body">{post["html"]}</div>' in page, \
        f"post {post['id']} is not served as stored: {post['html']!r}"


async def all_posts(member: Member, thread_id: str) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        reply = await member.call("GET", f"/api/v1/threads/{thread_id}/posts?after={after}"
                                  "&limit=100")
        posts += reply["posts"]
        after = reply["next"]
    return posts


async def test_payloads_in_created_and_edited_posts_are_served_inert(client: TestClient) -> None:
    member = await room_member(client)
    thread = await member.call("POST", f"/api/v1/rooms/{member.room_slug}/threads",
                               {"title": "The XSS corpus", "body": "Payloads follow."},
                               expect=201)
    thread_id = thread["id"]

    # Creation: every payload as a reply.
    created: dict[str, Payload] = {}
    for payload in PAYLOADS:
        if "\x00" in payload.text:
            problem = await member.call("POST", f"/api/v1/threads/{thread_id}/posts",
                                        {"body": payload.text}, expect=422)
            assert problem["code"] == "invalid_text"
        post = await member.call("POST", f"/api/v1/threads/{thread_id}/posts",
                                 {"body": api_text(payload)}, expect=201)
        assert post["body"] == stored_body(api_text(payload))
        assert_inert_fragment(post["html"], f"created post, payload {payload.n}")
        created[post["id"]] = payload

    # Edit: every payload once more, each post taking the next payload of the corpus.
    ids = list(created)
    edited: dict[str, Payload] = {}
    for index, post_id in enumerate(ids):
        payload = PAYLOADS[(index + 1) % len(PAYLOADS)]
        if "\x00" in payload.text:
            problem = await member.call("PATCH", f"/api/v1/posts/{post_id}",
                                        {"body": payload.text}, expect=422)
            assert problem["code"] == "invalid_text"
        post = await member.call("PATCH", f"/api/v1/posts/{post_id}",
                                 {"body": api_text(payload)})
        assert post["body"] == stored_body(api_text(payload)) and post["revision_count"] == 1
        assert_inert_fragment(post["html"], f"edited post, payload {payload.n}")
        edited[post_id] = payload

    # Stored, then served by the API …
    posts = await all_posts(member, thread_id)
    assert len(posts) == len(PAYLOADS) + 1
    for post in posts[1:]:
        assert post["body"] == stored_body(api_text(edited[post["id"]]))
        assert_inert_fragment(post["html"], f"served post, payload {edited[post['id']].n}")

    # … and by the thread pages, every one of them.
    for after in range(0, len(posts), service.POSTS_PER_PAGE):
        page = await member.page(f"/threads/{thread_id}?after={after}")
        assert_inert_page(page, f"thread page after={after}")
        shown = posts[after:after + service.POSTS_PER_PAGE]
        assert page.count('<li class="post" id="post-') == len(shown)
        for post in shown:
            assert_served_post(page, post)

    # The raw Markdown is shown too: in the history (both versions), in the edit form and in a
    # quote-reply draft — always as escaped text.
    async def check_source_pages(post_id: str) -> None:
        was, now = created[post_id], edited[post_id]
        history = await member.page(f"/posts/{post_id}/history")
        assert_inert_page(history, f"history of the post with payloads {was.n}, {now.n}")
        for version in (was, now):
            assert f'<pre class="source">{escape(stored_body(api_text(version)))}</pre>' \
                in history
        form = await member.page(f"/posts/{post_id}/edit")
        assert_inert_page(form, f"edit form, payload {now.n}")
        assert f">{escape(stored_body(api_text(now)))}</textarea>" in form
        quoting = await member.page(f"/threads/{thread_id}?quote={post_id}")
        assert_inert_page(quoting, f"quote-reply draft, payload {now.n}")
        draft = markup.quote(member.name, stored_body(api_text(now)))
        assert f">{escape(draft)}</textarea>" in quoting

    for start in range(0, len(ids), 8):  # a few at a time: the app's pool has 4 connections
        await asyncio.gather(*(check_source_pages(post_id) for post_id in ids[start:start + 8]))


async def test_payloads_as_thread_titles_and_first_posts_are_served_inert(
        client: TestClient) -> None:
    member = await room_member(client)
    titles: dict[str, str] = {}
    for payload in PAYLOADS:
        text = api_text(payload)
        title = stored_title(text[:service.MAX_TITLE])
        if "\x00" in payload.text:
            problem = await member.call("POST", f"/api/v1/rooms/{member.room_slug}/threads",
                                        {"title": payload.text[:service.MAX_TITLE],
                                         "body": "x"}, expect=422)
            assert problem["code"] == "invalid_text"
        thread = await member.call("POST", f"/api/v1/rooms/{member.room_slug}/threads",
                                   {"title": text[:service.MAX_TITLE], "body": text},
                                   expect=201)
        assert thread["title"] == title
        [first] = thread["posts"]
        assert_inert_fragment(first["html"], f"first post, payload {payload.n}")
        titles[thread["id"]] = title

        page = await member.page(f"/threads/{thread['id']}")
        assert_inert_page(page, f"thread titled with payload {payload.n}")
        assert f"<title>{escape(title)} · DIEF Forum</title>" in page
        assert f"<h1>{escape(title)}</h1>" in page
        assert_served_post(page, first)

    # The room's thread list, every page of it, shows each title as text.
    listed: list[str] = []
    path: str | None = f"/rooms/{member.room_slug}"
    while path is not None:
        page = await member.page(path)
        assert_inert_page(page, path)
        for thread_id, title in re.findall(r'<a href="/threads/([0-9a-f-]{36})">([^<]*)</a>',
                                           page):
            assert title == escape(titles[thread_id]), (thread_id, title)
            listed.append(thread_id)
        more = re.search(r'<a href="(/rooms/[^"?]+\?after=[^"]+)" rel="next">', page)
        path = more.group(1) if more else None
    assert sorted(listed) == sorted(titles)


async def test_payloads_as_display_names_are_served_inert(client: TestClient) -> None:
    """Display names are user-written too, and a quote-reply puts them into Markdown."""
    reader = await room_member(client, name="Reader")
    names = [p for p in PAYLOADS
             if len(stored_title(p.text)) <= 80 and "\x00" not in p.text][::4]
    assert len(names) >= 20
    app = client.app
    thread = await reader.call("POST", f"/api/v1/rooms/{reader.room_slug}/threads",
                               {"title": "Names", "body": "Who is who."}, expect=201)
    post_ids: dict[str, Payload] = {}
    for payload in names:
        author = await make_user(client, role="delegate", name=payload.text)
        async with db.transaction(app[keys.POOL]) as conn:
            await service.add_member(conn, app[keys.KEYRING], None, reader.room_id, author.id)
            actor = await auth.unsafe_actor_for(conn, author.id)
            new_id = await service.create_post(
                conn, app[keys.KEYSTORE], app[keys.SETTINGS], actor,
                uuid.UUID(thread["id"]), body=f"Hello from author {payload.n}.")
        post_ids[str(new_id)] = payload

    posts = {p["id"]: p for p in await all_posts(reader, thread["id"])}
    for after in range(0, len(posts), service.POSTS_PER_PAGE):
        page = await reader.page(f"/threads/{thread['id']}?after={after}")
        assert_inert_page(page, f"thread page after={after}")
        for post_id, payload in post_ids.items():
            if f'id="post-{post_id}"' in page:
                assert f'<strong id="post-{post_id}-author">{escape(stored_title(payload.text))}' \
                    "</strong>" in page
    for post_id, payload in post_ids.items():
        name = stored_title(payload.text)
        assert posts[post_id]["author"] == name
        quoting = await reader.page(f"/threads/{thread['id']}?quote={post_id}")
        assert_inert_page(quoting, f"quote of the author named with payload {payload.n}")
        draft = markup.quote(name, f"Hello from author {payload.n}.")
        assert f">{escape(draft)}</textarea>" in quoting
        # The quote, posted, renders the name through Markdown and the sanitiser.
        reply = await reader.call("POST", f"/api/v1/threads/{thread['id']}/posts",
                                  {"body": draft, "quote_of": post_id}, expect=201)
        assert_inert_fragment(reply["html"], f"quote of the author named {payload.n}")
