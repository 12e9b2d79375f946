"""The six document operations of OSS intelligent document processing.

Prompts are written for small instruction models (Qwen2.5 0.5B is the default): a short system
prompt saying what to do and that only the result is wanted, the text between ``<text>`` tags, and
the instruction repeated AFTER the text, where a small model still attends to it (translate
measured better with a one-line request before the text: see TRANSLATE). ``</text>`` is a
stop string, and the cleaner removes the tags if a model echoes them. Tune a prompt by editing its
template here; ``benchmarks/`` measures the effect."""

from __future__ import annotations

from dataclasses import dataclass

from ossdoc.backends.llm.base import Message, Sampling
from ossdoc.services.docs.language import (
    TARGET_LANGUAGE,
    TARGETS,
    detect,
    length_hint,
    length_target,
)
from ossdoc.services.docs.registry import Args, Operation, Parameter, Registry

ONLY = "Output only the {result}, with no introduction, notes or explanations."
STOP = ("</text>",)


@dataclass(frozen=True)
class Prompt:
    """A system prompt and a user message; ``{text}`` is the document, other fields are named by
    the operation (``{language}``, ``{tone}``, ``{length}``...)."""

    system: str
    user: str

    def messages(self, text: str, **fields: str) -> list[Message]:
        user = Message("user", self.user.format(text=text, **fields))
        if not self.system:  # the chat template's own default (Qwen: "You are Qwen, ...")
            return [user]
        return [Message("system", self.system.format(**fields)), user]


def _text_then(instruction: str) -> str:
    return "<text>\n{text}\n</text>\n\n" + instruction


# doc/translate --------------------------------------------------------------------------------
# Unlike the other operations, a plain one-line request before the text, no tags, nothing after
# it: a translator persona asked to keep "meaning, tone and layout", the text in tags and the
# instruction after it made qwen2.5-coder-0.5b drop clauses and summarize, and lost to this request
# on zh→en, en→zh and en→ja of the public set (benchmarks/quality.py, README). Into French, both let
# a reply open in French and copy the English on (1-2 of 40); the language guard restarts such a
# JSON reply (StartCheck.whole), and this request then scored 41.1 chrF (mean of 3 runs) against
# 40.3 for the tagged one.
TRANSLATE = Prompt(
    system="You are a translator. Output only the translation.",
    user="Translate the following text into {language}:\n\n{text}",
)
# Into English and into Chinese, the request alone, under the chat template's own system prompt.
# Told it was a translator who outputs "only the translation", qwen2.5-coder-1.5b translated more
# freely and left words out ("the Welsh letter w sounds like the English letter u from Yorkshire"
# for "…的发音类似于约克郡字母 u 的英文发音"): greedy, on the first 17 zh→en and 16 en→zh cases of
# the public set, it trailed the same model's plain request by 2.4 and 2.1 chrF; without the
# persona, zh→en on the first 7 went from 52.7 to 55.7 (replies 1.00 → 1.04 of the references'
# length). Into Chinese the request is English too, the language named in both ("Chinese (中文)"):
# asked in Chinese ("把下面的文本翻译成简体中文："), the 1.5B left clauses out ("…, Pelosi said about
# her reaction to Kavanaugh's testimony before the Senate Judiciary Committee" came out as
# "Pelosi说，…") and scored 20.8 chrF on the 40 public en→zh cases in two runs (replies 1,533 and
# 1,625 characters in all) against 23.1 and 22.9 (1,777, 1,790) for this request. The English name
# alone ("into Chinese:", the naive baseline's) or "Simplified Chinese (简体中文)" made the 0.5B open
# 5 of the 40 in English (copying the source, greedy), this request 3 and the Chinese one 2; through
# ossdoc the 0.5B restarted 2 in 40 under both, at 16.2 / 16.4 chrF against 16.2 / 16.1 (README,
# "en→zh"). Into Japanese, instructions in Japanese did worse (12/40 wrong script against 2/40).
# Into Japanese and French ossdoc already beat the plain request, and they keep the persona (not
# measured without it).
PLAIN = Prompt(system="", user=TRANSLATE.user)
TRANSLATE_BY_LANGUAGE: dict[str, Prompt] = {
    "en_US": PLAIN,
    "zh_CN": Prompt(system="", user="Translate the following text into Chinese (中文):\n\n{text}"),
}


