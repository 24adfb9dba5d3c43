"""Causerie's own archive read back (``causerie_zip.py`` writes it), checked whole when it is
opened, as the ChatGPT reader reads its JSON through once: the manifest against the shipped
JSON Schema (a bad one refuses the archive with a sentence saying what is wrong), then every
conversation member, one at a time (memory stays flat), read, checked against
``$defs/conversation`` and converted. A member that fails is remembered with its reason and
later yielded as ``Skipped``: it costs only itself. So every refusal happens before the
importer writes anything, the account's preferences and projects included.

Then one conversation member at a time is read again and yielded as the neutral tree every
reader yields, with everything Causerie keeps (ids, feedback, redactions, sources, usage,
settings, shares, where it had been imported from). Ids are the archive's: the import keeps
them when they are free (``storage/imports.py``).

An archive of several accounts (``causerie export --all``) is read one account at a time:
``account`` names it; without it, an archive of one account is read, and one of several is
refused with a sentence that says how to choose.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, cast

from causerie.archive.assemble import assemble
from causerie.archive.causerie_check import ArchiveSchema
from causerie.archive.causerie_zip import FORMAT, VERSION
from causerie.archive.jsoncap import Oversized
from causerie.archive.reader import MALFORMED, Malformed
from causerie.archive.tree import (
    ArchivedAccount,
    ArchivedShare,
    CustomInstructions,
    Feedback,
    HiddenReason,
    ImportedAttachment,
    ImportedConversation,
    ImportedNode,
    Provenance,
    ReadItem,
    Skipped,
    SourceFormat,
    Status,
)
from causerie.archive.values import title_of, utc_from_epoch
from causerie.archive.zipsafe import SafeZip
from causerie.errors import ImportFormatError
from causerie.types import Project, Reasoning, Redactions, Role, Source, ToolCall

__all__ = ["CauserieArchiveReader"]

_MANIFEST_MAX_BYTES = 64 * 1024**2
ROLES = ("system", "user", "assistant", "tool")
HIDDEN = ("system", "user_editable_context", "visually_hidden", "empty", "unknown_role")


class CauserieArchiveReader:
    """An opened Causerie archive: ``account`` its preferences and projects, then its
    conversations. Closing it closes the zip."""

    source: SourceFormat = "causerie"

    def __init__(self, archive: SafeZip, manifest: str, account: str | None = None) -> None:
        self._zip = archive
        self._folder = posixpath.dirname(manifest)
        self._schema = ArchiveSchema()
        found = _manifest(archive, manifest, self._schema)
        chosen = _account(found["accounts"], account)
        try:
            self.account: ArchivedAccount | None = ArchivedAccount(
                chosen["username"],
                dict(chosen["preferences"]),
                tuple(_project(p) for p in chosen["projects"]),
            )
        except MALFORMED as exc:
            raise ImportFormatError(
                f"{manifest} is not a valid Causerie archive manifest: one of its projects is "
                f"malformed ({exc})."
            ) from exc
        self._members = [str(name) for name in chosen["conversations"]]
        self.total = len(self._members)
        self.warnings: tuple[str, ...] = ()
        self._refused = {
            index: refused
            for index, member in enumerate(self._members)
            if (refused := self._check(index, member)) is not None
        }

    def __iter__(self) -> Iterator[ReadItem]:
        for index, member in enumerate(self._members):
            refused = self._refused.get(index)
            yield refused if refused is not None else self._read(index, member)

    def _check(self, index: int, member: str) -> Skipped | None:
        """Why the member cannot be imported (a ``Skipped``), or None when it can."""
        name = self._path(member)
        if name not in self._zip.names:
            return Skipped(index, "the archive lists it but does not hold it", file=member)
        if self._zip.size(name) > (cap := self._zip.limits.max_conversation_bytes):
            return Skipped(index, Oversized(cap).reason, file=member)
        document: Any = None
        try:
            document = json.loads(self._zip.read(name))
            problem = self._schema.conversation_problem(document)
            if problem is not None:
                raise Malformed(f"not a Causerie conversation ({problem})")
            self._conversation(document)
        except MALFORMED as exc:
            return _skipped(index, member, document, exc)
        return None

    def _read(self, index: int, member: str) -> ReadItem:
        document: Any = None
        try:
            document = json.loads(self._zip.read(self._path(member)))
            return self._conversation(document)
        except MALFORMED as exc:  # checked when opened: only a member changed since
            return _skipped(index, member, document, exc)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> CauserieArchiveReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _path(self, member: str) -> str:
        return posixpath.join(self._folder, member) if self._folder else member

    def _conversation(self, doc: Mapping[str, Any]) -> ImportedConversation:
        origin = doc.get("imported_from")
        provenance = None if origin is None else _provenance(origin)
        instructions = provenance.custom_instructions if provenance else None
        nodes, leaf = _tree(
            tuple(self._node(m) for m in doc["messages"]), doc.get("current_leaf_id")
        )
        return ImportedConversation(
            source="causerie",
            external_id=str(doc["id"]),
            title=doc["title"],
            created_at=_time(doc["created_at"]),
            updated_at=_time(doc["updated_at"]),
            nodes=nodes,
            current_leaf_id=leaf,
            model=doc.get("model") or None,
            archived=bool(doc.get("archived")),
            pinned=bool(doc.get("pinned")),
            custom_instructions=CustomInstructions(**instructions) if instructions else None,
            via=str(doc.get("source") or "import"),
            settings=doc.get("settings"),
            project_id=doc.get("project_id"),
            shares=tuple(_share(s) for s in doc.get("shares") or ()),
            provenance=provenance,
        )

    def _node(self, m: Mapping[str, Any]) -> ImportedNode:
        if m["role"] not in ROLES:
            raise Malformed(f"message {m['id']} has the role {m['role']!r}")
        hidden = m.get("hidden")
        if hidden is not None and hidden not in HIDDEN:
            raise Malformed(f"message {m['id']} is hidden for an unknown reason {hidden!r}")
        feedback = m.get("feedback")
        redactions = m.get("redactions")
        reasoning = m.get("reasoning")
        return ImportedNode(
            id=str(m["id"]),
            parent_id=m.get("parent_id"),
            role=cast(Role, m["role"]),
            text=str(m["content"]),
            created_at=_time(m["created_at"]),
            model=m.get("model"),
            status=cast(Status, m.get("status") or "complete"),
            hidden=cast(HiddenReason | None, hidden),
            tool_calls=tuple(
                ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                for c in m.get("tool_calls") or ()
            ),
            tool_call_id=m.get("tool_call_id"),
            reasoning=Reasoning(reasoning["text"], reasoning.get("summary")) if reasoning else None,
            attachments=tuple(self._attachment(a) for a in m.get("attachments") or ()),
            origin_id=m.get("external_id"),
            finish_reason=m.get("finish_reason"),
            prompt_tokens=int(m.get("prompt_tokens") or 0),
            completion_tokens=int(m.get("completion_tokens") or 0),
            feedback=Feedback(feedback.get("rating"), feedback.get("comment"))
            if feedback
            else None,
            redactions=Redactions(redactions["provider"], dict(redactions["counts"]))
            if redactions
            else None,
            sources=tuple(
                Source(s["number"], s["file_id"], s["file_name"], s.get("page"), s["position"])
                for s in m.get("sources") or ()
            ),
        )

    def _attachment(self, a: Mapping[str, Any]) -> ImportedAttachment:
        member = a.get("member")
        name = self._path(member) if isinstance(member, str) else None
        present = name is not None and name in self._zip.names
        return ImportedAttachment(
            asset_id=str(a["id"]),
            name=str(a["name"]),
            mime_type=a.get("mime_type"),
            size=a.get("size"),
            width=a.get("width"),
            height=a.get("height"),
            location=name if present else None,
            opener=self._zip.opener(name) if present and name is not None else None,
            missing=a.get("missing") if not present else None,
        )


def _skipped(index: int, member: str, document: Any, exc: Exception) -> Skipped:
    if isinstance(exc, Malformed):
        reason = str(exc)
    elif isinstance(exc, UnicodeDecodeError | json.JSONDecodeError):
        reason = f"not valid JSON ({exc})"
    else:
        reason = f"malformed ({type(exc).__name__}: {exc})"
    if not isinstance(document, Mapping):
        return Skipped(index, reason, file=member)
    ident = document.get("id")
    title = title_of(document.get("title"))
    return Skipped(index, reason, ident if isinstance(ident, str) else None, title, member)


def _manifest(archive: SafeZip, name: str, checks: ArchiveSchema) -> dict[str, Any]:
    if archive.size(name) > _MANIFEST_MAX_BYTES:
        raise ImportFormatError(f"{name} is too large for a Causerie archive's manifest.")
    try:
        found = json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"{name} is not valid JSON: the archive is damaged.") from exc
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise ImportFormatError(f"{name} is not a Causerie archive's manifest.")
    version = found.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ImportFormatError(
            f"This archive is in version {version} of Causerie's format, newer than this "
            f"Causerie reads ({VERSION}): update Causerie to import it."
        )
    if not isinstance(found.get("accounts"), list) or not found["accounts"]:
        raise ImportFormatError("This Causerie archive holds no account: nothing to import.")
    problem = checks.manifest_problem(found)
    if problem is not None:
        raise ImportFormatError(f"{name} is not a valid Causerie archive manifest: {problem}.")
    return found


def _account(accounts: list[Any], username: str | None) -> Mapping[str, Any]:
    names = [a.get("username") if isinstance(a, Mapping) else None for a in accounts]
    if username is not None:
        if username not in names:
            raise ImportFormatError(f"This archive holds no account named {username!r}.")
        return cast(Mapping[str, Any], accounts[names.index(username)])
    if len(accounts) > 1:
        listed = ", ".join(str(name) for name in names[:10])
        raise ImportFormatError(
            f"This archive holds {len(accounts)} accounts ({listed}); say which one to import "
            "(causerie import FILE --user NAME --from-account NAME).",
        )
    if not isinstance(accounts[0], Mapping):
        raise ImportFormatError("This Causerie archive's account is not an object.")
    return cast(Mapping[str, Any], accounts[0])


def _tree(
    drafts: tuple[ImportedNode, ...], current: str | None
) -> tuple[tuple[ImportedNode, ...], str | None]:
    """The tree rebuilt from the parent links by the rule every format shares (``assemble``:
    a missing parent makes a root, a cycle is cut, parents come first). The selected leaf is
    the archive's when it is a node, exactly (Causerie may select an inner one); else the
    newest leaf."""
    nodes, leaf = assemble(drafts, (), current)
    return nodes, current if any(node.id == current for node in nodes) else leaf


def _time(value: Any) -> datetime:
    found = utc_from_epoch(value) if isinstance(value, str) else None
    if found is None:
        raise Malformed(f"not a time: {value!r}")
    return found


def _project(p: Mapping[str, Any]) -> Project:
    return Project(
        id=str(p["id"]),
        name=str(p["name"]),
        instructions=str(p.get("instructions") or ""),
        archived=bool(p.get("archived")),
        local_only=bool(p.get("local_only")),
        created_at=_time(p["created_at"]),
        updated_at=_time(p["updated_at"]),
    )


def _share(s: Mapping[str, Any]) -> ArchivedShare:
    revoked = s.get("revoked_at")
    return ArchivedShare(
        str(s["token"]),
        str(s["title"]),
        tuple(dict(m) for m in s["messages"]),
        _time(s["created_at"]),
        _time(revoked) if revoked is not None else None,
    )


def _provenance(p: Mapping[str, Any]) -> Provenance:
    instructions = p.get("custom_instructions")
    return Provenance(
        str(p["source"]),
        str(p["external_id"]),
        dict(p["seen"]),
        _time(p["imported_at"]),
        dict(instructions) if instructions else None,
    )
