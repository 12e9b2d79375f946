"""Document operations as data: what each ``doc/<op>`` accepts, the prompt it sends, how its output
is cleaned. ``operations.py`` declares the six entries; adding an operation is adding an entry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ossdoc import errors
from ossdoc.backends.llm.base import Message, Sampling
from ossdoc.services.docs import language as lang
from ossdoc.services.docs import params

Value = str | tuple[str, ...]
Kind = Literal["choice", "text", "history"]


@dataclass(frozen=True)
class Limits:
    content_bytes: int = 19_500
    history_bytes: int = 4 * 19_500


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: Kind = "choice"
    required: bool = False
    choices: tuple[str, ...] = ()  # matched case-insensitively, returned as spelled here

    def parse(self, raw: str, limits: Limits) -> Value:
        if self.kind == "text":
            return params.base64_text(self.name, raw, limits.content_bytes)
        if self.kind == "history":
            return params.base64_history(self.name, raw, limits.history_bytes)
        for choice in self.choices:
            if raw.lower() == choice.lower():
                return choice
        raise errors.InvalidArgument(
            f"{self.name} must be one of {', '.join(self.choices)}.",
            ArgumentName=self.name,
            ArgumentValue=raw,
        )


@dataclass(frozen=True)
class Args:
    """An operation's own parameters, validated."""

    values: Mapping[str, Value] = field(default_factory=dict)
    # Set by the service for a text that is part of a long document (or stands for it): the
    # document's length in characters, and the share of the whole's result this text's should be.
    whole: int = 0
    share: float = 1.0

    def text(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str)
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.values.get(name, ())
        assert isinstance(value, tuple)
        return value


PromptBuilder = Callable[[str, Args], list[Message]]


def same_language(content: str, args: Args) -> str:
    return lang.detect(content)


@dataclass(frozen=True)
class Operation:
    name: str  # "doc/translate"
    prompt: PromptBuilder  # (content, args) → chat messages
    parameters: tuple[Parameter, ...] = ()
    # max_tokens is set per request from the context budget.
    sampling: Sampling = field(default_factory=Sampling)
    # Words a model may open its reply with before the result ("Translation:", "译文：");
    # the cleaner drops such a label (see cleaning.py).
    labels: tuple[str, ...] = ()
    # Cap on output tokens relative to the content's tokens (a summary must be shorter).
    output_ratio: float | None = None
    # The reply's length as the prompt asks it, a share of the text's: the budget of a long
    # document's parts (pieces, summaries to reduce), whose asked length is not the text's.
    asked_share: Callable[[str, Args], float] | None = None
    # A document too long for one prompt: "pieces" (each processed in turn, outputs joined),
    # "map-reduce" (summaries of pieces, then one of them) or "tail" (only its end is used).
    long: str = "pieces"
    # The language the result is written in (a name from language.py): the text's own unless the
    # operation says otherwise. The language guard checks the first words of every generation
    # against it and restarts a wrong start once with ``insist`` (the prompt insisting on it).
    language: Callable[[str, Args], str] = same_language
    insist: Callable[[list[Message], str], list[Message]] = lang.insist
    # Sampling.latin_penalty by the language of the result (translate into Japanese: small models
    # leave English words in their translations).
    latin_penalty: Mapping[str, float] = field(default_factory=dict)
    # Sampling.cjk_penalty by the language of the result (translate into English or French: small
    # models leave Chinese words of the source untranslated).
    cjk_penalty: Mapping[str, float] = field(default_factory=dict)


# Parameters every operation takes. ``content`` is optional here: without it a later version
# processes the stored object.
CONTENT = Parameter("content", kind="text")
FORMAT = Parameter("format", choices=("json", "event-stream"))


@dataclass(frozen=True)
class DocRequest:
    operation: Operation
    content: str | None
    stream: bool
    args: Args
    save_as: params.SaveAs | None = None


class Registry:
    def __init__(self, operations: Iterable[Operation]) -> None:
        self.operations: dict[str, Operation] = {}
        for op in operations:
            assert op.name not in self.operations, op.name
            self.operations[op.name] = op

    def __getitem__(self, name: str) -> Operation:
        return self.operations[name]

    def names(self) -> list[str]:
        return list(self.operations)

    def resolve(self, process: params.ProcessString, limits: Limits) -> DocRequest:
        op = self.operations.get(process.action)
        if op is None:
            raise errors.InvalidArgument(
                f"Unknown action {process.action}; ossdoc supports {', '.join(self.operations)}.",
                ArgumentName=params.FIELD,
                ArgumentValue=process.action,
            )
        declared = {p.name: p for p in (CONTENT, FORMAT, *op.parameters)}
        values: dict[str, Value] = {}
        for name, raw in process.params.items():
            parameter = declared.get(name)
            if parameter is None:
                raise errors.InvalidArgument(
                    f"{op.name} has no parameter {name}.", ArgumentName=name, ArgumentValue=raw[:64]
                )
            values[name] = parameter.parse(raw, limits)
        for parameter in op.parameters:
            if parameter.required and parameter.name not in values:
                raise errors.InvalidArgument(
                    f"{op.name} requires the parameter {parameter.name}.", ArgumentName=parameter.name
                )
        content = values.pop("content", None)
        stream = values.pop("format", "json") == "event-stream"
        assert content is None or isinstance(content, str)
        if stream and process.save_as is not None:
            raise errors.InvalidArgument(
                "sys/saveas answers once the result is stored: use it without format_event-stream.",
                ArgumentName="format",
            )
        return DocRequest(op, content, stream, Args(values), process.save_as)
