"""A corpus of known XSS filter-evasion payloads, for the XSS tests of posts and titles.

Collected (from memory, then adapted to a Markdown forum) from the OWASP "XSS Filter Evasion
Cheat Sheet", PortSwigger's "Cross-site scripting cheat sheet", well-known mutation-XSS
(mXSS) sanitiser bypasses and the usual polyglots. Every payload is numbered, and each one that
could run script tries to call ``window.__xss(<n>)``, ``alert(<n>)``, ``confirm(<n>)``,
``prompt(<n>)`` or ``console.log("__xss:<n>")`` with its own number, so a browser test can tell
which one fired.

Templates use ``{N}`` for the payload's number; ``_js``, ``_b64``, ``_dec`` and ``_hex`` build
the encoded variants (``data:`` URLs in base64, ``javascript:`` spelled as HTML character
references). ``PAYLOADS`` is the list to use; ``Payload.text`` is what a user would type.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    n: int
    category: str
    text: str

    @property
    def id(self) -> str:
        """A pytest id: ``p042-event-handler``."""
        return f"p{self.n:03d}-{self.category}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _dec(text: str, *, width: int = 0, semicolon: bool = True) -> str:
    """Every character as a decimal character reference (optionally zero-padded, no ';')."""
    end = ";" if semicolon else ""
    return "".join(f"&#{ord(c):0{width}d}{end}" for c in text)


def _hex(text: str, *, semicolon: bool = True) -> str:
    end = ";" if semicolon else ""
    return "".join(f"&#x{ord(c):x}{end}" for c in text)


# (category, template) — ``{N}`` becomes the payload's number; a callable gets the number.
_TEMPLATES: list[tuple[str, str | object]] = [
    # --- script tags in many spellings ------------------------------------------------------
    ("script", "<script>alert({N})</script>"),
    ("script", "<SCRIPT>window.__xss({N})</SCRIPT>"),
    ("script", "<ScRiPt>window.__xss({N})</sCrIpT>"),
    ("script", "<script src=data:,window.__xss({N})></script>"),
    ("script", '<SCRIPT/XSS SRC="data:,window.__xss({N})"></SCRIPT>'),
    ("script", "<<SCRIPT>alert({N});//<</SCRIPT>"),
    ("script", "<script>window.__xss({N})"),
    ("script", "<scr\x00ipt>window.__xss({N})</scr\x00ipt>"),
    ("script", "<script\x00>window.__xss({N})</script>"),
    ("script", "<scr<script>ipt>window.__xss({N})</scr</script>ipt>"),
    ("script", '<script type="text/javascript">javascript:window.__xss({N});</script>'),
    ("script", '"><script>window.__xss({N})</script>'),
    ("script", "</title><script>window.__xss({N})</script>"),
    ("script", "</textarea><script>window.__xss({N})</script>"),
    ("script", "</pre><script>window.__xss({N})</script><pre>"),
    ("script", "<script\n>window.__xss({N})</script\n>"),
    ("script", "<script ~~~>window.__xss({N})</script ~~~>"),
    ("script", "<script>window.__xss(String.fromCharCode(48+{N}%10)&&{N})</script>"),
    ("script", "'';!--\"<XSS{N}>=&{()}"),
    ("script", "<SCRIPT a=\">\" SRC=\"data:,window.__xss({N})\"></SCRIPT>"),
    ("script", "<script>/*</script><script>*/window.__xss({N})</script>"),
    ("script", "<script>console.log(\"__xss:{N}\")</script>"),
    ("script", "\\x3cscript\\x3ewindow.__xss({N})\\x3c/script\\x3e"),
    ("script", "%3Cscript%3Ewindow.__xss({N})%3C%2Fscript%3E"),
    ("script", "+ADw-script+AD4-window.__xss({N})+ADw-/script+AD4-"),
    ("script", "\uff1cscript\uff1ewindow.__xss({N})\uff1c/script\uff1e"),
    ("script", "&lt;script&gt;window.__xss({N})&lt;/script&gt;"),
    ("script", "&#60;script&#62;window.__xss({N})&#60;/script&#62;"),
    ("script", "\\<script>window.__xss({N})\\</script>"),
    # --- event handlers -----------------------------------------------------------------------
    ("event-handler", "<img src=x onerror=alert({N})>"),
    ("event-handler", "<IMG SRC=x ONERROR=window.__xss({N})>"),
    ("event-handler", '<img src="x" onerror="window.__xss({N})">'),
    ("event-handler", "<img/src/onerror=window.__xss({N})>"),
    ("event-handler", "<img src=`x`onerror=window.__xss({N})>"),
    ("event-handler", '<IMG """><SCRIPT>window.__xss({N})</SCRIPT>">'),
    ("event-handler", "<img src=x onerror\x0b=window.__xss({N})>"),
    ("event-handler", "<img src=x one\x00rror=window.__xss({N})>"),
    ("event-handler", "<img src=x onerror=&#119;&#105;&#110;&#100;&#111;&#119;.__xss({N})>"),
    ("event-handler", '<img src=x onerror="&#x61;lert({N})">'),
    ("event-handler", "<body onload=window.__xss({N})>"),
    ("event-handler", "<body onpageshow=window.__xss({N})>"),
    ("event-handler", "<svg onload=window.__xss({N})>"),
    ("event-handler", "<svg/onload=window.__xss({N})>"),
    ("event-handler", "<input autofocus onfocus=window.__xss({N})>"),
    ("event-handler", "<select autofocus onfocus=window.__xss({N})></select>"),
    ("event-handler", "<textarea autofocus onfocus=window.__xss({N})></textarea>"),
    ("event-handler", "<keygen autofocus onfocus=window.__xss({N})>"),
    ("event-handler", '<a href="#" id=x{N} tabindex=1 autofocus onfocus=window.__xss({N})>x</a>'),
    ("event-handler", "<details open ontoggle=window.__xss({N})>"),
    ("event-handler", "<video><source onerror=window.__xss({N})></video>"),
    ("event-handler", "<audio src=x onerror=window.__xss({N})>"),
    ("event-handler", "<marquee onstart=window.__xss({N})>x</marquee>"),
    ("event-handler", '<div onmouseover="window.__xss({N})">hover me</div>'),
    ("event-handler", "<a onmouseover=window.__xss({N})>hover me</a>"),
    ("event-handler",
     '<a href="https://example.com/" onclick="window.__xss({N})">allowed tag, bad attribute</a>'),
    ("event-handler", "<p onclick=window.__xss({N})>allowed p</p>"),
    ("event-handler", "<b onmouseover=window.__xss({N})>allowed b</b>"),
    ("event-handler", "<blockquote onmouseenter=window.__xss({N})>q</blockquote>"),
    ("event-handler", "<table onpointerover=window.__xss({N})><tr><td>t</td></tr></table>"),
    ("event-handler", "<x contenteditable onblur=window.__xss({N})>lose focus!</x>"),
    ("event-handler", "<xss id=x tabindex=1 onfocusin=window.__xss({N})></xss>"),
    ("event-handler", "<style onload=window.__xss({N})></style>"),
    ("event-handler", "<input type=image src=x onerror=window.__xss({N})>"),
    ("event-handler", "<isindex type=image src=1 onerror=window.__xss({N})>"),
    ("event-handler", "<object data=x onerror=window.__xss({N})></object>"),
    ("event-handler", "<div style=\"animation-name:x\" onanimationstart=window.__xss({N})>"),
    ("event-handler", "<body onscroll=window.__xss({N})><br><br><br><input autofocus>"),
    ("event-handler", "<img src=x:alert({N}) onerror=eval(src)>"),
    ("event-handler", '<img src="x" onerror  =  "window.__xss({N})" >'),
    ("event-handler", "<img src=x onerror=window['__x'+'ss']({N})>"),
    ("event-handler", "<br size=\"&{window.__xss({N})}\">"),
    # --- javascript: / vbscript: / data: in raw HTML links -------------------------------------
    ("url-html", '<a href="javascript:window.__xss({N})">click</a>'),
    ("url-html", '<a href="JaVaScRiPt:window.__xss({N})">click</a>'),
    ("url-html", "<a href=javascript:window.__xss({N})>click</a>"),
    ("url-html", '<a href="jav\tascript:window.__xss({N})">click</a>'),
    ("url-html", '<a href="jav&#x09;ascript:window.__xss({N})">click</a>'),
    ("url-html", '<a href="jav&#x0A;ascript:window.__xss({N})">click</a>'),
    ("url-html", '<a href="jav&#x0D;ascript:window.__xss({N})">click</a>'),
    ("url-html", '<a href=" &#14;  javascript:window.__xss({N})">click</a>'),
    ("url-html", '<a href="java\x00script:window.__xss({N})">click</a>'),
    ("url-html", '<a href="javas&#99;ript:window.__xss({N})">click</a>'),
    ("url-html", '<a href="javascript&colon;window.__xss({N})">click</a>'),
    ("url-html", '<a href="javascript&#58;window.__xss({N})">click</a>'),
    ("url-html", lambda n: f'<a href="{_dec(f"javascript:window.__xss({n})")}">click</a>'),
    ("url-html", lambda n: '<a href="'
     + _dec(f"javascript:window.__xss({n})", width=7, semicolon=False) + '">click</a>'),
    ("url-html", lambda n: '<a href="'
     + _hex(f"javascript:window.__xss({n})", semicolon=False) + '">click</a>'),
    ("url-html", '<a href="javascript://%0Awindow.__xss({N})">click</a>'),
    ("url-html", '<a href="vbscript:msgbox({N})">click</a>'),
    ("url-html", '<a href="livescript:window.__xss({N})">click</a>'),
    ("url-html", lambda n: '<a href="data:text/html;base64,'
     + _b64(f"<script>parent.__xss({n})</script>") + '">click</a>'),
    ("url-html", '<a href="data:text/html,<script>window.__xss({N})</script>">click</a>'),
    ("url-html", '<a href="https://example.com/" href="javascript:window.__xss({N})">dup</a>'),
    ("url-html", '<a href="javascript:window.__xss({N})" rel="opener" target="_blank">t</a>'),
    ("url-html", '<table background="javascript:window.__xss({N})"><tr><td>x</td></tr></table>'),
    ("url-html", "<img dynsrc=\"javascript:window.__xss({N})\" lowsrc=\"javascript:alert({N})\">"),
    ("url-html", '<img srcset="x 1x, javascript:window.__xss({N}) 2x">'),
    ("url-html", "<bgsound src=\"javascript:window.__xss({N});\">"),
    ("url-html", '<link rel="stylesheet" href="javascript:window.__xss({N});">'),
    # --- style / expression -------------------------------------------------------------------
    ("style", '<div style="width: expression(window.__xss({N}));">x</div>'),
    ("style", '<img style="xss:expr/*XSS*/ession(window.__xss({N}))">'),
    ("style", "<style>@import'javascript:window.__xss({N})';</style>"),
    ("style", '<style>li {list-style-image: url("javascript:window.__xss({N})");}</style>'
     "<ul><li>XSS</li></ul>"),
    ("style", '<p style="background-image: url(javascript:window.__xss({N}))">x</p>'),
    ("style", '<div style="behavior: url(xss{N}.htc);">x</div>'),
    ("style", "<style>*{x:expression(window.__xss({N}))}</style>"),
    ("style", '<a href="https://example.com/" style="position:fixed;top:0;left:0;width:100%;'
     'height:100%">clickjack {N}</a>'),
    # --- meta refresh, base href, form action -------------------------------------------------
    ("meta", '<meta http-equiv="refresh" content="0;url=javascript:window.__xss({N});">'),
    ("meta", lambda n: '<meta http-equiv="refresh" content="0;url=data:text/html;base64,'
     + _b64(f"<script>window.__xss({n})</script>") + '">'),
    ("meta", '<meta http-equiv="Content-Security-Policy" content="script-src * \'unsafe-inline\'">'
     "<script>window.__xss({N})</script>"),
    ("meta", '<meta charset="UTF-7">+ADw-script+AD4-window.__xss({N})+ADw-/script+AD4-'),
    ("base", '<base href="javascript:window.__xss({N});//">'),
    ("base", '<base href="https://attacker.example/{N}/">'),
    ("form", '<form action="javascript:window.__xss({N})"><input type=submit></form>'),
    ("form", '<form><button formaction="javascript:window.__xss({N})">X</button></form>'),
    ("form", '<isindex formaction="javascript:window.__xss({N})" type=submit value=click>'),
    ("form", '<form id=f{N}></form><button form=f{N} formaction=javascript:window.__xss({N})>x'
     "</button>"),
    # --- iframes, objects, embeds -------------------------------------------------------------
    ("frame", '<iframe src="javascript:window.__xss({N})"></iframe>'),
    ("frame", '<iframe srcdoc="<script>parent.__xss({N})</script>"></iframe>'),
    ("frame", lambda n: '<iframe src="data:text/html;base64,'
     + _b64(f"<script>parent.__xss({n})</script>") + '"></iframe>'),
    ("frame", "<iframe onload=window.__xss({N})></iframe>"),
    ("frame", '<frameset><frame src="javascript:window.__xss({N});"></frameset>'),
    ("frame", '<object data="javascript:window.__xss({N})"></object>'),
    ("frame", lambda n: '<object type="text/html" data="data:text/html;base64,'
     + _b64(f"<script>parent.__xss({n})</script>") + '"></object>'),
    ("frame", lambda n: '<embed src="data:image/svg+xml;base64,'
     + _b64(f'<svg xmlns="http://www.w3.org/2000/svg" onload="parent.__xss({n})"/>') + '">'),
    ("frame", "<embed src=javascript:window.__xss({N})>"),
    ("frame", '<applet code="javascript:window.__xss({N})"></applet>'),
    ("frame", "<portal src=javascript:window.__xss({N})></portal>"),
    # --- SVG and MathML -----------------------------------------------------------------------
    ("svg", "<svg><script>window.__xss({N})</script></svg>"),
    ("svg", "<svg><script xlink:href=data:,window.__xss({N}) /></svg>"),
    ("svg", '<svg><a xlink:href="javascript:window.__xss({N})"><text x=20 y=20>XSS</text></a>'
     "</svg>"),
    ("svg", "<svg><animate onbegin=window.__xss({N}) attributeName=x dur=1s>"),
    ("svg", "<svg><a><animate attributeName=href values=javascript:window.__xss({N}) />"
     "<text x=20 y=20>Click</text></a></svg>"),
    ("svg", '<svg><set attributeName="onmouseover" to="window.__xss({N})"/></svg>'),
    ("svg", '<svg xmlns="http://www.w3.org/2000/svg"><g onload="window.__xss({N})"></g></svg>'),
    ("svg", "<svg><foreignObject><iframe srcdoc=\"<script>parent.__xss({N})</script>\">"
     "</iframe></foreignObject></svg>"),
    ("svg", "<svg><style>{font-family:'<iframe/onload=window.__xss({N})>'}</style></svg>"),
    ("svg", "<svg></p><style><a id=\"</style><img src=1 onerror=window.__xss({N})>\">"),
    ("svg", "<svg><![CDATA[><img src=x onerror=window.__xss({N})>]]></svg>"),
    ("math", '<math href="javascript:window.__xss({N})">CLICKME</math>'),
    ("math", '<math><maction actiontype="statusline#" xlink:href="javascript:window.__xss({N})">'
     "CLICKME</maction></math>"),
    ("math", '<math><a xlink:href="javascript:window.__xss({N})">click</a></math>'),
    ("math", "<math><mtext><table><mglyph><style><!--</style>"
     '<img title="--&gt;&lt;img src=1 onerror=window.__xss({N})&gt;">'),
    ("math", "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss({N})>"),
    ("math", "<form><math><mtext></form><form><mglyph><style></math>"
     "<img src onerror=window.__xss({N})>"),
    # --- malformed / unclosed markup, comments, CDATA, odd containers --------------------------
    ("malformed", '<noscript><p title="</noscript><img src=x onerror=window.__xss({N})>">'),
    ("malformed", "<img src=x onerror=window.__xss({N})//"),
    ("malformed", "<a href=\"javascript:window.__xss({N})\"\n>unclosed"),
    ("malformed", "<img src=\"x\" onerror=\"window.__xss({N})"),
    ("malformed", "<title><script>window.__xss({N})</script></title>"),
    ("malformed", "<textarea><script>window.__xss({N})</script></textarea>"),
    ("malformed", "<xmp><script>window.__xss({N})</script></xmp>"),
    ("malformed", "<noembed><img title=\"</noembed><img src=x onerror=window.__xss({N})>\">"),
    ("malformed", "<plaintext><script>window.__xss({N})</script>"),
    ("malformed", "<template><script>window.__xss({N})</script></template>"),
    ("malformed", "<p>unclosed <b>bold <i>italic <a href=\"javascript:window.__xss({N})\">"),
    ("malformed", "</p></li></ol></article></li></ol><script>window.__xss({N})</script>"),
    ("malformed", "<div><p><div id=\"</p><img src=x onerror=window.__xss({N})>\"></div>"),
    ("comment", '<!--<img src="--><img src=x onerror=window.__xss({N})//">'),
    ("comment", "<!--[if gte IE 4]><script>window.__xss({N});</script><![endif]-->"),
    ("comment", "<!-- --!><img src=x onerror=window.__xss({N})> -->"),
    ("comment", "<!--><img src=x onerror=window.__xss({N})>-->"),
    ("cdata", "<![CDATA[<script>window.__xss({N})</script>]]>"),
    ("cdata", '<xml id=x><x><c><![CDATA[<img src="javas]]><![CDATA[cript:window.__xss({N})">]]>'
     "</c></x></xml>"),
    ("cdata", "<? echo('<scr)'; echo('ipt>window.__xss({N})</script>'); ?>"),
    # --- Markdown link and image tricks --------------------------------------------------------
    ("markdown", "[click](javascript:window.__xss({N}))"),
    ("markdown", "[click](JAVASCRIPT:window.__xss({N}))"),
    ("markdown", "[click](javascript&#58;window.__xss({N}))"),
    ("markdown", "[click](javascript&colon;window.__xss({N}))"),
    ("markdown", "[click](&#106;avascript:window.__xss({N}))"),
    ("markdown", lambda n: f"[click]({_dec(f'javascript:window.__xss({n})')})"),
    ("markdown", "[click](java%73cript:window.__xss({N}))"),
    ("markdown", "[click](  javascript:window.__xss({N})  )"),
    ("markdown", "[click](<javascript:window.__xss({N})>)"),
    ("markdown", "[click](java\x00script:window.__xss({N}))"),
    ("markdown", "[click](\tjavascript:window.__xss({N}))"),
    ("markdown", "[click](vbscript:msgbox({N}))"),
    ("markdown", lambda n: "[click](data:text/html;base64,"
     + _b64(f"<script>parent.__xss({n})</script>") + ")"),
    ("markdown", lambda n: "[click](data:image/svg+xml;base64,"
     + _b64(f'<svg xmlns="http://www.w3.org/2000/svg" onload="__xss({n})"/>') + ")"),
    ("markdown", "![x](javascript:window.__xss({N}))"),
    ("markdown", '![x](x" onerror="window.__xss({N}))'),
    ("markdown", '![x](https://x.invalid/a.png"onerror="window.__xss({N}))'),
    ("markdown", "![x](data:image/png;base64,iVBORw0KGgo=) {N}"),
    ("markdown", '![x" onerror="window.__xss({N})](https://x.invalid/a.png)'),
    ("markdown", '[click](https://example.com/ "title\\" onmouseover=\\"window.__xss({N})")'),
    ("markdown", "[click](https://example.com/ 'x\" onmouseover=\"window.__xss({N})')"),
    ("markdown", "[[click](javascript:window.__xss({N}))](https://example.com/)"),
    ("markdown", "[click [nested]](javascript:window.__xss({N}))"),
    ("markdown", "[click](https://example.com/\"><script>window.__xss({N})</script>)"),
    ("markdown", "[<img src=x onerror=window.__xss({N})>](https://example.com/)"),
    ("markdown", "[click][ref{N}]\n\n[ref{N}]: javascript:window.__xss({N})"),
    ("markdown", "[click][ref{N}]\n\n[ref{N}]: <javascript:window.__xss({N})> \"t\""),
    ("markdown", "[ref{N}]\n\n[ref{N}]: JaVaScRiPt:window.__xss({N})"),
    ("markdown", "![img][r{N}]\n\n[r{N}]: x\" onerror=\"window.__xss({N})"),
    ("markdown", "[click](https://example.com/){onclick=window.__xss({N})}"),
    ("autolink", "<javascript:window.__xss({N})>"),
    ("autolink", "<JAVASCRIPT:window.__xss({N})>"),
    ("autolink", "<vbscript:msgbox({N})>"),
    ("autolink", lambda n: "<data:text/html;base64,"
     + _b64(f"<script>parent.__xss({n})</script>") + ">"),
    ("autolink", "<x@example.com?body=\"><script>window.__xss({N})</script>>"),
    ("autolink", "<https://example.com/\"onmouseover=\"window.__xss({N})\">"),
    ("linkify", "javascript:window.__xss({N})"),
    ("linkify", "www.example.com/\"onmouseover=\"window.__xss({N})"),
    ("linkify", "https://example.com/<script>window.__xss({N})</script>"),
    ("linkify", "http://example.com/\"><img src=x onerror=window.__xss({N})>"),
    ("linkify", "javascript://example.com/%0Awindow.__xss({N})"),
    ("linkify", lambda n: "data://example.com/text/html;base64,"
     + _b64(f"<script>parent.__xss({n})</script>")),
    ("linkify", "feed://example.com/?x={N}"),
    ("linkify", "ftp://example.com/xss{N}"),
    ("markdown-html", "*<img src=x onerror=window.__xss({N})>*"),
    ("markdown-html", "> <script>window.__xss({N})</script>"),
    ("markdown-html", "| <img src=x onerror=window.__xss({N})> |\n|---|\n| cell |"),
    ("markdown-html", "- <svg onload=window.__xss({N})>\n- item"),
    ("markdown-html", "# <img src=x onerror=window.__xss({N})>"),
    ("markdown-html", "`<script>window.__xss({N})</script>`"),
    ("markdown-html", "```\n</code></pre><script>window.__xss({N})</script>\n```"),
    ("markdown-html", "```\"><script>window.__xss({N})</script>\ncode\n```"),
    ("markdown-html", "    <script>window.__xss({N})</script>"),
    ("markdown-html", "<div>\n\n*<script>window.__xss({N})</script>*\n\n</div>"),
    ("markdown-html", "| a |\n|:-:|\n| <a href=javascript:window.__xss({N})>x</a> |"),
    # --- template injection -------------------------------------------------------------------
    ("template", "{{7*7}} {N}"),
    ("template", "${7*7} #{7*7} <%= 7*7 %> {N}"),
    ("template", "{{constructor.constructor('window.__xss({N})')()}}"),
    ("template", "{{ '<script>window.__xss({N})</script>' | safe }}"),
    ("template", "{% raw %}<script>window.__xss({N})</script>{% endraw %}"),
    ("template", "{{ request.application.__globals__ }} {{config}} {N}"),
    # --- polyglots ----------------------------------------------------------------------------
    ("polyglot", "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=window.__xss({N}) )//%0D%0A"
     "%0d%0a//</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=window.__xss({N})//>"
     "\\x3e"),
    ("polyglot", "'\">><marquee><img src=x onerror=confirm({N})></marquee>\"></plaintext\\>"
     "</|\\><plaintext/onmouseover=prompt({N})><script>prompt({N})</script>@gmail.com"
     "<isindex formaction=javascript:alert({N}) type=submit>'-->\"></script>"
     "<script>alert({N})</script>\"><img/id=\"confirm&lpar;{N})\"/alt=\"/\"src=\"/\""
     "onerror=eval(id&%23x29;>'\">"),
    ("polyglot", "\"><svg/onload=window.__xss({N})>"),
    ("polyglot", "'-window.__xss({N})-'"),
    ("polyglot", "\\\";window.__xss({N});//"),
    ("polyglot", "</script><script>window.__xss({N})</script>"),
    ("polyglot", "\"'><img src=x onerror=window.__xss({N})>[x](javascript:window.__xss({N}))"
     "<javascript:window.__xss({N})>"),
    ("polyglot", "-->'\"/></sCript><deTailS open x=\">\" onToggle=window.__xss({N})>"),
]


def _build() -> list[Payload]:
    payloads = []
    for n, (category, template) in enumerate(_TEMPLATES, start=1):
        text = template(n) if callable(template) else str(template).replace("{N}", str(n))
        payloads.append(Payload(n, category, text))
    return payloads


PAYLOADS: list[Payload] = _build()

assert len(PAYLOADS) >= 100, len(PAYLOADS)
assert len({p.text for p in PAYLOADS}) == len(PAYLOADS), "duplicate payloads"
