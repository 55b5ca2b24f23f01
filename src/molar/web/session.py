"""Who is looking at a console page: the session cookie, the policy check, the language.

Pages declare ``Depends(page(resource, action))`` like API routes declare ``permit``;
the policy file decides. Without a live session a page redirects to the sign-in page;
a role without the action gets a 403 page.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from fastapi import Request

from molar.privacy.accounts import Principal
from molar.privacy.policy import load_policy
from molar.web.i18n import Locale, pick

COOKIE = "molar_session"
LANG_COOKIE = "molar_lang"
PREFIX = "/console"


class SignInFirst(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageDenied(Exception):
    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer


@dataclass(frozen=True)
class Viewer:
    principal: Principal | None
    locale: Locale

    def may(self, resource: str, action: str) -> bool:
        return self.principal is not None and load_policy().check(self.principal.role, resource, action).allowed


def locale_of(request: Request) -> Locale:
    return Locale(pick(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)))


def session_principal(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    runtime = request.app.state.realtime
    principal = runtime.keys.lookup(token, runtime.read_engine(), runtime.clock())
    return principal if principal is not None and principal.kind == "session" else None


def viewer_of(request: Request) -> Viewer:
    return Viewer(session_principal(request), locale_of(request))


def page(resource: str, action: str) -> Callable[[Request], Viewer]:
    """The page dependency: a signed-in viewer whose role may do ``action`` on ``resource``."""
    load_policy().check("admin", resource, action)   # an undeclared action fails at import

    def dependency(request: Request) -> Viewer:
        viewer = viewer_of(request)
        if viewer.principal is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInFirst(target)
        request.state.principal = viewer.principal   # for the audit rows of this request
        if not viewer.may(resource, action):
            raise PageDenied(viewer)
        return viewer

    dependency.permission = (resource, action)   # found by the route-walk test
    return dependency


def csrf_token(request: Request) -> str:
    """The form token of this session: derived from the session cookie, which another site
    can neither read nor send (SameSite=Strict), so a forged form cannot carry it."""
    token = request.cookies.get(COOKIE, "")
    return hashlib.sha256(b"molar console form\0" + token.encode("utf-8")).hexdigest()[:32]


async def read_form(request: Request) -> dict[str, str]:
    """A posted form's fields (the first value of each)."""
    body = (await request.body())[:65536].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


async def checked_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """A form posted by a console page of this session; anything else is refused (403)."""
    form = await read_form(request)
    if not hmac.compare_digest(form.get("csrf", ""), csrf_token(request)):
        raise PageDenied(viewer)
    return form


def login_url(next_url: str) -> str:
    return f"{PREFIX}/login?next={quote(next_url, safe='')}"
