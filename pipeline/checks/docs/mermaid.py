"""Mermaid diagrams validated by Mermaid itself: its browser bundle, run in headless Chromium.

Mermaid's grammar lives in its JavaScript; only Mermaid can say whether a diagram parses. The
gate writes a page that loads ``mermaid.min.js`` (the npm package's bundle) and calls
``mermaid.parse`` on every block, runs ``chromium --headless --dump-dom`` on it and reads the
answer back (base64 JSON, so no text of a diagram can break out of it). Where Chromium or the
bundle is absent, nothing is validated and the result says so.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline import proc
from pipeline.errors import CheckError, ParseError
from pipeline.evidence import load_json_text, objects, optional_text

BUNDLE = Path("node_modules") / "mermaid" / "dist" / "mermaid.min.js"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 90.0
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--allow-file-access-from-files", "--virtual-time-budget=20000", "--dump-dom")
_ANSWER = re.compile(r'<pre id="answer">([A-Za-z0-9+/=]*)</pre>')

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body><pre id="answer"></pre>
<script src="{bundle}"></script>
<script>
const diagrams = {diagrams};
(async () => {{
  const results = [];
  try {{
    mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
    for (const text of diagrams) {{
      try {{
        await mermaid.parse(text);
        const drawn = text.trimStart().startsWith("erDiagram")
          ? (await mermaid.render("diagram" + results.length, text)).svg : "";
        results.push({{ok: true, error: "", svg: drawn}});
      }}
      catch (e) {{ results.push({{ok: false, error: String((e && e.message) || e)}}); }}
    }}
  }} catch (e) {{ results.push({{ok: false, error: "mermaid did not load: " + String(e)}}); }}
  const json = JSON.stringify(results);
  document.getElementById("answer").textContent = btoa(unescape(encodeURIComponent(json)));
}})();
</script></body></html>
"""


@dataclass(frozen=True)
class Verdict:
    """Mermaid's word on one diagram, and its drawing (SVG) for an ERD."""

    ok: bool
    error: str
    svg: str = ""


def find_browser(configured: str | None) -> str | None:
    """The configured Chromium, else the first of the usual names on PATH."""
    if configured:
        return configured
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def find_bundle(configured: str | None, env: Mapping[str, str], project_dir: Path) -> Path | None:
    """mermaid.min.js: configured (and only that when configured), else READINESS_MERMAID_JS, else node_modules."""
    candidates = (configured,) if configured else (env.get("READINESS_MERMAID_JS"), str(project_dir / BUNDLE))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def bundle_version(bundle: Path) -> str:
    """The Mermaid version from the npm package's package.json beside the bundle, else 'unknown'."""
    try:
        version = json.loads((bundle.parent.parent / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return "unknown"
    return version if isinstance(version, str) else "unknown"


def validate(diagrams: Sequence[str], browser: str, bundle: Path, work: Path,
             budget_s: float = TIMEOUT_S) -> tuple[Verdict, ...]:
    """Mermaid's verdict on each diagram, in order; CheckError when the browser gives no answer."""
    work.mkdir(parents=True, exist_ok=True)
    page = work / "mermaid-check.html"
    embedded = json.dumps(list(diagrams)).replace("<", "\\u003c")  # no "</script>" can end the script early
    page.write_text(PAGE.format(bundle=bundle.resolve().as_uri(), diagrams=embedded), encoding="utf-8")
    dom = work / "mermaid-check.dom.html"
    proc.run_tool([browser, *BROWSER_FLAGS, page.resolve().as_uri()],
                  log_path=work / "mermaid-check.log", timeout_s=min(TIMEOUT_S, budget_s), stdout_path=dom)
    found = _ANSWER.search(dom.read_text(encoding="utf-8", errors="replace"))
    if not found or not found.group(1):
        raise CheckError("Chromium ran Mermaid but gave no answer, so the diagrams were not validated",
                         f"Open {page} in a browser and read its console.")
    return read_answer(found.group(1), len(diagrams), dom)


def read_answer(encoded: str, expected: int, source: Path) -> tuple[Verdict, ...]:
    """The page's base64 JSON answer, validated: one verdict per diagram."""
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ParseError(source, "the answer", f"is not base64 UTF-8 ({exc})") from None
    verdicts = []
    for place, item in objects(load_json_text(text, source), source, "the answer"):
        ok = item.get("ok")
        if not isinstance(ok, bool):
            raise ParseError(source, f"{place}.ok", f"is {ok!r}, not true or false")
        svg = optional_text(item.get("svg"), source, f"{place}.svg")
        if svg and not svg.lstrip().startswith("<svg"):
            raise ParseError(source, f"{place}.svg", "is not an SVG drawing")
        verdicts.append(Verdict(ok, optional_text(item.get("error"), source, f"{place}.error"), svg))
    if len(verdicts) != expected:
        message = verdicts[-1].error if verdicts and not verdicts[-1].ok else ""
        raise ParseError(source, "the answer", f"has {len(verdicts)} verdicts for {expected} diagrams {message}")
    return tuple(verdicts)
