"""Under the Content-Security-Policy, a real browser still runs the page's own script and CSS."""

from __future__ import annotations

from typing import Any

from .test_browser import PHONE, browser, site  # noqa: F401 - fixtures

__all__ = ["browser", "site"]


def test_the_post_page_works_under_its_policy_without_a_violation(
        site: str, browser: Any) -> None:  # noqa: F811
    context = browser.new_context(**PHONE)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if message.text.startswith("violation: ") else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.log('violation: ' + e.violatedDirective))")
    page.goto(site + "/")
    href = page.locator("ul.posts a").first.get_attribute("href")
    response = page.goto(site + href)
    assert response is not None and "script-src" in response.headers["content-security-policy"]
    # The inline script ran (it shows the copy button) and the inline CSS applied.
    assert page.locator("#share-copy").is_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.share-url')).minHeight") == "44px"
    page.evaluate("(() => { const s = document.createElement('script');"
                  " s.textContent = 'window.injected = 1'; document.body.appendChild(s); })()")
    assert page.evaluate("window.injected") is None  # an injected inline script does not run
    # The page's own blocks broke no directive; the injected script is the one violation.
    assert violations == ["violation: script-src-elem"]
    context.close()