def translate(text: str, args: Args) -> list[Message]:
    code = args.text("language")
    return TRANSLATE_BY_LANGUAGE.get(code, TRANSLATE).messages(text, language=TARGETS[code])


def translation_language(text: str, args: Args) -> str:
    return TARGET_LANGUAGE[args.text("language")]


# doc/polish -----------------------------------------------------------------------------------
POLISH = Prompt(
    system="You are an expert editor. Polish the user's text: correct mistakes and make it clearer, more "
    "elegant and easier to read, keeping its meaning and layout. Write in {language}. "
    + ONLY.format(result="polished text"),
    user=_text_then("Polish the text above. Write in {language}. " + ONLY.format(result="polished text")),
)


def polish(text: str, args: Args) -> list[Message]:
    return POLISH.messages(text, language=detect(text))


# doc/summarize --------------------------------------------------------------------------------
# Small models asked to "summarize" tend to copy the text back; a TL;DR cue with a word budget
# makes them condense it (measured with benchmarks/quality.py on qwen2.5-coder-0.5b).
SUMMARIZE = Prompt(
    system="You summarize texts. Reply with a summary of {length}, in {language}, in your own words. "
    + ONLY.format(result="summary"),
    user=_text_then("TL;DR ({length}, in {language}):"),
)


SUMMARY_LENGTH = (0.15, 20, 300)  # of the text's words (CJK: characters), at least, at most
# A long document's summary is the summaries of its pieces (or of its pieces' summaries), in order,
# together asked for this share of what one summary of the whole would be asked for: qwen2.5-coder-0.5b
# writes about half of a 300-word ask in one prompt, and more than a 75-word ask in each of four
# pieces, so at 1 the pieces wrote 2.7 times the one-shot summary's tokens, and at 0.66 of its speed
# (benchmarks/documents.py --only summaries measures length, ROUGE-L and speed against one-shot).
SECTIONS_SHARE = 0.5


def summarize(text: str, args: Args) -> list[Message]:
    length = length_hint(text, *SUMMARY_LENGTH, args.whole, _share(args))
    return SUMMARIZE.messages(text, language=detect(text), length=length)


def summary_share(text: str, args: Args) -> float:
    """The length a summary of ``text`` is asked for, as a share of the text's own."""
    target, size, _ = length_target(text, *SUMMARY_LENGTH, args.whole, _share(args))
    return target / max(1, size)


def _share(args: Args) -> float:
    """A text's share of the whole's summary length: a part of a long document's is SECTIONS_SHARE of it."""
    return args.share * SECTIONS_SHARE if args.whole else args.share


# doc/continue ---------------------------------------------------------------------------------
CONTINUE = Prompt(
    system="You are a writing assistant. Continue the user's text: write what comes next, coherent with "
    "it and in the same style. Do not repeat the text. Write in {language}. "
    + ONLY.format(result="continuation"),
    user=_text_then("Continue the text above. Write in {language}. " + ONLY.format(result="continuation")),
)
CONTINUE_AGAIN = "Continue from where you stopped. Do not repeat anything. Write in {language}."


def continue_(text: str, args: Args) -> list[Message]:
    language = detect(text)
    messages = CONTINUE.messages(text, language=language)
    # Earlier generations are the model's own previous turns, each followed by a request for more.
    for earlier in args.texts("history"):
        messages.append(Message("assistant", earlier))
        messages.append(Message("user", CONTINUE_AGAIN.format(language=language)))
    return messages


# doc/enrich -----------------------------------------------------------------------------------
ENRICH = Prompt(
    system="You are a writing assistant. Expand and enrich the user's text with relevant details, "
    "examples and explanations so that it reads fuller, fluent and complete, keeping its meaning and "
    "style. Write in {language}. " + ONLY.format(result="enriched text"),
    user=_text_then(
        "Expand and enrich the text above. Write in {language}. " + ONLY.format(result="enriched text")
    ),
)


def enrich(text: str, args: Args) -> list[Message]:
    return ENRICH.messages(text, language=detect(text))


