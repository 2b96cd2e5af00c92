"""The gist operations behind the MCP tools: validation, ownership, shaping.

Everything here is synchronous and transport-free, so it is tested without an
event. The tools layer (``gistgate.mcp.tools``) checks scopes, rate limits
and maps errors; this module decides what a call does.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from gistgate.mcp.credentials import Credential, Credentials
from gistgate.mcp.github import GitHubClient, GitHubError, GitHubNotFound
from gistgate.mcp.ownership import OwnedGist, Owner, Ownership
from gistgate.storage.errors import StorageUnavailable

__all__ = ["Caller", "GistNotFound", "Gists", "InvalidArgument", "NotOwner"]

T = TypeVar("T")

MAX_FILES = 50
MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_BYTES = 4_000_000
MAX_DESCRIPTION = 1_000
_GIST_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_BAD_FILENAME = re.compile(r"[/\\\x00-\x1f\x7f]")


class InvalidArgument(ValueError):
    """An argument the tool cannot accept; the message says which and why."""


class NotOwner(Exception):
    """Service mode: the gist was created by someone else through this server."""


class GistNotFound(Exception):
    """No such gist (or not visible to the credential in use)."""


class Caller(NamedTuple):
    """Who is calling, as the gist operations need it."""

    sub: str
    is_admin: bool = False


def attribution(sub: str) -> str:
    """The suffix service mode appends to descriptions."""
    return f" (created by {sub})"


def check_gist_id(gist_id: str) -> str:
    """A GitHub gist id: letters and digits only (it becomes a URL path segment)."""
    if not isinstance(gist_id, str) or not _GIST_ID.match(gist_id):
        raise InvalidArgument(
            "gist_id must be a GitHub gist id (letters and digits, e.g. 'aa5a315d61ae9438b18d')"
        )
    return gist_id


def _check_filename(name: str) -> None:
    if not name or not name.strip():
        raise InvalidArgument("file names must not be empty")
    if len(name) > 255:
        raise InvalidArgument(f"file name {name[:40]!r}... is longer than 255 characters")
    if _BAD_FILENAME.search(name):
        raise InvalidArgument(
            f"file name {name!r} must not contain '/', '\\\\' or control characters"
        )


def check_files(files: Mapping[str, str | None], *, allow_delete: bool) -> None:
    """Enforce the count and size limits, with a message naming the file at fault."""
    if not isinstance(files, Mapping):
        raise InvalidArgument("files must be an object mapping file names to contents")
    if len(files) > MAX_FILES:
        raise InvalidArgument(f"at most {MAX_FILES} files per call ({len(files)} given)")
    total = 0
    for name, content in files.items():
        _check_filename(name)
        if content is None:
            if not allow_delete:
                raise InvalidArgument(f"file {name!r} has no content")
            continue
        if not isinstance(content, str):
            raise InvalidArgument(f"file {name!r}: content must be a string")
        if not content.strip():
            raise InvalidArgument(f"file {name!r} is empty; GitHub does not accept blank files")
        size = len(content.encode())
        if size > MAX_FILE_BYTES:
            raise InvalidArgument(
                f"file {name!r} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes per file"
            )
        total += size
    if total > MAX_TOTAL_BYTES:
        raise InvalidArgument(
            f"the files add up to {total:,} bytes; the limit is {MAX_TOTAL_BYTES:,} bytes per call"
        )


def parse_since(since: str | None) -> datetime | None:
    """An ISO 8601 timestamp with a time zone (GitHub's ``since``)."""
    if since is None or since == "":
        return None
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            f"since {since!r} is not an ISO 8601 timestamp (e.g. 2026-01-31T00:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidArgument("since needs a time zone (e.g. 2026-01-31T00:00:00Z)")
    return moment


def _epoch(stamp: str | None) -> int:
    if not stamp:
        return int(time.time())
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(gist: Mapping[str, Any]) -> dict[str, Any]:
    """The listing view of a GitHub gist."""
    return {
        "id": gist.get("id"),
        "description": gist.get("description") or "",
        "public": bool(gist.get("public")),
        "html_url": gist.get("html_url"),
        "files": sorted((gist.get("files") or {}).keys()),
        "created_at": gist.get("created_at"),
        "updated_at": gist.get("updated_at"),
    }


def detail(gist: Mapping[str, Any]) -> dict[str, Any]:
    """The full view: contents, with GitHub's truncation flagged."""
    files = {}
    truncated = []
    for name, meta in (gist.get("files") or {}).items():
        entry = {
            "content": meta.get("content"),
            "language": meta.get("language"),
            "size": meta.get("size"),
            "truncated": bool(meta.get("truncated")),
        }
        if entry["truncated"]:
            entry["raw_url"] = meta.get("raw_url")
            truncated.append(name)
        files[name] = entry
    view = summary(gist)
    view["owner"] = (gist.get("owner") or {}).get("login")
    view["files"] = files
    if truncated:
        view["truncated_files"] = truncated
        view["note"] = (
            "GitHub truncated the content of some files (over 1 MB); their raw_url has the rest"
        )
    return view


def _owned_row(gist: Mapping[str, Any]) -> OwnedGist:
    return OwnedGist(
        gist_id=str(gist["id"]),
        description=gist.get("description") or "",
        public=bool(gist.get("public")),
        html_url=str(gist.get("html_url") or ""),
        files=sorted((gist.get("files") or {}).keys()),
        created_at=_epoch(gist.get("created_at")),
        updated_at=_epoch(gist.get("updated_at")),
    )


class Gists:
    """Gist operations for one deployment."""

    def __init__(
        self, github: GitHubClient, credentials: Credentials, ownership: Ownership
    ) -> None:
        self._github = github
        self._credentials = credentials
        self._ownership = ownership

    # -- helpers -------------------------------------------------------------

    def _guard(self, caller: Caller, credential: Credential, gist_id: str) -> Owner | None:
        """Service mode: the caller must own the gist, or hold the admin scope."""
        if credential.kind != "service":
            return None
        owner = self._ownership.owner(gist_id)
        if caller.is_admin:
            return owner
        if owner is None or owner.sub != caller.sub:
            raise NotOwner(
                f"gist {gist_id} was not created by you through this server; "
                "only its creator (or a caller with the admin scope) may read or change it"
            )
        return owner

    def _run(self, caller: Caller, call: Callable[[Credential], T]) -> tuple[T, Credential]:
        try:
            return self._credentials.run(caller.sub, call)
        except GitHubNotFound:
            raise GistNotFound("no such gist, or the GitHub account in use cannot see it") from None

    # -- operations --------------------------------------------------------------

    def create(
        self, caller: Caller, description: str, files: Mapping[str, str], public: bool
    ) -> dict[str, Any]:
        """Create a gist; in service mode attribute it and record the owner."""
        if not files:
            raise InvalidArgument("files must name at least one file")
        check_files(files, allow_delete=False)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"description is longer than {MAX_DESCRIPTION} characters")

        def call(credential: Credential) -> dict[str, Any]:
            text = description
            if credential.kind == "service":
                text = f"{description}{attribution(caller.sub)}"
            body = {
                "description": text,
                "public": public,
                "files": {name: {"content": content} for name, content in files.items()},
            }
            return self._github.create_gist(credential.token, body)

        gist, credential = self._credentials.run(caller.sub, call)
        if credential.kind == "service":
            try:
                self._ownership.record(caller.sub, _owned_row(gist))
            except StorageUnavailable:
                # Without its ownership record nobody could manage the gist: undo it, and
                # report the storage failure even if the undo fails too.
                with contextlib.suppress(GitHubError):
                    self._github.delete_gist(credential.token, str(gist["id"]))
                raise
        return {
            "id": gist.get("id"),
            "html_url": gist.get("html_url"),
            "public": bool(gist.get("public")),
            "description": gist.get("description"),
            "files": sorted((gist.get("files") or {}).keys()),
            "credential": credential.kind,
            "requested_by": caller.sub,
        }

    def list(
        self,
        caller: Caller,
        limit: int,
        since: str | None,
        cursor: str | None,
    ) -> dict[str, Any]:
        """A page of gists and the cursor of the next one."""
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit must be between 1 and 100")
        moment = parse_since(since)
        credential = self._credentials.resolve(caller.sub)
        if credential.kind == "service" and not caller.is_admin:
            rows, next_cursor = self._ownership.list(
                caller.sub,
                limit=limit,
                since=int(moment.timestamp()) if moment else None,
                cursor=cursor,
            )
            gists = [
                {
                    "id": r.gist_id,
                    "description": r.description,
                    "public": r.public,
                    "html_url": r.html_url,
                    "files": r.files,
                    "created_at": _iso(r.created_at),
                    "updated_at": _iso(r.updated_at),
                }
                for r in rows
            ]
            return {
                "gists": gists,
                "next_cursor": next_cursor,
                "credential": "service",
                "scope_of_listing": "gists you created through this server",
            }
        page = 1
        if cursor:
            if not cursor.isdigit() or not 1 <= int(cursor) <= 10_000:
                raise InvalidArgument("cursor is not one this server issued")
            page = int(cursor)
        iso = moment.isoformat().replace("+00:00", "Z") if moment else None
        result, used = self._run(
            caller,
            lambda c: self._github.list_gists(c.token, per_page=limit, page=page, since=iso),
        )
        return {
            "gists": [summary(g) for g in result.items],
            "next_cursor": str(result.next_page) if result.next_page else None,
            "credential": used.kind,
            "scope_of_listing": (
                "all gists of the service account" if used.kind == "service" else "your gists"
            ),
        }

    def get(self, caller: Caller, gist_id: str) -> dict[str, Any]:
        """One gist with its file contents."""
        check_gist_id(gist_id)

        def call(credential: Credential) -> dict[str, Any]:
            self._guard(caller, credential, gist_id)
            return self._github.get_gist(credential.token, gist_id)

        gist, credential = self._run(caller, call)
        view = detail(gist)
        view["credential"] = credential.kind
        return view

    def update(
        self,
        caller: Caller,
        gist_id: str,
        description: str | None,
        files: Mapping[str, str | None] | None,
    ) -> dict[str, Any]:
        """Change the description, add or edit files, delete files (``None`` content)."""
        check_gist_id(gist_id)
        if description is None and not files:
            raise InvalidArgument("nothing to change: give a description, files, or both")
        if files:
            check_files(files, allow_delete=True)
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"description is longer than {MAX_DESCRIPTION} characters")

        def call(credential: Credential) -> tuple[dict[str, Any], Owner | None]:
            owner = self._guard(caller, credential, gist_id)
            body: dict[str, Any] = {}
            if description is not None:
                suffix = attribution(owner.sub) if owner is not None else ""
                body["description"] = f"{description}{suffix}"
            if files:
                body["files"] = {
                    name: (None if content is None else {"content": content})
                    for name, content in files.items()
                }
            return self._github.update_gist(credential.token, gist_id, body), owner

        (gist, owner), credential = self._run(caller, call)
        if owner is not None:
            row = _owned_row(gist)._replace(created_at=owner.created_at)
            self._ownership.refresh(owner.sub, row)
        view = summary(gist)
        view["credential"] = credential.kind
        return view

    def delete(self, caller: Caller, gist_id: str) -> dict[str, Any]:
        """Delete the gist and, in service mode, its ownership record."""
        check_gist_id(gist_id)
        removed: list[Owner | None] = []

        def call(credential: Credential) -> None:
            owner = self._guard(caller, credential, gist_id)
            removed.append(owner)
            try:
                self._github.delete_gist(credential.token, gist_id)
            except GitHubNotFound:
                if owner is None:
                    raise
                # Already gone at GitHub: still drop our record below.

        _, credential = self._run(caller, call)
        owner = removed[-1] if removed else None
        if owner is not None:
            self._ownership.remove(gist_id, owner)
        return {"id": gist_id, "deleted": True, "credential": credential.kind}

    def profile(self, caller: Caller) -> dict[str, Any]:
        """The GitHub profile of the credential in use."""
        user, credential = self._run(caller, lambda c: self._github.user(c.token))
        return {
            "login": user.get("login"),
            "name": user.get("name"),
            "bio": user.get("bio"),
            "public_gists": user.get("public_gists"),
            "followers": user.get("followers"),
            "html_url": user.get("html_url"),
            "credential": credential.kind,
        }
