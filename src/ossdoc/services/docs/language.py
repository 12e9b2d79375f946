"""Language names for prompts, and a cheap guess of the language a text is written in.

Small models drift into English when the instructions are English and the text is not, so every
prompt names the language to write in: the target language for ``translate``, otherwise the
language of the text itself."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

from ossdoc.backends.llm.base import Message, Sampling

# Target languages of doc/translate, named the way a small model recognises best.
TARGETS = {
    "zh_CN": "Simplified Chinese (简体中文)",
    "en_US": "English",
    "ja_JP": "Japanese (日本語)",
    "fr_FR": "French (français)",
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_FRENCH = frozenset({
    "le", "la", "les", "des", "du", "et", "est", "une", "un", "dans", "pour", "que", "qui", "pas", "sur",
    "au", "aux", "avec", "il", "elle", "ont", "été", "à", "ce", "cette", "sont", "par", "plus", "nous",
    "vous", "je",
})  # fmt: skip
_ENGLISH = frozenset({
    "the", "and", "of", "to", "is", "was", "that", "with", "for", "this", "are", "were", "be", "by", "it",
    "from", "has", "have", "at", "which", "who", "not", "but", "i", "you", "we", "they",
})  # fmt: skip


def detect(text: str) -> str:
    """The language ``text`` is mostly written in, as a name to put in a prompt."""
    sample = text[:4000]
    han, kana, hangul = (len(p.findall(sample)) for p in (_HAN, _KANA, _HANGUL))
    words = [w.lower() for w in _WORD.findall(sample)]
    if kana and kana * 10 >= han + kana and han + kana >= len(words):
        return "Japanese"
    if hangul >= len(words) and hangul > han:
        return "Korean"
    if han and han >= len(words):
        return "Chinese"
    if not words:
        return "the same language as the text"
    french = sum(w in _FRENCH for w in words)
    english = sum(w in _ENGLISH for w in words)
    if french > english:
        return "French"
    if english:
        return "English"
    return "the same language as the text"


def is_cjk(language: str) -> bool:
    return language in ("Chinese", "Japanese", "Korean")


def length_hint(text: str, ratio: float, low: int, high: int, whole: int = 0, share: float = 1.0) -> str:
    """A target length of about ``ratio`` × the text's length (within ``low``..``high``), in the unit
    its language counts in. Of a long document's piece or of its pieces' summaries: ``whole`` is
    the document's length in characters, the target that of the whole times ``share``."""
    target, _, unit = length_target(text, ratio, low, high, whole, share)
    return f"about {target} {unit}"


