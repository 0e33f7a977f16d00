"""Response headers: what every answer carries, and each page's Content-Security-Policy.

`finish` runs on every answer Flask gives (tracker.app). The widget's cached answers,
which the fast path serves before Flask, are built with `COMMON` and `EMBEDDABLE` from
here too (tracker.hotcache.response_headers), so both paths send the same.

Every HTML page gets a policy that allows scripts and styles from this site only (the
widget's iframe page pins its inline style and script by hash instead), and may be framed
by nobody unless it says otherwise: only the widget may be framed, by the campaign's
allowed origins or by anyone.
"""

from __future__ import annotations

from flask import Response

PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)
COMMON: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
)
# What the widget adds: other sites may load it.
EMBEDDABLE: tuple[tuple[str, str], ...] = (("Cross-Origin-Resource-Policy", "cross-origin"),)
HSTS = "max-age=31536000; includeSubDomains"


def csp(
    *,
    scripts: str = "'self'",
    styles: str = "'self'",
    style_attributes: bool = False,
    images: str = "'self'",
    frames: str = "'none'",
    frame_ancestors: str = "'none'",
    forms: str = "'self'",
) -> str:
    """A Content-Security-Policy: nothing unless named, never `unsafe-inline` for scripts.

    `style_attributes` allows `style="..."` attributes (not <style> blocks, not scripts):
    pages that show the embed snippets live need them, since the snippets carry their own.
    """
    parts = [
        "default-src 'none'",
        f"script-src {scripts}",
        f"style-src {styles}",
        f"img-src {images}",
        f"frame-src {frames}",
        f"form-action {forms}",
        "base-uri 'none'",
        f"frame-ancestors {frame_ancestors}",
    ]
    if style_attributes:
        parts.insert(3, "style-src-attr 'unsafe-inline'")
    return "; ".join(parts)


# Every HTML page that sets no policy of its own: ours only (our widget's iframe included),
# never framed.
PAGE_CSP = csp(frames="'self'")
# The donate pages: their forms lead on to Stripe (Checkout, the customer portal), and CSP's
# form-action also holds the redirect a form's answer gives.
STRIPE_PAGES = "https://checkout.stripe.com https://billing.stripe.com"
DONATE_CSP = csp(forms=f"'self' {STRIPE_PAGES}")
# Plain-text and JSON answers run nothing.
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'"


def completed(
    given: list[tuple[str, str]], mimetype: str, *, secure: bool, private: bool
) -> list[tuple[str, str]]:
    """`given` and every header an answer of this type carries that `given` does not set.

    `secure`: the request came over https (HSTS). `private`: a page for one person (the
    dashboard, the donate pages) that no cache may keep and no other site may be told of.
    """
    names = {name.lower() for name, _ in given}
    out = [(k, v) for k, v in given if not (private and k.lower() == "referrer-policy")]

    def add(name: str, value: str) -> None:
        if name.lower() not in names:
            names.add(name.lower())
            out.append((name, value))

    if private:
        out.append(("Referrer-Policy", "same-origin"))
        names.add("referrer-policy")
        add("Cache-Control", "no-store")
    for name, value in COMMON:
        add(name, value)
    if secure:
        add("Strict-Transport-Security", HSTS)
    if mimetype == "text/html":
        add("Content-Security-Policy", PAGE_CSP)
    elif mimetype in ("application/json", "text/plain"):
        add("Content-Security-Policy", NOTHING_CSP)
    policy = next((v for k, v in out if k.lower() == "content-security-policy"), "")
    if "frame-ancestors 'none'" in policy:
        add("X-Frame-Options", "DENY")  # for browsers before CSP 2
    return out


def finish(response: Response, *, secure: bool, private: bool) -> Response:
    """Give a Flask answer every header it should carry (see `completed`)."""
    given = list(response.headers.items())
    # A 304 has no body, hence no type of its own (a cached read's came complete anyway).
    mimetype = "" if response.status_code == 304 else response.mimetype or ""
    full = completed(given, mimetype, secure=secure, private=private)
    if full != given:
        response.headers.clear()
        response.headers.extend(full)
    return response
