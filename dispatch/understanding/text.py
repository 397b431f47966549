"""Text as the understanding step compares it: normalised forms and denied words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=4096)
def folded(text: str) -> str:
    """NFKC and lower case, punctuation kept (clauses and negations need it). Cached: each rule reads the same
    report's text again (keywords, doubt, denial, danger), and normalising was 8 % of a batch's time."""
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


def denied(text: str, start: int, negations: Iterable[str], window: int, floor: int = 0,
           not_negations: Iterable[str] = ()) -> bool:
    """Whether the word at `start` of `text` (folded) has a negation before it in its clause, at most `window`
    characters away and not before `floor`: 没有人被困, 没闻到煤气味, 不是着火. A negation inside one of the
    `not_negations` phrases is none: 不知道是不是燃气 still says it may be gas."""
    begin = max(floor, start - window)
    before = text[begin:start]
    cut = [m.end() for m in _CLAUSE.finditer(before)]
    if cut:
        before = before[cut[-1]:]
    for phrase in not_negations:
        before = before.replace(phrase, "|")
    return any(n in before for n in negations)


# A phrase rule's parts ("燃气…气味") are written with this between them.
PHRASE_GAP = "…"
# Where a sentence ends: the parts of a phrase rule never match across it (clauses they may:
# "闻到很浓的气味，好像是燃气").
_SENTENCE = re.compile(r"[。.!?;\n]")


@dataclass(frozen=True, slots=True)
class Denials:
    """What denies a danger word: a negation (没有, 不是) or a word that makes it past, feared or mistaken (以前,
    上周, 怕, 担心, 以为) at most `scope` characters before it in its clause — further than a keyword's negation
    window: 没闻到什么煤气味 — except inside the `not_negations` phrases (不知道是不是燃气: a danger not certain is
    still reported; 不过, 不停); a phrase rule's parts may stand at most `gap` characters apart."""

    negations: tuple[str, ...]
    scope: int
    gap: int = 12
    not_negations: tuple[str, ...] = ()

    def deny(self, text: str, start: int, floor: int | None = None) -> bool:
        """Denied before `start`; a phrase rule's later part (`floor`: where the part before it ended) is denied by
        any negation after that part in its clause (燃气灶…也没有漏气的味道)."""
        reach = self.scope if floor is None else max(self.scope, start - floor)
        return denied(text, start, self.negations, reach, floor or 0, self.not_negations)


@dataclass(frozen=True, slots=True)
class _Phrase:
    order: int
    word: str
    parts: list[str]  # the word's "A…B" parts (one for a plain word)


@dataclass(frozen=True, slots=True)
class _Index:
    """A word list split once and indexed by the first two characters of each phrase's first part, so that a
    report looks only at the phrases that can occur in it (a few of ~300 danger words) through one set
    intersection with its own character pairs, not ~300 substring searches."""

    words: tuple[str, ...]
    by_pair: dict[str, tuple[_Phrase, ...]]
    pairs: frozenset[str]
    short: tuple[_Phrase, ...]  # phrases whose first part is one character

    @classmethod
    def of(cls, words: tuple[str, ...]) -> _Index:
        by_pair: dict[str, list[_Phrase]] = {}
        short = []
        for order, word in enumerate(words):
            parts = word.split(PHRASE_GAP)
            if len(parts[0]) >= 2:
                by_pair.setdefault(parts[0][:2], []).append(_Phrase(order, word, parts))
            elif parts[0]:
                short.append(_Phrase(order, word, parts))
        return cls(words, {pair: tuple(p) for pair, p in by_pair.items()}, frozenset(by_pair), tuple(short))


# Word lists are the policy's tuples, read for every report: indexed once each, found again by identity (hashing
# a tuple of 300 strings per report would cost what the index saves).
_INDEXES: dict[int, _Index] = {}


def _index(words: tuple[str, ...]) -> _Index:
    # An index holds its tuple, so an id in the table is never another live tuple's.
    index = _INDEXES.get(id(words))
    if index is None:
        if len(_INDEXES) > 256:
            _INDEXES.clear()
        index = _INDEXES[id(words)] = _Index.of(words)
    return index


@lru_cache(maxsize=4096)
def _pairs(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


def _occurring(text: str, words: tuple[str, ...]) -> list[_Phrase]:
    """The phrases of `words` whose first part occurs in `text`, in the words' order."""
    index = _index(words)
    found = [phrase for pair in index.pairs & _pairs(text) for phrase in index.by_pair[pair]
             if phrase.parts[0] in text]
    found += [phrase for phrase in index.short if phrase.parts[0] in text]
    found.sort(key=lambda phrase: phrase.order)
    return found


def affirmed(text: str, words: tuple[str, ...], denials: Denials,
             excepted: Sequence[tuple[int, int]] = ()) -> list[str]:
    """The `words` that occur in `text` (folded) at least once without a denial before them and not inside an
    `excepted` span (`spans` of the exceptions: 救护车…进不去). A word written "A…B" is a phrase rule: A, then B
    at most `denials.gap` characters after it in the same sentence, neither denied ("燃气…气味" matches
    燃气表那里一直有气味, not 燃气表那里没有气味)."""
    return [phrase.word for phrase in _occurring(text, words)
            if any(not any(a <= start < b for a, b in excepted)
                   for start, _ in _matches(text, phrase.parts, denials))]


def spans(text: str, phrases: tuple[str, ...], gap: int) -> list[tuple[int, int]]:
    """Where the `phrases` ("A…B" as in `affirmed`) stand in `text`, negated or not: (start, end) each."""
    anything = Denials((), 0, gap)
    return [span for phrase in _occurring(text, phrases) for span in _matches(text, phrase.parts, anything)]


def taken_back(text: str, phrases: tuple[str, ...], denials: Denials) -> int:
    """Where the last of the `phrases` ("A…B" as in `affirmed`) not denied starts in `text` (folded), 0 when none
    does: the danger words before it are over or were mistaken (燃气公司来修好了, 原来是化粪池, 想表扬他们) — but not
    one it denies (还没修好), and not a danger told after it (修好了，今天又有味道)."""
    return max((start for phrase in _occurring(text, phrases) for start, _ in _matches(text, phrase.parts, denials)),
               default=0)


def _matches(text: str, parts: list[str], denials: Denials) -> list[tuple[int, int]]:
    """The (start, end) of each match of the phrase `parts` whose parts are not denied (the first match from
    each start of the first part)."""
    head, rest = parts[0], parts[1:]
    out = []
    start = text.find(head)
    while start >= 0:
        if not denials.deny(text, start):
            end = _follows(text, start + len(head), rest, denials)
            if end >= 0:
                out.append((start, end))
        start = text.find(head, start + 1)
    return out


def _follows(text: str, pos: int, parts: list[str], denials: Denials) -> int:
    """Where `parts` end when they follow one another from `pos`, each within the gap, in the sentence, not
    denied; -1 when they do not."""
    if not parts:
        return pos
    reach = text[pos:pos + denials.gap + len(parts[0])]
    end = _SENTENCE.search(reach)
    if end:
        reach = reach[:end.start()]
    at = reach.find(parts[0])
    while at >= 0:
        if not denials.deny(text, pos + at, floor=pos):
            last = _follows(text, pos + at + len(parts[0]), parts[1:], denials)
            if last >= 0:
                return last
        at = reach.find(parts[0], at + 1)
    return -1
