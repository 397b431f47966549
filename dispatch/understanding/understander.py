"""Understanding a report: which leaf of our category tree it is about, how sure we are and why, and whether
its words signal danger. Pure: the caller gives the matrix, the intake policy, an optional trained model and
an optional lookup of what dispatchers taught (hotline category string → leaf).

The channel's category field is tried first, strongest rule first: our code or alias, a name of any level,
what a dispatcher taught, the hotline catalogue, the normalised field, another taxonomy's path (deepest
segment first), a name inside the field ("路灯不亮" → 路灯), a near-miss spelling. The content decides when
the field is generic (其他), unknown, names a branch with several leaves, or was read by a weak rule and the
content clearly says otherwise. Every answer carries its evidence and rule; below the policy's threshold the
category is None and the suggestions carry the best three.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from dispatch.matrix import CategoryNode, Matrix
from dispatch.understanding.config import IntakePolicy
from dispatch.understanding.model import ModelGuess, TextModel, train
from dispatch.understanding.text import (
    Denials,
    affirmed,
    clauses,
    content_free,
    denied,
    filler_pattern,
    folded,
    plain,
    spans,
    taken_back,
)

Learned = Callable[[str], str | None]

URGENCY_RANK: dict[str, int] = {"normal": 0, "complex": 0, "urgent": 1, "critical": 2}
# Field rules that read the field loosely: when the content clearly names another leaf, neither wins.
_LOOSE_RULES = frozenset({"normalised", "path", "fuzzy", "keywords"})
# Field rules that read a name exactly (a segment of a path read by one of them outweighs loose segments).
_EXACT_RULES = frozenset({"code", "alias", "name", "catalogue"})
_PATH_SEPARATORS = re.compile(r"\s*(?:->|>|/|\\|\||》|→|—|-)\s*")
# Suffixes of branch names that carry no meaning of their own: 井盖设施 is also called 井盖.
_NAME_SUFFIXES = ("设施", "问题", "管理", "类")
_FUZZY_CUTOFF = 75.0
_CONFLICT_CONFIDENCE = 0.8  # the content's confidence in another leaf that overrules a loosely read field
# Field readings that are guesses about another catalogue's meaning: its keywords, a near-miss spelling, or
# another taxonomy's path ("交通运输>出租车" is not a road sign, "环境卫生-路面" not a broken road). Leave one writer
# out (issue 16's fifth round): paths here turned 3 of 49 wrong dispatches into triage for 0.8 points more triage.
_WEAK_RULES = frozenset({"keywords", "fuzzy", "path"})
_WEAK_CONFLICT_CONFIDENCE = 0.5  # … and a field read by one of those
# Field readings that name a leaf exactly, from the hotline's own vocabulary (our codes and aliases stand: an
# integrator chose them): a content that denies the leaf ("停电" over "不是停电，是停水"), or names another leaf at
# this confidence while giving the field's none of its suggestions, sends the case to a dispatcher.
_NAMED_RULES = frozenset({"name", "catalogue", "normalised", "learned"})
_NAMED_CONFLICT_CONFIDENCE = 0.9
# The content's confidence in a framing leaf (咨询, 建议, 表扬: IntakePolicy.framing_categories) that keeps a field
# naming a problem from dispatching: the model reads a question about an outage as mostly the outage. Leave one
# writer out (seventh round, keyword scale 32): 0.1 / 0.15 / 0.2 / 0.25 / 0.3 → 39 / 41 / 41 / 43 / 44 wrong
# dispatches of 3,097 at 31.8 / 31.6 / 31.6 / 31.4 / 31.4 % triage (none at all: 53, 31.0 %).
_FRAMING_CONFIDENCE = 0.2
_MODEL_WEIGHT = 0.5  # the model's share of the content score when keywords matched too
_KEYWORD_SATURATION = 3.0  # matched characters (a leaf's name counts double) for full keyword confidence


@dataclass(frozen=True, slots=True)
class Suggestion:
    code: str
    confidence: float
    evidence: tuple[str, ...]
    rule: str

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "confidence": round(self.confidence, 3), "evidence": list(self.evidence),
                "rule": self.rule}


@dataclass(frozen=True, slots=True)
class Understanding:
    category: str | None  # the code to dispatch under (a leaf, or the channel's own code); None: triage
    confidence: float
    evidence: tuple[str, ...]
    rule: str | None  # code/alias/name/learned/catalogue/normalised/path/fuzzy/keywords/model
    suggestions: tuple[Suggestion, ...] = ()
    reason: str | None = None  # category_unclear (nothing to read) or unknown_category, when category is None
    urgency: str | None = None  # what the words call for ("urgent", "critical"), None when nothing
    danger: tuple[str, ...] = field(default=())  # the danger words found (not denied)

    def decision(self) -> dict[str, Any]:
        """What the case keeps as `understanding`: the code, confidence, evidence and rule (plus the danger
        words when there were any)."""
        out: dict[str, Any] = {"code": self.category, "confidence": round(self.confidence, 3),
                               "evidence": list(self.evidence), "rule": self.rule}
        if self.danger:
            out["danger"] = list(self.danger)
            out["urgency"] = self.urgency
        return out


@dataclass(frozen=True, slots=True)
class _Hit:
    node: CategoryNode
    rule: str
    confidence: float
    evidence: tuple[str, ...]


@dataclass(slots=True)
class _Scored:
    code: str
    score: float
    evidence: list[str]
    rule: str


class Understander:
    """Built once from the policy (and the trained model), then asked for every report."""

    def __init__(self, matrix: Matrix, policy: IntakePolicy | None = None, model: TextModel | None = None) -> None:
        self.matrix = matrix
        self.policy = policy or IntakePolicy()
        self.model = model
        self._generic = {plain(g) for g in self.policy.generic_categories}
        self._names: dict[str, CategoryNode] = {}
        self._plain: dict[str, tuple[CategoryNode, bool]] = {}  # normalised key → node, exact (not a core)
        self._leaves: dict[str, list[str]] = {}  # any node's code → its leaves' codes
        self._keywords: list[tuple[str, str]] = []  # (phrase, leaf code)
        self._leaf_names: set[str] = set()
        for path in matrix.leaves():
            for node in path:
                self._leaves.setdefault(node.code, []).append(path[-1].code)
        for code in self._leaves:
            node = matrix.path(code)[-1]
            self._names.setdefault(node.name, node)
            for key in (node.code, node.name, *node.aliases, *((node.name_en,) if node.name_en else ())):
                if plain(key) not in self._generic:
                    self._add_plain(plain(key), node, True)
            for suffix in _NAME_SUFFIXES:
                if node.name.endswith(suffix) and len(node.name) - len(suffix) >= 2:
                    self._add_plain(plain(node.name[: -len(suffix)]), node, False)
            if not node.children:
                self._keywords += [(folded(k), node.code) for k in (node.name, *node.keywords)]
                self._leaf_names.add(folded(node.name))
        self._keyword_leaves: dict[str, list[str]] = {}
        for phrase, code in sorted(set(self._keywords)):
            if phrase and code not in self._keyword_leaves.setdefault(phrase, []):
                self._keyword_leaves[phrase].append(code)
        self._keyword_pattern = re.compile("|".join(
            re.escape(p) for p in sorted(self._keyword_leaves, key=lambda p: (-len(p), p))) or "(?!)")
        # Longest first, then the deeper node: "路灯照明" holds 路灯 (a leaf) and 照明 (a branch).
        self._contained = sorted((k for k in self._plain if len(k) >= 2),
                                 key=lambda k: (len(k), len(self.matrix.path(self._plain[k][0].code))), reverse=True)
        self._catalogue = {plain(k): v for k, v in self.policy.hotline_catalogue.items()}
        self._fuzzy_keys = [k for k in self._plain if not k.isdigit()]
        self._fillers = filler_pattern(self.policy.fillers)
        self._also = tuple(folded(w) for w in self.policy.also_words)
        self._framing = frozenset(self.policy.framing_categories)
        intake = self.policy
        self._denials = Denials((*intake.negations, *intake.danger_negations, *intake.danger_hypotheticals),
                                intake.danger_scope, intake.danger_gap, tuple(intake.danger_not_negations))
        # A retraction is denied by a negation (还没修好) but not by a past (上周已经填好 takes the collapse back).
        self._retraction_denials = Denials((*intake.negations, *intake.danger_negations), intake.danger_scope,
                                           intake.danger_gap, tuple(intake.danger_not_negations))

    def _add_plain(self, key: str, node: CategoryNode, exact: bool) -> None:
        held = self._plain.get(key)
        # The deeper node wins a shared key (a leaf named like its branch is the more precise reading).
        if key and (held is None or len(self.matrix.path(node.code)) > len(self.matrix.path(held[0].code))):
            self._plain[key] = (node, exact)

    # --- the public face ------------------------------------------------------------------------------

    def understand(self, report: Mapping[str, Any], *, learned: Learned | None = None) -> Understanding:
        return self.understand_many([report], learned=learned)[0]

    def understand_many(self, reports: Sequence[Mapping[str, Any]], *,
                        learned: Learned | None = None) -> list[Understanding]:
        """One answer per report; the model scores the whole batch in one call."""
        fields = [_text(r.get("category")) for r in reports]
        hits = [self._read_field(f, learned) for f in fields]
        texts = []
        for report, raw, hit in zip(reports, fields, hits, strict=True):
            words = " ".join(_text(report.get(k)) for k in ("title", "content"))
            # An unrecognised field is words of the complaint too ("井盖丢了").
            texts.append(words if hit is not None or plain(raw) in self._generic else f"{raw} {words}")
        found = [self._keyword_matches(t) for t in texts]
        guesses: list[ModelGuess | None] = [None] * len(texts)
        if self.model is not None:
            guesses = list(self.model.guess_many(texts, [weights for _, weights in found]))
        out = []
        for report, hit, text, matches, guess in zip(reports, hits, texts, found, guesses, strict=True):
            decided = self._decide(hit, text, matches, guess)
            out.append(self._with_danger(decided, report))
        return out

    # --- the field --------------------------------------------------------------------------------------

    def _read_field(self, raw: str, learned: Learned | None) -> _Hit | None:
        value = raw.strip()
        if not value:
            return None
        if self.matrix.knows(value):
            node = self.matrix.path(value)[-1]
            return _Hit(node, "code" if value == node.code else "alias", 1.0, (value,))
        key = plain(value)
        if not key or key in self._generic:  # 其他, 综合 and the like (市容环境 too, though it names a branch)
            return None
        if value in self._names:
            return _Hit(self._names[value], "name", 1.0, (value,))
        if learned is not None:
            code = learned(value)
            if code is not None and self.matrix.knows(code):
                return _Hit(self.matrix.path(code)[-1], "learned", 1.0, (value,))
        if key in self._catalogue:
            return _Hit(self.matrix.path(self._catalogue[key])[-1], "catalogue", 1.0, (value,))
        if key in self._plain:
            node, exact = self._plain[key]
            return _Hit(node, "normalised", 0.95 if exact else 0.9, (value,))
        segments = [s for s in _PATH_SEPARATORS.split(folded(value)) if plain(s)]
        if len(segments) > 1:
            # A segment that names one leaf exactly (a name, code or catalogue entry of a leaf, or of a branch
            # with one leaf) beats a segment read loosely, wherever it stands: "建言献策>城市建设>交通" is a
            # suggestion, "感谢信>表扬>环卫" praise, "环境卫生-路面" dirt on a road (not a broken road).
            for segment in reversed(segments):
                hit = self._read_segment(segment, fuzzy=False)
                if hit is not None and hit.rule in _EXACT_RULES and not hit.node.children:
                    return _Hit(hit.node, "path", min(0.9, hit.confidence), (segment.strip(),))
            # Then deepest first; a near-miss spelling of a deep segment ("公共设施" ≈ 公用设施) only after every
            # segment was read as it is ("建议>城市建设>公共设施" names 建议).
            for fuzzy in (False, True):
                for segment in reversed(segments):
                    hit = self._read_segment(segment, fuzzy=fuzzy)
                    if hit is not None:
                        return _Hit(hit.node, "path", min(0.9, hit.confidence), (segment.strip(),))
            return None
        return self._read_segment(value, whole=False)

    def _read_segment(self, segment: str, whole: bool = True, fuzzy: bool = True) -> _Hit | None:
        key = plain(segment)
        if not key or key in self._generic:
            return None
        if whole:
            word = segment.strip()
            found = self.matrix.path(word)[-1] if self.matrix.knows(word) else self._names.get(word)
            if found is not None:
                return _Hit(found, "name", 1.0, (segment,))
            if key in self._catalogue:
                return _Hit(self.matrix.path(self._catalogue[key])[-1], "catalogue", 1.0, (segment,))
            if key in self._plain:
                return _Hit(self._plain[key][0], "normalised", 0.95, (segment,))
        # A name inside the field ("路灯不亮" → 路灯), then the field's keywords when they point to one leaf
        # ("道路下沉", "违停"), then a branch name without its suffix (…道路…), then a near-miss spelling.
        inside = [name for name in self._contained if name in key]
        matched, weight = self._keyword_matches(segment)
        for name in inside:  # longest first
            node = self._plain[name][0]
            # A name inside the field stands unless the field's other words point more strongly to one other
            # leaf: "标志牌倒伏" is a fallen sign (标志牌), not a fallen tree (倒伏).
            own = max((weight.get(c, 0.0) for c in self._leaves[node.code]), default=0.0)
            other = max((w for c, w in weight.items() if c not in self._leaves[node.code]), default=0.0)
            if self._plain[name][1] and other <= own:
                return _Hit(node, "normalised", 0.9, (name,))
        if weight:
            best = max(weight, key=lambda code: weight[code])
            if weight[best] > sum(weight.values()) - weight[best]:
                return _Hit(self.matrix.path(best)[-1], "keywords", 0.85, tuple(matched[best]))
        if inside:
            return _Hit(self._plain[inside[0]][0], "normalised", 0.85, (inside[0],))
        if fuzzy and len(key) >= 3 and not key.isdigit():  # a near-miss code is another code, not a typo
            near = process.extractOne(key, self._fuzzy_keys, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
            if near is not None:
                return _Hit(self._plain[near[0]][0], "fuzzy", near[1] / 100 * 0.9, (segment,))
        return None

    # --- the content ------------------------------------------------------------------------------------

    def keyword_weights(self, text: str) -> dict[str, float]:
        """Each leaf's keyword weight in `text`: what the model takes beside the n-grams (and is trained on)."""
        return self._keyword_matches(text)[1]

    def _keyword_matches(self, text: str) -> tuple[dict[str, list[str]], dict[str, float]]:
        """The keywords of each leaf found in `text` and their weight: matched characters, a leaf's own name
        counting double (景观灯 says more than 灯不亮); the longest phrase at each place takes its characters (路灯杆 is
        not also 路灯)."""
        lowered = folded(text)
        matched: dict[str, list[str]] = {}
        weight: dict[str, float] = {}
        # One scan: at each place the longest phrase that starts there (alternatives are longest first).
        for found in self._keyword_pattern.finditer(lowered):
            phrase = found.group()
            if denied(lowered, found.start(), self.policy.negations, self.policy.negation_window):
                continue  # 没有闻到煤气味 is no gas leak
            for code in self._keyword_leaves[phrase]:
                if phrase not in matched.get(code, ()):
                    matched.setdefault(code, []).append(phrase)
                weight[code] = weight.get(code, 0.0) + len(phrase) * (2 if phrase in self._leaf_names else 1)
        return matched, weight

    def _content(self, found: tuple[dict[str, list[str]], dict[str, float]], guess: ModelGuess | None,
                 text: str, within: list[str] | None = None) -> list[_Scored]:
        """The leaves the content points to, best first (at most three), scores summing to at most 1."""
        matched, weight = found
        if within is not None:
            matched = {c: m for c, m in matched.items() if c in within}
            weight = {c: w for c, w in weight.items() if c in within}
        total = sum(weight.values())
        # Keywords alone: the share of the matched weight, damped while little matched (one 2-character word).
        keyword = {c: w / total * min(1.0, max(weight.values()) / _KEYWORD_SATURATION) for c, w in weight.items()} \
            if total else {}
        model: dict[str, float] = {}
        if guess is not None:
            scores = {c: s for c, s in guess.scores.items() if within is None or c in within}
            mass = sum(scores.values()) or 1.0
            model = {c: s / mass for c, s in scores.items()}
        if model and self.model is not None and self.model.uses_keywords:
            combined = model  # the model weighed the keywords itself
        elif model and keyword:
            combined = {c: _MODEL_WEIGHT * model.get(c, 0.0) + (1 - _MODEL_WEIGHT) * keyword.get(c, 0.0)
                        for c in set(model) | set(keyword)}
        else:
            combined = model or keyword
        ranked = sorted(combined.items(), key=lambda kv: -kv[1])[:3]
        if ranked and model:  # keywords alone already score each leaf by its share
            # Words of another leaf in the same complaint ("又吵又占道", "感谢自来水公司，停水以后很快就恢复了"):
            # the best leaf keeps only its share of the matched keyword weight as its confidence, so that a
            # complaint naming two problems goes to a dispatcher.
            # Cross-validated on the training texts: at the same triage rate, half the wrong dispatches.
            best, score = ranked[0]
            # A question, suggestion or thanks wins whatever problem it mentions (the brief's rule): only another
            # of them rivals it, never the words of the problem it asks about or thanks for.
            rival = max((w for c, w in weight.items()
                         if c != best and (best not in self._framing or c in self._framing)), default=0.0)
            if best not in self._framing and best in weight and self._added_only(text, best):
                # "下雨以后那里好多水，路面也烂了": the best leaf's words only add to a problem named before them;
                # that problem counts as a rival of at least the same weight, whether or not a keyword recognised
                # it ("垃圾桶满溢，同时路边还有人在烧垃圾": the smoke's many words outweighed the bin's few). From
                # the development part's one wrong dispatch of this form, and blind set 11's (README). Not for a
                # question, suggestion or thanks ("路灯坏了，也想咨询一下…"): the problem it mentions is no rival.
                rival = max(rival, weight[best])
            own = weight.get(best, 0.0)
            # A best leaf with no words of its own is the model's reading of the whole text, which already
            # weighed the other leaf's words as features ("送外卖的…两边停满车…挤不过去": 外卖 is 食品安全's word,
            # the complaint is parking): its share would be nothing, and the reading the model is surest of would
            # vanish from the suggestions. Only a question, suggestion or thanks (which win whatever they mention)
            # still takes it over. Leave one writer out (fourteen groups): clear top-1 94.5 → 96.8 %, top-3
            # 97.0 → 99.2 %, triage 35.5 → 33.9 %, the same 42 wrong dispatches.
            framed = any(c in self._framing for c in weight if c != best)
            if rival and (own or framed):
                ranked[0] = (best, score * own / (own + rival))
                # The suggestions in the order of the confidence they show: a dispatcher reads 0.36 before 0.40
                # as a bug, and the first suggestion is the one a one-click choice offers first.
                ranked.sort(key=lambda kv: -kv[1])
        out = []
        for code, score in ranked:
            if code in matched:
                out.append(_Scored(code, score, list(matched[code]), "keywords"))
            else:
                evidence = guess.evidence.get(code, []) if guess is not None else []
                out.append(_Scored(code, score, list(evidence), "model"))
        return [s for s in out if s.score > 0]

    def _doubted(self, text: str, weight: Mapping[str, float]) -> bool:
        """Whether the caller doubts between problems: a doubt phrase, and the keywords of two leaves or more."""
        lowered = folded(text)
        if not spans(lowered, self.policy.doubt_phrases, self.policy.danger_gap):
            return False
        # Negated words count: the doubt's own 不 (不知道是井盖还是路烂了) reads as a negation of what follows it.
        named = {code for m in self._keyword_pattern.finditer(lowered) for code in self._keyword_leaves[m.group()]}
        return len(named | set(weight)) >= 2

    def _denies(self, text: str, hit: _Hit) -> bool:
        """Whether the content names the field's leaf (by the field's words or the leaf's name) only to deny it:
        "不是停电，是停水" under a field that says 停电."""
        lowered = folded(text)
        seen = False
        names = (*hit.evidence, hit.node.name)
        # A branch's name without its suffix is how a caller says it: 井盖设施 is denied by "不是井盖的事".
        cores = [n[: -len(x)] for n in names for x in _NAME_SUFFIXES if n.endswith(x) and len(n) - len(x) >= 2]
        for word in {folded(w) for w in (*names, *cores) if len(plain(w)) >= 2}:
            for at in (m.start() for m in re.finditer(re.escape(word), lowered)):
                if not denied(lowered, at, self.policy.negations, self.policy.negation_window):
                    return False
                seen = True
        return seen

    def _added_only(self, text: str, code: str) -> bool:
        """Whether every keyword of `code` in `text` stands in a clause that says it adds (也) to an earlier
        clause with words in it."""
        lowered = folded(text)
        if not any(w in lowered for w in self._also):
            return False
        spans = clauses(lowered)
        matches = [m for m in self._keyword_pattern.finditer(lowered)
                   if not denied(lowered, m.start(), self.policy.negations, self.policy.negation_window)]
        # Where the added problem begins: the first clause with an also-word and this leaf's words, after a clause
        # with words in it — more than a greeting or filler ("你好，…路灯也不亮了" names nothing first). The clauses
        # after it go on telling that problem ("同时路边还有人在烧垃圾，烟很大"); an also-word with nothing of the
        # leaf ("反映了几次也没人管") adds nothing.
        added_from = next((a for i, (a, b) in enumerate(spans)
                           if any(w in lowered[a:b] for w in self._also)
                           and any(a <= m.start() <= b and code in self._keyword_leaves[m.group()] for m in matches)
                           and any(len(plain(lowered[c:d])) >= 2 and not content_free(lowered[c:d], self._fillers)
                                   for c, d in spans[:i])), None)
        return added_from is not None and \
            all(m.start() >= added_from for m in matches if code in self._keyword_leaves[m.group()])

    # --- the decision -----------------------------------------------------------------------------------

    def _decide(self, hit: _Hit | None, text: str, found: tuple[dict[str, list[str]], dict[str, float]],
                guess: ModelGuess | None) -> Understanding:
        threshold = self.policy.threshold
        if hit is not None and hit.node.children and len(self._leaves[hit.node.code]) == 1:
            # A branch with one leaf names it, and is read like it (a loose reading meets the content's check).
            hit = _Hit(self.matrix.path(self._leaves[hit.node.code][0])[-1], hit.rule, hit.confidence, hit.evidence)
        if hit is not None and (hit.rule in ("code", "alias") or not hit.node.children):
            # Our own code or channel name stands (an operator chose it); so does a leaf, unless it was read
            # loosely and the content clearly names another leaf.
            checked = hit.rule in _LOOSE_RULES or hit.rule in _NAMED_RULES
            content = self._content(found, guess, text) if checked else []
            denied = hit.rule in _NAMED_RULES and bool(content) and self._denies(text, hit)
            field_guess = Suggestion(hit.node.code, hit.confidence, hit.evidence, hit.rule)
            if checked and len(content) > 1 and self._doubted(text, found[1]):
                # The caller cannot tell which of two problems it is: the field's reading first, then the content's.
                return Understanding(None, hit.confidence, (), None,
                                     _suggestions([_as_suggestion(s) for s in content], field_guess),
                                     reason="unknown_category")
            framing = next((s for s in content if s.code in self._framing and s.score >= _FRAMING_CONFIDENCE), None)
            if framing is not None and hit.node.code not in self._framing:
                # A question, suggestion or thanks about the problem the field names: the dispatcher's, the
                # framing leaf first.
                others = [_as_suggestion(s) for s in content if s.code not in (framing.code, hit.node.code)]
                return Understanding(None, framing.score, (), None,
                                     (_as_suggestion(framing), field_guess, *others)[:3], reason="unknown_category")
            if content and (denied or content[0].code != hit.node.code) and (
                    hit.rule in _LOOSE_RULES and content[0].score >= _CONFLICT_CONFIDENCE
                    and all(s.code != hit.node.code for s in content)
                    # A field read only by its keywords, a near-miss spelling ("路面污染" → 路面) or another
                    # taxonomy's path is a weak reading: a content that prefers another leaf with some conviction
                    # makes it a dispatcher's.
                    or hit.rule in _WEAK_RULES and content[0].score >= _WEAK_CONFLICT_CONFIDENCE
                    or hit.rule in _NAMED_RULES and (
                        denied or content[0].score >= _NAMED_CONFLICT_CONFIDENCE
                        and all(s.code != hit.node.code for s in content))):
                others = [_as_suggestion(s) for s in content if s.code != hit.node.code]
                # A field the content denies comes after the content's readings, and the confidence shown is the
                # best of theirs (the content's reading of the denied leaf is the denied word's); a field read
                # loosely (a path, its keywords, a spelling, a name found inside it or normalised) takes its place
                # by confidence among them — the dispatcher's first one-click choice is the surer reading; our
                # code, a leaf's exact name, a catalogue entry or a learned mapping (1.0) is shown first.
                if denied:
                    offered = (*others[:2], field_guess)
                    return Understanding(None, others[0].confidence if others else 0.0, (), None, offered,
                                         reason="unknown_category")
                if hit.rule in _LOOSE_RULES:
                    offered = tuple(sorted([field_guess, *others], key=lambda s: -s.confidence)[:3])
                else:
                    offered = _suggestions(others, field_guess)
                return Understanding(None, content[0].score, (), None, offered, reason="unknown_category")
            agreeing = content or self._content(found, guess, text)
            extra = next((s.evidence for s in agreeing if s.code == hit.node.code and s.rule == "keywords"), [])
            evidence = _unique([*hit.evidence, *extra])
            confidence = hit.confidence
            if confidence < threshold:  # a near-miss spelling, say: the content may confirm it
                support = next((s.score for s in agreeing if s.code == hit.node.code), 0.0)
                confidence = 1 - (1 - confidence) * (1 - support)
            own = Suggestion(hit.node.code, confidence, evidence, hit.rule)
            # The content's other readings follow, for a dispatcher who disagrees with the field.
            readings = _suggestions([_as_suggestion(s) for s in agreeing], own)
            if confidence < threshold:
                return Understanding(None, confidence, (), None, readings, reason="unknown_category")
            return Understanding(hit.node.code, confidence, evidence, hit.rule, readings)
        within = self._leaves[hit.node.code] if hit is not None else None
        if hit is not None and hit.rule in _LOOSE_RULES and within is not None:
            # A branch read loosely ("城建>排水防涝" → 排水设施) does not confine a content that clearly names
            # a leaf outside it (a flooded underpass): neither wins, the content's reading is suggested first.
            anywhere = self._content(found, guess, text)
            if anywhere and anywhere[0].code not in within and anywhere[0].score >= _CONFLICT_CONFIDENCE:
                return Understanding(None, anywhere[0].score, (), None,
                                     tuple(_as_suggestion(s) for s in anywhere), reason="unknown_category")
        content = self._content(found, guess, text, within)
        suggestions = [_as_suggestion(s) for s in content]
        if within is not None and hit is not None:
            # The branch the field named, its leaves in the content's order then the tree's.
            ranked = [s.code for s in content]
            rest = [c for c in within if c not in ranked]
            suggestions += [Suggestion(c, 0.0, hit.evidence, hit.rule) for c in rest]
        if content_free(text, self._fillers):  # nothing to read: the model's guesses would be noise
            return Understanding(None, 0.0, (), None, (), reason="category_unclear")
        if content and content[0].score >= threshold and not self._doubted(text, found[1]):
            best = content[0]
            evidence = _unique([*(hit.evidence if hit else ()), *best.evidence])
            return Understanding(best.code, best.score, evidence, best.rule, tuple(suggestions[:3]))
        return Understanding(None, content[0].score if content else 0.0, (), None, tuple(suggestions[:3]),
                             reason="unknown_category")

    def _with_danger(self, decided: Understanding, report: Mapping[str, Any]) -> Understanding:
        text = folded(" ".join(_text(report.get(k)) for k in ("title", "content")))
        found: list[str] = []
        level: str | None = None
        excepted = spans(text, self.policy.danger_exceptions, self.policy.danger_gap)
        before = taken_back(text, self.policy.danger_retractions, self._retraction_denials)
        if before:
            excepted.append((0, before))
        for group in self.policy.danger:
            words = affirmed(text, group.words, self._denials, excepted)
            if words:
                # The evidence names the longest word that matched (有人受伤, not also 受伤 inside it).
                found += [w for w in words
                          if not any(w in f for f in found) and not any(w != o and w in o for o in words)]
                if level is None or URGENCY_RANK[group.level] > URGENCY_RANK[level]:
                    level = group.level
        if not found:
            return decided
        return Understanding(decided.category, decided.confidence, decided.evidence, decided.rule,
                             decided.suggestions, decided.reason, level, tuple(found))


def trained(matrix: Matrix, policy: IntakePolicy | None, texts: Sequence[str], codes: Sequence[str]) -> Understander:
    """An understander whose model is trained on labelled texts, with the keyword matches as features."""
    plain_reader = Understander(matrix, policy)
    leaves = [path[-1].code for path in matrix.leaves()]
    model = train(texts, codes, [plain_reader.keyword_weights(t) for t in texts], leaves)
    return Understander(matrix, policy, model)


def raised_urgency(current: str, understood: Understanding | None) -> str:
    """The urgency after the words were read: never lower than `current` (normal < urgent < critical)."""
    if understood is None or understood.urgency is None:
        return current
    return understood.urgency if URGENCY_RANK[understood.urgency] > URGENCY_RANK.get(current, 0) else current


def _as_suggestion(scored: _Scored) -> Suggestion:
    return Suggestion(scored.code, scored.score, tuple(scored.evidence), scored.rule)


def _suggestions(content: list[Suggestion], first: Suggestion) -> tuple[Suggestion, ...]:
    return tuple([first, *(s for s in content if s.code != first.code)][:3])


def _unique(words: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        if word and word not in out:
            out.append(word)
    return tuple(out)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
