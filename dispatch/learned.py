"""Learning a hotline's category wording from a dispatcher's choice (研判): which wordings may be learned, under
which key. Pure; the hub stores what is learned (hub.services.learned) and intake looks it up.

A 12345 platform sends its own category strings ("路灯不亮", "市政设施-路灯"). When a dispatcher picks our leaf for
a case whose string we did not understand, the next ticket with the same string should go straight to that leaf.
Generic words (其他, 综合 …) say nothing about the problem, so they are never learned; nor is a string the tree
already knows (a code, a channel alias or a name), which needs no learning.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dispatch.matrix import Matrix

MAX_LEARNED_LEN: Final = 64  # longer "categories" are content pasted into the field, not a catalogue entry


def learned_key(text: str) -> str:
    """The key a wording is learned under: NFKC (full-width → half-width), no whitespace at all, casefolded, so
    that "路灯 不亮", "路灯　不亮" and "路灯不亮" are one entry."""
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


# Words a hotline uses for "not classified": learning one would send every such ticket to one leaf.
GENERIC_WORDS: Final = frozenset(learned_key(w) for w in (
    "其他", "其它", "其他类", "其他问题", "综合", "综合类", "综合问题", "未分类", "不详", "无", "未知", "咨询", "投诉",
    "建议", "求助", "举报", "表扬", "other", "others", "misc", "general", "unknown", "n/a", "none"))


def known_keys(matrix: Matrix, generic: Iterable[str] = ()) -> frozenset[str]:
    """The keys never learned: every code, channel alias and name (in both languages) of the tree, understood
    already, and the policy's `generic` wordings (其他, 市容环境 …), for which intake reads the content instead."""
    keys = {learned_key(k) for k in (*matrix.category_keys(), *generic)}
    for path in matrix.leaves():
        for node in path:
            keys |= {learned_key(n) for n in (node.name, node.name_en) if n}
    return frozenset(keys)


@dataclass(frozen=True, slots=True)
class Learned:
    key: str
    original: str
    code: str  # the leaf chosen


def learnable(text: Any, known: frozenset[str]) -> str | None:
    """The key to learn `text` under, or None when it must not be learned (not a string, empty, too long,
    generic, or known to the tree already)."""
    if not isinstance(text, str):
        return None
    key = learned_key(text)
    if not key or len(key) > MAX_LEARNED_LEN or "\x00" in key or key in GENERIC_WORDS or key in known:
        return None
    return key


def learned_from(report: Mapping[str, Any], dispatched: Mapping[str, Any], known: frozenset[str]) -> Learned | None:
    """What a `case.dispatched` event teaches: only a category a person chose (`chosen_by`), for the wording the
    channel sent in `report.category`."""
    category = dispatched.get("category")
    if not dispatched.get("chosen_by") or not isinstance(category, Mapping) or not category.get("code"):
        return None
    original = report.get("category")
    key = learnable(original, known)
    if key is None:
        return None
    return Learned(key, str(original).strip(), str(category["code"]))
