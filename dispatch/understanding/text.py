"""Text as the understanding step compares it: normalised forms and denied words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Where one clause ends: a negation never reaches across it ("路灯不亮，有人落水" is a danger).
_CLAUSE = re.compile(r"[,，。.;；!！?？\n、]")
# What `plain` drops, as a pattern: str.isalnum (which \w follows) is true for the letters and numbers that
# `plain` keeps.
_NOT_WORD = re.compile(r"[\W_]+")


def plain(text: str) -> str:
    """NFKC (full-width → half-width), lower case, without spaces, punctuation, symbols or control characters:
    "路 灯！" and "ＳｔｒｅｅｔＬｉｇｈｔ" compare as "路灯" and "streetlight"."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


def folded(text: str) -> str:
    """NFKC and lower case, punctuation kept (clauses and negations need it)."""
    return unicodedata.normalize("NFKC", text).lower()


def meaningless(text: str) -> bool:
    """Nothing a person could act on: empty, a few characters, one character repeated, only digits."""
    core = plain(text)
    return len(core) < 2 or len(set(core)) <= 1 or core.isdigit()


def content_free(text: str, fillers: re.Pattern[str]) -> bool:
    """Meaningless once the words that say nothing about a problem are taken out: "你好我想问一下", "好的谢谢",
    "测试测试123". `fillers`: `filler_pattern` of the words. Every report's content is read here, so this
    keeps to regular expressions (`plain` is slower by a per-character lookup)."""
    core = fillers.sub("", _NOT_WORD.sub("", folded(text)))
    return len(core) < 2 or len(set(core)) <= 1 or core.isdigit()  # as `meaningless`


def filler_pattern(fillers: Iterable[str]) -> re.Pattern[str]:
    """One pattern for the filler words in their plain form, longest first (谢谢你们 before 谢谢)."""
    words = sorted({plain(f) for f in fillers} - {""}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words)) or "(?!)")


def clauses(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each clause of `text`, split where a clause ends (，。；！？、 and the like)."""
    spans = []
    start = 0
    for end in _CLAUSE.finditer(text):
        spans.append((start, end.start()))
        start = end.end()
    spans.append((start, len(text)))
    return spans


def denied(text: str, start: int, negations: Iterable[str], window: int) -> bool:
    """Whether the word at `start` of `text` (folded) has a negation before it in its clause, at most `window`
    characters away: 没有人被困, 没闻到煤气味, 不是着火."""
    begin = max(0, start - window)
    before = text[begin:start]
    cut = [m.end() for m in _CLAUSE.finditer(before)]
    if cut:
        before = before[cut[-1]:]
    return any(n in before for n in negations)


def affirmed(text: str, words: Iterable[str], negations: Iterable[str], window: int) -> list[str]:
    """The `words` that occur in `text` (folded) at least once without a negation before them."""
    found = []
    negations = tuple(negations)
    for word in words:
        start = text.find(word)
        while start >= 0:
            if not denied(text, start, negations, window):
                found.append(word)
                break
            start = text.find(word, start + 1)
    return found
