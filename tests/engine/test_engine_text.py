"""Stop strings, chat templates and prompt fitting (pure text: no model needed)."""

from __future__ import annotations

import pytest

from causerie.chat.prompt import fit_messages
from causerie.engine.stops import StopMatcher
from causerie.engine.templates import (
    DIALOGUE,
    is_instruction_tuned,
    jinja_template,
    resolve_template,
)
from causerie.engine.text import ReplyText
from causerie.errors import ContextLengthExceededError, InvalidRequestError
from causerie.types import Message


def feed_all(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Paris.", "\n", "User", ":", " next"], ("Paris.", True)),
        (["Par", "is.\nUs", "er: x"], ("Paris.", True)),
        (["a\nUse", "ful"], ("a\nUseful", False)),  # a held prefix is released when it diverges
        (["no stop here"], ("no stop here", False)),
    ],
)
def test_stop_matcher_split_across_pieces(pieces: list[str], expected: tuple[str, bool]) -> None:
    assert feed_all(["\nUser:"], pieces) == expected


def test_stop_matcher_emits_early_and_picks_the_first_stop() -> None:
    matcher = StopMatcher(["END", "STOP"])
    assert matcher.feed("hello E") == ("hello ", False)  # only the possible prefix is held
    assert matcher.feed("x STOP and END") == ("Ex ", True)


def reply_text(pieces: list[str], *, trim: bool) -> str:
    text = ReplyText(("STOP",), trim=trim)
    out = [text.feed(piece.encode()) for piece in pieces]
    return "".join(out) + text.finish()


def test_a_chat_reply_is_trimmed_and_a_text_completion_keeps_its_blanks() -> None:
    pieces = [" Paris", " is", " nice", ".\n", " "]
    assert reply_text(pieces, trim=True) == "Paris is nice."
    assert reply_text(pieces, trim=False) == " Paris is nice.\n "
    assert reply_text([" a ", "STO", "P b"], trim=False) == " a "  # up to the stop, blanks too


def test_dialogue_framing_for_base_models() -> None:
    metadata = {"general.architecture": "gemma3", "general.name": "Gemma 3 270m"}
    template = resolve_template(metadata, bos="<bos>", eos="<eos>")
    assert template is DIALOGUE
    prompt = template.render(
        [
            Message("system", "Be kind."),
            Message("user", "Hi"),
            Message("assistant", "Hello!"),
            Message("user", "Capital of France?"),
        ]
    )
    assert prompt.endswith(
        "Be kind.\n\nUser: Hi\nAssistant: Hello!\n\nUser: Capital of France?\nAssistant:"
    )
    assert "User: What is the capital of Italy?" in prompt  # the few-shot preamble
    assert "\nUser:" in template.stop


def test_instruction_tuned_models_get_their_family_template() -> None:
    metadata = {"general.architecture": "gemma3", "general.finetune": "it"}
    template = resolve_template(metadata, bos="<bos>", eos="<eos>")
    assert template.name == "gemma"
    text = template.render([Message("system", "S"), Message("user", "Q")])
    assert text == "<start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\n"
    qwen = resolve_template(
        {"general.architecture": "qwen2", "general.name": "Qwen2.5 0.5B Instruct"}, bos="", eos=""
    )
    assert qwen.name == "chatml" and "<|im_end|>" in qwen.stop
    assert is_instruction_tuned({"general.name": "Llama-3.2-1B-Instruct"})
    assert not is_instruction_tuned({"general.name": "Gemma 3 270m", "general.basename": "gemma-3"})


def test_gguf_template_wins_and_renders() -> None:
    source = (
        "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}"
        "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    template = resolve_template(
        {"tokenizer.chat_template": source, "general.architecture": "gemma3"}, bos="<s>", eos="</s>"
    )
    assert template.name == "gguf" and template.stop == ("</s>",)
    assert template.render([Message("user", "Hi")]) == "<s><|user|>Hi</s><|assistant|>"


@pytest.mark.parametrize(
    "hostile",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{% set x = messages.append(1) %}{{ x }}",  # immutable sandbox: no mutation
    ],
)
def test_gguf_templates_run_in_a_sandbox(hostile: str) -> None:
    template = jinja_template(hostile, bos="", eos="")
    with pytest.raises(InvalidRequestError):
        template.render([Message("user", "Hi")])


def test_template_raise_exception_is_a_clear_error() -> None:
    template = jinja_template("{{ raise_exception('roles must alternate') }}", bos="", eos="")
    with pytest.raises(InvalidRequestError, match="roles must alternate"):
        template.render([Message("user", "Hi")])


def count_words(messages: object) -> int:
    return sum(len(m.content.split()) for m in messages)  # type: ignore[attr-defined]


def test_fit_messages_drops_oldest_turns_but_keeps_system() -> None:
    messages = [
        Message("system", "sys"),
        Message("user", "one two three"),
        Message("assistant", "four five six"),
        Message("user", "seven"),
    ]
    assert fit_messages(messages, count_words, window=100, reserve=10) == messages
    fitted = fit_messages(messages, count_words, window=5, reserve=2)
    assert fitted == [Message("system", "sys"), Message("user", "seven")]
    with pytest.raises(ContextLengthExceededError):
        fit_messages(messages, count_words, window=2, reserve=1)


def test_fitting_a_long_history_takes_a_handful_of_counts() -> None:
    turns = [Message("user" if i % 2 == 0 else "assistant", f"w{i}") for i in range(30001)]
    counts: list[int] = []

    def counting(ms: object) -> int:
        counts.append(1)
        return count_words(ms)

    fitted = fit_messages([Message("system", "sys"), *turns], counting, window=101, reserve=10)
    # the newest turns that fit (90 words after the system message), starting with a user turn
    assert fitted[0] == Message("system", "sys") and len(fitted) == 90
    assert fitted[1].role == "user" and fitted[-1] == turns[-1]
    assert len(counts) <= 20  # bisection: the old loop counted once per dropped pair (15,000)


def test_too_many_messages_or_characters_are_refused_before_tokenizing() -> None:
    from causerie.chat.prompt import check_input_bounds
    from causerie.errors import InvalidRequestError

    many = [Message("user", "x")] * 11
    with pytest.raises(InvalidRequestError, match="Too many messages: 11"):
        check_input_bounds(many, max_messages=10, max_chars=100)
    with pytest.raises(InvalidRequestError, match="hold 11 characters"):
        check_input_bounds(many, max_messages=100, max_chars=10)
    check_input_bounds(many, max_messages=11, max_chars=11)
