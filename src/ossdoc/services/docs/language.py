"""Language names for prompts, and a cheap guess of the language a text is written in.

Small models drift into English when the instructions are English and the text is not, so every
prompt names the language to write in: the target language for ``translate``, otherwise the
language of the text itself."""

from __future__ import annotations

import re

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


def length_hint(text: str, ratio: float, low: int, high: int) -> str:
    """A target length of about ``ratio`` × the text's length, in the unit its language counts in."""
    language = detect(text)
    if is_cjk(language):
        size = len(_HAN.findall(text)) + len(_KANA.findall(text)) + len(_HANGUL.findall(text))
        unit = "characters"
    else:
        size = len(_WORD.findall(text)) or len(text.split())
        unit = "words"
    target = max(low, min(high, round(size * ratio)))
    return f"about {target} {unit}"
