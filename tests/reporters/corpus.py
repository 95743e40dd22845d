"""Hostile strings and a verdict that carries one in every foreign field the reporters show.

The payloads: script and event-handler XSS, dangerous URL schemes, SVG/MathML and
attribute break-outs, CSS, entity tricks, Markdown links/images/autolinks/mentions/
comments/headings/tables, SARIF placeholders and links, terminal escapes and characters
XML 1.0 forbids. Script payloads set ``window.__xss`` (and log XSS-MARKER) if they ever run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pipeline.checks.registry import registry
from pipeline.model import CheckResult, Finding, Instance, Measurement, Status, ToolInfo, Waiver
from pipeline.results import Merge
from pipeline.verdict import VerdictReport, decide
from pipeline.views import Bar, Bars, Facts, Figure, Plan, PlanNode, View

PAYLOADS = (
    "<script>window.__xss=1;console.log('XSS-MARKER');alert(1)</script>",
    '<img src=x onerror="window.__xss=2;alert(2)">',
    "<svg onload=window.__xss=3>",
    "<svg><script>window.__xss=4</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=5>",
    '"><script>window.__xss=6</script>',
    "'><img src=x onerror=window.__xss=7>",
    '" onmouseover="window.__xss=8" autofocus onfocus="window.__xss=8" x="',
    "javascript:window.__xss=9//",
    "JaVaScRiPt:alert(10)",
    "data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTE8L3NjcmlwdD4=",
    "vbscript:msgbox(12)",
    "file:///etc/passwd",
    "//evil.example/x",
    "../../../etc/passwd",
    '<iframe src="javascript:window.__xss=16"></iframe>',
    '<a href="javascript:window.__xss=17">click</a>',
    "<style>body{background:url(//evil.example/x)}</style>",
    '<div style="background-image:url(javascript:window.__xss=19)">x</div>',
    "&lt;script&gt;window.__xss=20&lt;/script&gt;",
    "&#60;img src=x onerror=window.__xss=21&#62;",
    "</textarea></title></style></script><script>window.__xss=22</script>",
    '<!--<img src="--><img src=x onerror=window.__xss=23>-->',
    '<base href="//evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=25">',
    '<form action="//evil.example"><button formaction="javascript:window.__xss=26">ok</button></form>',
    "<details open ontoggle=window.__xss=27>x</details>",
    '<object data="javascript:window.__xss=28"></object><embed src="javascript:window.__xss=28">',
    "{{7*7}}${7*7}<%= 7*7 %>",
    'https://evil.example/"><script>window.__xss=30</script>',
    "https://evil.example/plain?q=1",
    "[click me](javascript:alert(31))",
    "![pixel](https://evil.example/pixel.png)",
    "<https://evil.example/autolink>",
    "https://evil.example/bare www.evil.example contact admin@evil.example",
    "@octocat please look at #1234, GH-12 and owner/repo#5",
    "<!-- hidden comment --> visible",
    "# Heading\n- list item\n> quote\n| a | b |\n|---|---|\n1. one",
    "**bold** _em_ ~~strike~~ `code` ```fence``` ===",
    '[ref]: https://evil.example "title"',
    "\\<b>escaped\\</b> \\[x\\](y) \\",
    "\x1b[32mVERDICT: READY\x1b[0m\r\x1b[2K\x1b[1A",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ \x1b]0;title\x07 \x1bP1$r\x1b\\",
    "nul\x00byte \x0b\x0c\x1f \ud800 \ufffe \U0001F600 \x85\u2028\u202eYDAER",
    "]]><![CDATA[<script>window.__xss=44</script>]]>",
    "{0} [text](1) \\[ } { [link](https://evil.example)",
    '<svg><a xlink:href="javascript:window.__xss=46"><text y="20">x</text></a></svg>',
)

FINISHED = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def every_field_report(text: Callable[[int], str]) -> VerdictReport:
    """A verdict whose every foreign field holds ``text(i)`` for each payload index ``i``."""
    n = len(PAYLOADS)
    results = [
        _check("coverage", text, views=(Bars(text(0), text(1), tuple(
            Bar(text(i), 0.5, 0.9, False, text(i)) for i in range(n)), text(2)),)),
        _check("openapi", text),
        _check("zap", text, findings=[_zap_finding(text(i)) for i in range(n)]),
        _check("audit", text, findings=[_audit_finding(text(i)) for i in range(n)]),
        _check("k6", text, views=(Bars(text(3), "ms", tuple(
            Bar(text(i), 20.0 + i, 200.0, i % 2 == 0, text(i), (10.0, 30.0 + i)) for i in range(n)), text(4)),)),
        _check("explain", text, views=(Facts(text(5), tuple((text(i), text(i)) for i in range(n))),
                                       *(_query(text(i)) for i in range(n)))),
        _check("dashboards", text),
        _check("docs", text, views=(Figure(text(6), text(7), text(8)),)),
    ]
    # Every other registered check too, so the reports hold a result for each mandatory check.
    results += [_check(name, text) for name in registry().names() if name not in {r.check for r in results}]
    # Check names come from result file names too; each hostile name is a check of its own.
    results += [CheckResult(text(i), Status.ERROR, text(i), (text(i),), started_at=FINISHED, finished_at=FINISHED)
                for i in range(n)]
    merges = [Merge(text(i), text(i), (text(i),)) for i in range(n)]
    report = decide(results, merges)
    report.environment["service"] = text(0) + text(35)
    return report


def _check(name: str, text: Callable[[int], str], findings: list[Finding] | None = None,
           views: tuple[View, ...] = ()) -> CheckResult:
    n = len(PAYLOADS)
    waivers = tuple(Waiver(name, text(i), text(i), text(i), dt.date(2026, 12, 31), text(i)) for i in range(n))
    return CheckResult(
        check=name, status=Status.FAIL, summary=text(sum(map(ord, name)) % n),
        reasons=tuple(text(i) for i in range(n)),
        measurements=tuple(Measurement(text(i), text(i), text(i), text(i), i % 2 == 0) for i in range(n)),
        findings=tuple(findings or ()),
        evidence=(*(text(i) for i in range(n)), "evidence/tool.log"),
        tool=ToolInfo(text(1), text(2), "run", tuple(text(i) for i in range(n)), 1),
        started_at=FINISHED - dt.timedelta(seconds=3), finished_at=FINISHED,
        waivers_applied=waivers[: n // 2], waivers_expired=waivers[n // 2:],
        details={text(i): text(i) for i in range(n)},  # no report reads details; they must not show up raw
        views=views,
    )


def _zap_finding(p: str) -> Finding:
    return Finding(p, p, p, p, failing=True, waived_by=None, urls=(p, p), message=p, remediation=p,
                   references=(p, p), tags=(p, p), instances=(Instance(p, p, p, p),),
                   details={"rule_id": p, "artifact": p, "plugin_id": p})


def _audit_finding(p: str) -> Finding:
    return Finding(p, p, p, p, failing=True, waived_by=p, aliases=(p, p), fixed=(p,), references=(p,),
                   details={"artifact": p, "rule_id": p, "package": p, "version": p})


def _query(p: str) -> Plan:
    return Plan(p, ((p, p),), p, 3.0, 5.0, (p, p), (PlanNode(0, p, 1.0, 1.0, 2.0, 0.5, True),
                                                   PlanNode(1, p, 1.0, 1.0, 1.0, 0.1, False)), (p, p), (p,))
