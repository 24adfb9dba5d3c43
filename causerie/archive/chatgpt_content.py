"""What one ChatGPT message holds, read from its ``content`` and ``metadata``: the text to
show, the arguments if it is a tool call, reasoning, file pointers, custom instructions.

Text parts are all kept (joined by blank lines), never only the first; an image part becomes a
file pointer, never text. Citation markers (private-use characters around ``cite…``) are
replaced by the reference's own text when the message has one, else removed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from causerie.archive.chatgpt_assets import AssetRef, pointer_id
from causerie.archive.tree import CustomInstructions, Reasoning
from causerie.archive.values import number_of, text_of

REASONING_TYPES = frozenset({"thoughts", "reasoning_recap"})
_MARKER = re.compile("\ue200[^\ue201]*\ue201")
_PRIVATE = re.compile("[\ue200-\ue2ff]")
_POINTERS = {
    "image_asset_pointer": "image",
    "audio_asset_pointer": "audio",
    "video_container_asset_pointer": "file",
}


@dataclass(slots=True)
class Content:
    """One message's content, read. ``arguments``: for code, the JSON arguments of the call
    it makes when it is sent to a tool (``{"code", "language"}``; see ``call_arguments``)."""

    kind: str
    text: str = ""
    arguments: str = ""
    reasoning: Reasoning | None = None
    files: list[AssetRef] = field(default_factory=list)
    instructions: CustomInstructions | None = None


def read_content(content: Any, metadata: Mapping[str, Any]) -> Content:
    """Read ``content`` whatever its ``content_type``; an unknown type keeps any text it has."""
    if not isinstance(content, Mapping):
        return Content(kind="empty")
    kind = text_of(content.get("content_type")) or "unknown"
    if kind in ("text", "multimodal_text"):
        read = _parts(kind, content.get("parts"))
        read.text = clean_citations(read.text, metadata)
        return read
    if kind == "code":
        code = text_of(content.get("text"))
        language = text_of(content.get("language"))
        fence = "" if language in ("", "unknown") else language
        arguments = {"code": code} | ({"language": fence} if fence else {})
        return Content(kind, f"```{fence}\n{code}\n```", json.dumps(arguments))
    if kind == "execution_output":
        return Content(kind, text_of(content.get("text")), files=_output_images(metadata))
    if kind in REASONING_TYPES:
        return Content(kind, reasoning=_reasoning(kind, content))
    if kind == "user_editable_context":
        instructions = CustomInstructions(
            text_of(content.get("user_profile")).strip(),
            text_of(content.get("user_instructions")).strip(),
        )
        return Content(kind, instructions=instructions)
    return Content(kind, _other_text(kind, content))


def _parts(kind: str, parts: Any) -> Content:
    read = Content(kind)
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping):
            part_kind = text_of(part.get("content_type"))
            if part_kind in _POINTERS and (asset_id := pointer_id(part.get("asset_pointer"))):
                read.files.append(_ref(asset_id, _POINTERS[part_kind], part))
            elif isinstance(nested := part.get("audio_asset_pointer"), Mapping):
                if asset_id := pointer_id(nested.get("asset_pointer")):
                    read.files.append(_ref(asset_id, "audio", nested))
            elif isinstance(part.get("text"), str):  # audio_transcription and the like
                texts.append(part["text"])
    read.text = "\n\n".join(text for text in texts if text.strip())
    return read


def _ref(asset_id: str, kind: str, part: Mapping[str, Any]) -> AssetRef:
    return AssetRef(
        asset_id,
        kind,
        number_of(part.get("size_bytes")),
        number_of(part.get("width")),
        number_of(part.get("height")),
    )


def call_arguments(content: Content) -> str:
    """The arguments of a tool call made by ``content``: code as read, text that is a JSON
    object as it is, other text wrapped as ``{"input": text}``."""
    if content.arguments:
        return content.arguments
    if content.text.lstrip().startswith("{"):
        try:
            if isinstance(json.loads(content.text), dict):
                return content.text
        except ValueError:
            pass
    return json.dumps({"input": content.text})


def _reasoning(kind: str, content: Mapping[str, Any]) -> Reasoning:
    if kind == "reasoning_recap":
        return Reasoning("", text_of(content.get("content")).strip() or None)
    steps: list[str] = []
    thoughts = content.get("thoughts")
    for thought in thoughts if isinstance(thoughts, list) else []:
        if not isinstance(thought, Mapping):
            continue
        summary = text_of(thought.get("summary")).strip()
        body = text_of(thought.get("content")).strip()
        steps.append(
            "\n\n".join(piece for piece in (f"**{summary}**" * bool(summary), body) if piece)
        )
    return Reasoning("\n\n".join(step for step in steps if step))


def _output_images(metadata: Mapping[str, Any]) -> list[AssetRef]:
    """Images a code run drew (``aggregate_result.messages`` of type ``image``)."""
    result = metadata.get("aggregate_result")
    messages = result.get("messages") if isinstance(result, Mapping) else None
    refs: list[AssetRef] = []
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, Mapping) and message.get("message_type") == "image":
            if asset_id := pointer_id(message.get("image_url")):
                refs.append(AssetRef(asset_id, "image", None, number_of(message.get("width"))))
    return refs


def _other_text(kind: str, content: Mapping[str, Any]) -> str:
    """Text of the other types: quotes and web pages as a quote with its source, errors as
    ``name: text``, browsing results, memory context; else whatever text or parts it has."""
    if kind in ("tether_quote", "sonic_webpage"):
        body = text_of(content.get("text")).strip()
        quoted = "\n".join(f"> {line}" for line in body.splitlines())
        title = text_of(content.get("title")).strip() or text_of(content.get("domain"))
        url = text_of(content.get("url"))
        source = f"[{title or url}]({url})" if url else title
        return "\n\n".join(piece for piece in (quoted, f"— {source}" * bool(source)) if piece)
    if kind == "system_error":
        name = text_of(content.get("name"))
        return f"{name}: {text_of(content.get('text'))}" if name else text_of(content.get("text"))
    for key in ("result", "text", "summary", "model_set_context"):
        if text := text_of(content.get(key)):
            return text
    return _parts(kind, content.get("parts")).text


def clean_citations(text: str, metadata: Mapping[str, Any]) -> str:
    """Citation markers replaced by their references' ``alt`` text (a markdown link, usually)
    when the message lists them in ``content_references``; markers left over removed."""
    if "\ue200" not in text and not _PRIVATE.search(text):
        return text
    references = metadata.get("content_references")
    for reference in references if isinstance(references, list) else []:
        if not isinstance(reference, Mapping):
            continue
        matched = text_of(reference.get("matched_text"))
        if matched:
            text = text.replace(matched, text_of(reference.get("alt")))
    return _PRIVATE.sub("", _MARKER.sub("", text))
