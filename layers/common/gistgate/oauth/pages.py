"""The only HTML we serve: the consent page, the connect result and error pages.

Small, accessible (labels, headings, a real form that works without script),
no external assets, everything escaped. The headers forbid framing
(clickjacking on the approve button) and caching.
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

__all__ = ["PAGE_HEADERS", "ConsentView", "Page", "consent_page", "message_page"]

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "color:#1b1b1b}h1{font-size:1.4rem}ul{padding-left:1.2rem}.host{font-family:monospace}"
    "button{font:inherit;padding:.5rem 1.2rem;margin-right:.6rem;border-radius:.3rem;"
    "border:1px solid #555;cursor:pointer}button.approve{background:#1f6feb;color:#fff;"
    "border-color:#1f6feb}.warn{background:#fff4e5;border-left:4px solid #d97706;"
    "padding:.5rem .8rem}"
)


class Page(NamedTuple):
    status: int
    html: str


def _document(title: str, body: str) -> str:
    """The whole page; text that cannot be UTF-8 (a lone surrogate) becomes '?'."""
    return _utf8(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


class ConsentView(NamedTuple):
    """Everything a person needs to decide, already worked out by the flow."""

    action: str
    form_token: str
    client_name: str
    client_id: str
    client_note: str  # who vouches for the name: nobody (DCR), a verified host (CIMD), us
    redirect_uri: str
    redirect_warning: str | None
    scopes: list[tuple[str, str]]
    resource_name: str
    account: str | None  # the signed-in user, or None: the upstream sign-in comes next
    upstream: str  # "your GitHub account", "your account at login.example.com"
    upstream_scopes: list[tuple[str, str]]


def consent_page(view: ConsentView) -> Page:
    """Ask the user to approve a client, before anything is stored or sent upstream."""
    items = (
        "".join(
            f"<li><strong>{escape(scope)}</strong>: {escape(meaning)}</li>"
            for scope, meaning in view.scopes
        )
        or "<li>no scopes: it can only see who you are</li>"
    )
    name = escape(view.client_name or view.client_id)
    warning = (
        f'<p class="warn">{escape(view.redirect_warning)}</p>' if view.redirect_warning else ""
    )
    upstream_items = "".join(
        f"<li><strong>{escape(scope)}</strong>: {escape(meaning)}</li>"
        for scope, meaning in view.upstream_scopes
    )
    upstream_list = (
        f"<p>{escape(view.resource_name)} will ask for these permissions there:</p>"
        f"<ul>{upstream_items}</ul>"
        if upstream_items
        else ""
    )
    if view.account is not None:
        who = (
            f"<p>You are signed in as <strong>{escape(view.account)}</strong>; "
            f"{escape(view.resource_name)} uses {escape(view.upstream)} for this.</p>"
        )
        other = (
            '<button type="submit" name="decision" value="switch">'
            "Approve with another account</button>"
        )
    else:
        who = f"<p>After you approve, you sign in with {escape(view.upstream)}.</p>"
        other = ""
    body = (
        f"<h1>Allow {name} to use {escape(view.resource_name)}?</h1>"
        f"<p><small>{escape(view.client_note)}</small></p>"
        f"<h2>It asks for</h2><ul>{items}</ul>"
        f"<h2>Your account</h2>{who}{upstream_list}"
        "<h2>Where you go next</h2>"
        "<p>After you decide, your browser returns to "
        f'<span class="host">{escape(view.redirect_uri)}</span>.</p>'
        f"{warning}"
        "<p>Only approve if you started this from an application you trust.</p>"
        f'<form method="post" action="{escape(view.action)}">'
        f'<input type="hidden" name="form_token" value="{escape(view.form_token)}">'
        '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
        f"{other}"
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
        f'<p><small>Client id: <span class="host">{escape(view.client_id)}</span></small></p>'
    )
    return Page(200, _document(f"Authorize {view.client_name or view.client_id}", body))


def message_page(status: int, title: str, message: str) -> Page:
    """An error, or the end of the connect flow."""
    body = f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
    return Page(status, _document(title, body))
