"""Checks that every page must pass at every size: nothing wider than the screen, no word
broken inside its letters, and no serious or critical accessibility violation by axe-core (the
npm package, from tests/browser/node_modules: `make axe` installs it; never from a CDN)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, ViewportSize

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 812}
SMALL: ViewportSize = {"width": 320, "height": 640}
SIZES: list[tuple[str, ViewportSize]] = [("desktop", DESKTOP), ("phone", PHONE), ("small", SMALL)]

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
#: What counts: axe's two worst impacts.
SERIOUS = ("serious", "critical")


def axe_source() -> str:
    """axe-core's script, from the test's own copy; missing, the check skips, but fails in CI."""
    if not AXE.is_file():
        reason = f"{AXE} is missing: run `make axe` (npm install in tests/browser)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE.read_text(encoding="utf-8")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now (WCAG 2.x A and AA
    and axe's best practices). Evaluated through the browser's devtools protocol, so the page's
    Content-Security-Policy (no inline scripts) stays as it is."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(
        """async (serious) => {
          const result = await axe.run(document, { resultTypes: ["violations"] });
          return result.violations
            .filter(v => serious.includes(v.impact))
            .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " " +
                                                       n.failureSummary) }));
        }""",
        list(SERIOUS),
    )
    return found


#: Every visible run of two or more letters (outside code, secrets and URLs, which may break
#: anywhere) must sit on one line: "brea kthr oug h" is a word broken inside its letters.
_BROKEN_WORDS = """() => {
  const broken = [];
  const letters = /\\p{L}{2,}/gu;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const element = node.parentElement;
    const skipped = "code, pre, script, style, textarea, .token, .visually-hidden, svg";
    if (!element || element.closest(skipped)) { continue; }
    const box = element.getBoundingClientRect();
    if (box.width <= 2 || !element.checkVisibility()) { continue; }
    let match;
    while ((match = letters.exec(node.data))) {
      if (match[0].length > 20) { continue; }  // longer than a small screen's line may be
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
        .map(r => Math.round(r.top)));
      if (tops.size > 1) {
        const where = `<${element.tagName.toLowerCase()} class="${element.className}">`;
        broken.push(`${match[0]} (in ${where})`);
      }
    }
  }
  return broken.slice(0, 10);
}"""


async def broken_words(page: Page) -> list[str]:
    """Words of the page that the layout broke across lines inside their letters."""
    found: list[str] = await page.evaluate(_BROKEN_WORDS)
    return found


async def width_of(page: Page) -> int:
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    return width


async def assert_fits(page: Page, where: str) -> None:
    """Nothing wider than the screen, and no word broken inside its letters."""
    size = page.viewport_size
    assert size is not None
    width = await width_of(page)
    assert width <= size["width"], f"{where} is {width} px wide at {size['width']} px"
    broken = await broken_words(page)
    assert broken == [], f"{where} at {size['width']} px breaks words: {broken}"


async def assert_accessible(page: Page, where: str) -> None:
    size = page.viewport_size
    found = await axe_violations(page)
    assert found == [], f"{where} at {size and size['width']} px: axe-core found {found}"