# doc/rephrase ---------------------------------------------------------------------------------
TONES = {
    "professional": "more professional: formal, precise and polished",
    "relaxed": "more relaxed: casual, light and easygoing",
    "straightforward": "more straightforward: plain, simple and direct",
    "confident": "more confident: assertive and sure, without hedging",
    "friendly": "friendlier: warm, kind and approachable",
}
REPHRASE = Prompt(
    system="You are a writing assistant. Rewrite the user's text so that its tone is {tone}. Keep its "
    "meaning. Write in {language}. " + ONLY.format(result="rewritten text"),
    user=_text_then(
        "Rewrite the text above so that its tone is {tone}. Write in {language}. "
        + ONLY.format(result="rewritten text")
    ),
)


def rephrase(text: str, args: Args) -> list[Message]:
    return REPHRASE.messages(text, language=detect(text), tone=TONES[args.text("tone")])


# A translation into Japanese weighs words in Latin letters down by this much (a logit: e^4, a 55th
# of their probability): qwen2.5-coder-0.5b leaves English words in one Japanese sentence in two, and
# answers one in ten in English, where Japanese translations write names in katakana. Not into
# Chinese, whose translations keep many names in Latin letters (benchmarks/quality.py, README).
LATIN_PENALTY = {"Japanese": 4.0}
# And a translation into English or French weighs down the tokens holding Chinese or Japanese
# characters: the 0.5B left a word of its Chinese source untranslated in one zh→en case in twenty
# ("Wolven criticizes Trump and his nominee, 布雷特·卡瓦诺"), never right in English.
CJK_PENALTY = {"English": 6.0, "French": 6.0}

TRANSLATE_TEMPERATURE = 0.01

OPERATIONS = Registry(
    [
        Operation(
            "doc/translate",
            translate,
            (Parameter("language", required=True, choices=tuple(TARGETS)),),
            # Greedy in effect (the most likely token among those top-p and min-p keep), on the
            # sampled path: exact greedy decoding pays for padded batches (README, speculative
            # decoding). At 0.1 a token whose logit is 0.2 below the best still came out one time
            # in eight, and the 1.5B translated worse than greedy (zh→en 50.2 against 51.8 chrF on
            # the same 17 cases); a translation wants the likeliest wording, not a varied one.
            # No repeat penalty: a translation repeats what its source repeats (names, numbers, 的);
            # the penalty, on every token already written but never on the end of text, made replies
            # shorter. Loops are stopped by the loop stop (repetition.py) and output_ratio.
            Sampling(temperature=TRANSLATE_TEMPERATURE, repeat_penalty=1.0, stop=STOP),
            # A translation is about as long as its source; a reply 4 times as long is a loop (greedy
            # decoding of the 0.5B looped on 2 of 27 en→ja cases, to 1,700 and 2,600 characters).
            output_ratio=4.0,
            labels=("translation", "translated text", "译文", "翻译", "traduction", "翻訳", "訳文"),
            language=translation_language,
            latin_penalty=LATIN_PENALTY,
            cjk_penalty=CJK_PENALTY,
        ),
        Operation(
            "doc/polish",
            polish,
            sampling=Sampling(temperature=0.3, stop=STOP),
            labels=("polished text", "polished version", "revised text", "润色后", "润色"),
        ),
        Operation(
            "doc/summarize",
            summarize,
            sampling=Sampling(temperature=0.2, stop=STOP),
            output_ratio=0.4,
            asked_share=summary_share,
            long="map-reduce",
            labels=("summary", "摘要", "总结", "概要", "résumé", "要約"),
        ),
        Operation(
            "doc/continue",
            continue_,
            (Parameter("history", kind="history"),),
            Sampling(temperature=0.8, top_p=0.95, stop=STOP),
            long="tail",
            labels=("continuation", "续写", "続き"),
        ),
        Operation(
            "doc/enrich",
            enrich,
            sampling=Sampling(temperature=0.7, stop=STOP),
            labels=("enriched text", "expanded text", "扩写", "丰富后"),
        ),
        Operation(
            "doc/rephrase",
            rephrase,
            (Parameter("tone", required=True, choices=tuple(TONES)),),
            Sampling(temperature=0.5, stop=STOP),
            labels=("rewritten text", "rephrased text", "改写后", "改写"),
        ),
    ]
)