def length_target(
    text: str, ratio: float, low: int, high: int, whole: int = 0, share: float = 1.0
) -> tuple[int, int, str]:
    """``length_hint``'s target, the text's own length in the same unit, and the unit."""
    language = detect(text)
    if is_cjk(language):
        size = len(_HAN.findall(text)) + len(_KANA.findall(text)) + len(_HANGUL.findall(text))
        unit = "characters"
    else:
        size = len(_WORD.findall(text)) or len(text.split())
        unit = "words"
    scaled = round(size * whole / max(1, len(text))) if whole else size
    target = max(low // 2, round(max(low, min(high, scaled * ratio)) * share))
    if whole:  # summaries to reduce that are shorter than the target: never ask for more than them
        target = min(target, max(1, size))
    return target, size, unit


# The language a translation is written in, by target code (names as ``detect`` gives them).
TARGET_LANGUAGE = {"zh_CN": "Chinese", "en_US": "English", "ja_JP": "Japanese", "fr_FR": "French"}
_UNIT = re.compile(
    r"(?P<cjk>[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af])"
    r"|(?P<latin>[A-Za-z\u00c0-\u024f]+)"
)
# First words that open an English sentence and never a French one, and the other way round.
_ENGLISH_ONLY = frozenset({
    "the", "this", "these", "those", "it", "he", "she", "they", "we", "i", "in", "at", "as", "after",
    "when", "with", "but", "and", "however", "according", "there", "his", "her", "their", "its", "some",
    "many", "one", "an", "if", "while", "for", "of", "to", "is", "was", "what", "who", "mr", "mrs",
})  # fmt: skip
_FRENCH_ONLY = frozenset({
    "le", "la", "les", "des", "du", "une", "il", "elle", "ils", "elles", "ce", "cette", "ces", "nous",
    "vous", "je", "dans", "pour", "selon", "mais", "et", "après", "lors", "au", "aux", "sur", "son", "sa",
    "ses", "leur", "leurs", "quand", "depuis",
})  # fmt: skip
STOPWORDS = {"English": _ENGLISH, "French": _FRENCH}
# A finished English↔French translation with at least this many of the source language's stopwords,
# and this share of the stopwords of both, is mostly in the source's language (see StartCheck.whole).
DRIFT_WORDS, DRIFT_SHARE = 3, 0.6
ECHO_WORDS = 4  # a translation that opens with this many words of its source is echoing it
LATIN_OPENING = 4  # a CJK result opening with this many Latin words is in the wrong language


class StartCheck:
    """Whether a result starts in ``expected`` (a language name), from its first words.

    ``verdict`` answers True (right), False (a wrong start: the other script, the source's language,
    or the source itself echoed) or None (not known yet). It decides on the first letter when the
    scripts differ (a Han character, a Latin letter); Latin words opening a CJK result ("BBC は…")
    wait for a CJK character among the first four units; a translation between English and French
    needs the first complete word, and the first few when they are the source's own."""

    def __init__(self, expected: str, source: str) -> None:
        self.expected = expected
        language = detect(source)
        self.translating = language != expected and language in TARGET_LANGUAGE.values()
        self.source_language = language
        # An echo is a copy: compared case-sensitively.
        head = [(m.lastgroup, m.group()) for m in itertools.islice(_UNIT.finditer(source), ECHO_WORDS)]
        self._source_words = [w for _, w in head] if all(k == "latin" for k, _ in head) else []

    def verdict(self, text: str, final: bool = False) -> bool | None:
        units = []  # (kind, text, complete)
        for match in itertools.islice(_UNIT.finditer(text), ECHO_WORDS + 1):
            units.append((match.lastgroup, match.group(), final or match.end() < len(text)))
        if not units:
            return True if final else None
        kind, word, complete = units[0]
        if is_cjk(self.expected):
            # Latin words may open a CJK result ("President Joko Widodoは…"): wrong only when the
            # first few are all Latin.
            if any(k == "cjk" for k, _, _ in units[:LATIN_OPENING]):
                return True
            if len(units) < LATIN_OPENING:
                return self.matches(text) if final else None
            return False
        if self.expected not in ("English", "French") or kind == "cjk":
            return kind != "cjk"
        if not self.translating:
            return True
        if not complete:
            return None
        if word.lower() in (_FRENCH_ONLY if self.expected == "English" else _ENGLISH_ONLY):
            return False
        echo = self._echoes([u[1] for u in units if u[2]])
        return None if echo is None and not final else not echo

    def matches(self, text: str) -> bool:
        """Whether a whole result is mostly in the expected script."""
        kinds = [m.lastgroup for m in _UNIT.finditer(text)]
        cjk, latin = kinds.count("cjk"), kinds.count("latin")
        if cjk + latin == 0:
            return True
        return cjk >= latin if is_cjk(self.expected) else latin >= 4 * cjk

    def whole(self, text: str) -> bool:
        """Whether a finished translation is in the expected language past its first words too: not
        mostly in the other script, nor (between English and French, whose script is one) mostly
        the source's language ("Les Stars ont atoned for Friday's Elite League loss…")."""
        if not self.translating or not self.matches(text):
            return not self.translating
        pair = {self.expected, self.source_language}
        if pair != {"English", "French"}:
            return True
        words = [w.lower() for w in _WORD.findall(text)]
        own = sum(w in STOPWORDS[self.expected] for w in words)
        source = sum(w in STOPWORDS[self.source_language] for w in words)
        return source < DRIFT_WORDS or source < DRIFT_SHARE * (source + own)

    def _echoes(self, words: list[str]) -> bool | None:
        """True when the result opens with the source's first words, None while it still may."""
        source = self._source_words
        if not source or words[: len(source)] != source[: len(words)]:
            return False
        return True if len(words) >= len(source) else None


# Said in the language itself, which a small model heeds more than a request about it in English.
INSIST = {
    "Chinese": "重要：只用简体中文输出，不要输出英文。",
    "Japanese": "重要：必ず日本語だけで書いてください。英語で書かないでください。",
    "Korean": "중요: 한국어로만 쓰세요.",
    "English": "Important: write only in English.",
    "French": "Important : écrivez uniquement en français, pas en anglais.",
}


def insist(messages: list[Message], language: str) -> list[Message]:
    """The prompt of a restart after a start in another language: the same request, with the
    system prompt insisting on ``language`` (in the user message, qwen2.5-0.5b copied the line
    into its answer)."""
    line = INSIST.get(language)
    if line is None:
        return messages
    if not any(m.role == "system" for m in messages):  # a request under the template's default
        return [Message("system", line), *messages]
    return [Message(m.role, f"{m.content}\n\n{line}") if m.role == "system" else m for m in messages]


RESTART_PENALTY = 4.0  # the logit bias of a restart against the other script (see steer)


def steer(sampling: Sampling, language: str) -> Sampling:
    """The sampling of a restart after a start in another language: the other script weighed down
    (Latin letters for a CJK language, CJK characters for another), at least by RESTART_PENALTY."""
    if is_cjk(language):
        return replace(sampling, latin_penalty=max(sampling.latin_penalty, RESTART_PENALTY))
    if language in TARGET_LANGUAGE.values():
        return replace(sampling, cjk_penalty=max(sampling.cjk_penalty, RESTART_PENALTY))
    return sampling
