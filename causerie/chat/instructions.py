"""The system message a turn starts with: the conversation's system prompt and the user's custom
instructions (neither is stored in the conversation's tree)."""

from __future__ import annotations

__all__ = ["system_text"]

INSTRUCTIONS_HEADING = "About the user, and how they want you to answer:"
PROJECT_HEADING = "This chat belongs to a project; its instructions:"


def system_text(
    system_prompt: str, custom_instructions: str, project_instructions: str = ""
) -> str | None:
    """None when there is nothing to say."""
    parts = []
    if system_prompt.strip():
        parts.append(system_prompt.strip())
    if project_instructions.strip():
        parts.append(f"{PROJECT_HEADING}\n{project_instructions.strip()}")
    if custom_instructions.strip():
        parts.append(f"{INSTRUCTIONS_HEADING}\n{custom_instructions.strip()}")
    return "\n\n".join(parts) or None
