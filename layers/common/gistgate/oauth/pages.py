"""The only HTML we serve: the consent page, the connect result and error pages.

Small, accessible (labels, headings, a real form that works without script),
no external assets, everything escaped. The headers forbid framing
(clickjacking on the approve button) and caching.
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

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
    "border-color:#1f6feb}"
)


class Page(NamedTuple):
    status: int
    html: str


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def consent_page(
    *,
    action: str,
    form_token: str,
    client_name: str,
    client_id: str,
    redirect_host: str,
    scopes: list[tuple[str, str]],
    user: str,
    resource_name: str,
) -> Page:
    """Ask the user to approve ``client_name`` for the listed scopes."""
    items = (
        "".join(
            f"<li><strong>{escape(scope)}</strong>: {escape(meaning)}</li>"
            for scope, meaning in scopes
        )
        or "<li>no scopes: it can only see who you are</li>"
    )
    name = escape(client_name or client_id)
    body = (
        f"<h1>Allow {name} to use {escape(resource_name)}?</h1>"
        f"<p>Signed in as <strong>{escape(user)}</strong>.</p>"
        f'<p>After you decide, you return to <span class="host">{escape(redirect_host)}</span>. '
        "Only approve if you started this from an application you trust.</p>"
        f"<h2>It asks for</h2><ul>{items}</ul>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="form_token" value="{escape(form_token)}">'
        '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
        f'<p><small>Client id: <span class="host">{escape(client_id)}</span></small></p>'
    )
    return Page(200, _document(f"Authorize {client_name or client_id}", body))


def message_page(status: int, title: str, message: str) -> Page:
    """An error, or the end of the connect flow."""
    body = f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
    return Page(status, _document(title, body))
