"""Address text: normalisation, the spoken forms of area names, what each form
is worth as evidence, and how to split a text into known names.

Hotline operators type what the caller says, so the same place arrives as
"广西南宁市青秀区新竹街道竹溪社区居委会", "青秀 新竹竹溪社区" or "竹溪社区门口".
This module only deals with strings; geo.gazetteer decides what they mean.

Nothing here reads files, so importing it is free.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FILLER_WORDS",
    "FORMER_NAMES",
    "GENERIC_WORDS",
    "LEVEL_CHARS",
    "NOT_ROADS",
    "OTHER_CITIES",
    "OTHER_PROVINCES",
    "ROAD_SUFFIXES",
    "FormKind",
    "NormalizedText",
    "best_cover",
    "community_core",
    "community_forms",
    "county_forms",
    "form_score",
    "normalize",
    "township_forms",
]

# "full": the official name or an equally formal variant (社区居民委员会 for 社区居委会).
# "suffixed": a shorter name that still says what kind of unit it is (竹溪社区, 三塘村).
# "short": the bare name (青秀, 新竹, 竹溪). Bare names collide with words and roads.
FormKind = Literal["full", "suffixed", "short"]

# Dropped from the start only: in the middle of a text "南宁" can be part of a
# name (南宁华侨投资区). Elsewhere they are filler words (below).
_LEADING_NOISE = ("中华人民共和国", "中国", "广西壮族自治区", "广西自治区", "广西省", "广西", "南宁市", "南宁")

# Variant characters callers or input methods produce for characters of the
# official names. 邨 is the old form of 村; 墟 is how many people write the
# market-town 圩 (吴圩 / 吴墟). No official Nanning name contains 邨 or 墟.
_VARIANTS = str.maketrans({"邨": "村", "墟": "圩"})

# A bare name followed by one of these is a road, a park or a river named
# after the area (朝阳路, 南湖公园, 心圩江), which may well run elsewhere.
# Schools and markets are not here: they usually lie in the area they are named after.
# 区 and 县 too: a bare name before them is a district of its own (桂林市七星区, not 七星村).
ROAD_SUFFIXES = (
    "路", "大道", "大街", "街", "巷", "弄", "桥", "立交", "隧道", "公园", "广场", "江", "湖", "码头", "站", "区", "县",
)  # fmt: skip
# …except these, which start a word of their own: 街道 (sub-district), 路口, 路灯 ("锦亮路灯坏了"), 街上.
NOT_ROADS = ("街道", "街上", "路口", "路灯", "路面", "路边")
# Last characters of full names: a bare name cannot start on one that ends the name before it.
LEVEL_CHARS = "镇乡村区县市街"

# Words that often follow a village name and are not names (村口 "village entrance",
# 村委 "village committee"). They take part in splitting the text only, so that
# "坛良村村委" reads 坛良村 + 村委, not 坛 + 良村村委.
# The province and city names too: "地址：广西明新村" is 广西 + 明新村, not 西明 + 新村.
FILLER_WORDS = (
    "村委会", "村委", "村民委员会", "村口", "村里", "村头", "村民", "村道", "居委会", "居委", *_LEADING_NOISE,
)  # fmt: skip

# Bare names that are also everyday words, slogans or names repeated all over
# China (和平, 新兴, 那里 "there", 中学 "middle school", 江西 the province).
# Found by checking every bare name in the Nanning data against the word
# frequencies of jieba's dictionary (frequency > 300), then read by hand.
# Such a bare name is weak evidence: only a parent written right before it
# makes it count. With its suffix (新兴社区, 和平村) it is a normal name.
GENERIC_WORDS = frozenset(
    (
        "文化", "建设", "民族", "长江", "农业", "合作", "那里", "胜利", "联合", "民主", "中学", "和平", "大陆", "将军",
        "一致", "长安", "平等", "解放", "创新", "东南", "团结", "合理", "阳光", "大桥", "上级", "罗马", "前进", "西安",
        "中华", "民政", "繁荣", "共和", "城中", "东湖", "古城", "公平", "保卫", "高峰", "华山", "友谊", "长大", "平安",
        "龙头", "新生", "凤凰", "天堂", "西边", "光明", "新兴", "高山", "青春", "山河", "东风", "帽子", "南岸", "吉祥",
        "城北", "白衣", "平稳", "南面", "中兴", "振兴", "华南", "永安", "山口", "大山", "天亮", "中南", "三军", "新风",
        "永久", "平地", "育才", "大同", "新华", "保安", "亲爱", "英俊", "嘉宾", "长虹", "新村", "喜庆", "三星", "芳香",
        "草木", "金光", "南山", "城南", "新城", "清水", "友爱", "幸福", "红星", "人民", "中心", "城东", "城西", "新区",
        "东方", "江南", "中山", "太平", "朝阳", "民生", "中和", "南湖", "北湖", "明亮", "安宁", "江西", "南阳", "延安",
        "衡阳", "新桥", "双桥", "百合", "华侨", "城厢", "三联", "新联",
    )
)  # fmt: skip

# How much a form found in a text says, by (depth, kind); depth 1 county, 2
# township, 3 community. People name counties by the short form (青秀); a
# short township name is often also a road's (朝阳); a two-character bare
# community name (竹溪) needs a parent in the text to count.
_SCORES: dict[tuple[int, FormKind], float] = {
    (1, "full"): 1.0, (1, "suffixed"): 0.95, (1, "short"): 0.9,
    (2, "full"): 1.0, (2, "suffixed"): 0.95, (2, "short"): 0.8,
    (3, "full"): 1.0, (3, "suffixed"): 0.95, (3, "short"): 0.85,
}  # fmt: skip
_GENERIC_SCORES = {1: 0.8, 2: 0.6, 3: 0.3}  # 江南 (the district, in Nanning), 中山, 和平
_STATISTICAL_SHORT = 0.7  # 仙葫, 明阳: statistics-only units are named less often
_BARE_2, _BARE_2_VILLAGE = 0.6, 0.75  # 竹溪; 罗村 (two characters, but it says 村)

# Other places a Nanning hotline hears about: a text naming one of them is not
# about Nanning, whatever community name follows (柳州市中华社区).
OTHER_CITIES = (
    "柳州", "桂林", "梧州", "北海", "防城港", "钦州", "贵港", "玉林", "百色", "贺州", "河池", "来宾", "崇左", "凭祥",
    "广州", "深圳", "佛山", "东莞", "湛江", "茂名", "北京", "上海", "长沙", "昆明", "贵阳", "海口", "成都", "重庆",
    "武汉", "杭州", "南昌", "福州", "厦门",
)  # fmt: skip
OTHER_PROVINCES = (
    "广东省", "湖南省", "云南省", "贵州省", "海南省", "江西省", "福建省", "四川省", "湖北省", "浙江省", "江苏省",
)  # fmt: skip
# Names in use before a renaming: 横县 → 横州市 (2021), 武鸣县 → 武鸣区 (2015), 邕宁县 → 邕宁区 (2004).
FORMER_NAMES = {"横县": "横州市", "武鸣县": "武鸣区", "邕宁县": "邕宁区"}

_COUNTY_SUFFIXES = ("自治县", "区", "县", "市")
_TOWNSHIP_SUFFIXES = ("街道办事处", "街道", "镇", "乡")
# Statistics-only township units (开发区, 农场 ...) and the names people use for them.
_UNIT_SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("经济技术开发区", ("经开区",)),
    ("高新技术开发区", ("高新区",)),
    ("经济开发区", ("开发区", "经开区")),
    ("工业园区", ("工业园",)),
    ("投资区", ()),
    ("管理区", ()),
    ("矿务局", ()),
    ("农场", ()),
)
# Longest first, so 社区居委会 is stripped whole and not as 居委会.
_COMMUNITY_SUFFIXES = ("社区居民委员会", "社区居委会", "居民委员会", "居委会", "村民委员会", "村委会", "生活区", "社区")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus, for each of its characters, the index of the
    original character it came from, so a match can be shown as the caller wrote it."""

    text: str
    offsets: tuple[int, ...]

    def original(self, source: str, start: int, end: int) -> str:
        """The part of ``source`` that produced normalised characters [start, end)."""
        if start >= end:
            return ""
        return source[self.offsets[start] : self.offsets[end - 1] + 1]


def normalize(text: str) -> NormalizedText:
    """NFKC (full-width → half-width), lower-case, variant characters unified,
    everything but letters, digits and ideographs dropped, leading 中国/广西/南宁
    dropped. "（青秀区）新竹 街道" → "青秀区新竹街道"."""
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        # Per character, so each output character knows where it came from;
        # NFKC may turn one character into several (㈱ → (株)).
        for out in unicodedata.normalize("NFKC", ch).lower().translate(_VARIANTS):
            if out.isalnum():
                chars.append(out)
                offsets.append(i)
    norm = "".join(chars)
    start = 0
    stripped = True
    while stripped:
        stripped = False
        for prefix in _LEADING_NOISE:
            if norm.startswith(prefix, start) and len(norm) > start + len(prefix):
                start += len(prefix)
                stripped = True
                break
    return NormalizedText(norm[start:], tuple(offsets[start:]))


def best_cover(size: int, spans: Sequence[tuple[int, int, float]]) -> list[int]:
    """Indices of the non-overlapping (start, end, score) spans over a text of
    ``size`` characters that cover the most characters, with the fewest spans,
    then the highest score; among equals the span listed first at a position.
    Greedy longest-first would read "横州镇龙乡" as 横州镇 + 龙乡, not 横州 + 镇龙乡."""
    starting: list[list[int]] = [[] for _ in range(size)]
    for k, (start, _, _) in enumerate(spans):
        starting[start].append(k)
    # best[i] = (covered, -spans, score, chosen) over text[i:], filled right to left.
    best: list[tuple[int, int, float, tuple[int, ...]]] = [(0, 0, 0.0, ())] * (size + 1)
    for i in range(size - 1, -1, -1):
        options = []
        for k in starting[i]:
            start, end, score = spans[k]
            covered, count, total, rest = best[end]
            options.append((covered + end - start, count - 1, total + score, (k, *rest)))
        options.append(best[i + 1])
        best[i] = max(options, key=lambda o: o[:3])  # max() keeps the first of equals
    return list(best[0][3])


def form_score(depth: int, kind: FormKind, surface: str, *, statistical: bool = False) -> float:
    """Evidence, in [0, 1], that ``surface`` found in a text names the area it is a
    form of. ``statistical``: a statistics-only township unit."""
    if kind != "short":
        return _SCORES[depth, kind]
    # 长堽路 as a bare name is the road; only "长堽路社区" names the community.
    if surface in GENERIC_WORDS or (depth == 3 and surface.endswith(("路", "道", "街"))):
        return _GENERIC_SCORES[depth]
    if statistical:
        return _STATISTICAL_SHORT
    if depth == 3 and len(surface) == 2:
        return _BARE_2_VILLAGE if surface.endswith("村") else _BARE_2
    return _SCORES[depth, kind]


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> tuple[str, str]:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return name, ""


def county_forms(name: str) -> list[tuple[str, FormKind]]:
    """青秀区 → 青秀区 (full), 青秀 (short). 横州市 → 横州市, 横县 (former name), 横州."""
    forms: list[tuple[str, FormKind]] = [(name, "full")]
    forms += [(old, "suffixed") for old, new in FORMER_NAMES.items() if new == name]
    stem, _ = _strip_suffix(name, _COUNTY_SUFFIXES)
    if stem != name and len(stem) >= 2:
        forms.append((stem, "short"))
    return forms


def township_forms(name: str) -> list[tuple[str, FormKind]]:
    """新竹街道 → 新竹街道, 新竹街道办事处, 新竹街道办, 新竹 (short).
    古寨瑶族乡 → 古寨瑶族乡, 古寨乡, 古寨. 仙葫经济开发区 → …, 仙葫开发区, 仙葫.
    A one-character stem is never a form of its own."""
    forms: list[tuple[str, FormKind]] = [(name, "full")]
    stem, suffix = _strip_suffix(name, _TOWNSHIP_SUFFIXES)
    if suffix == "街道":
        forms += [(name + "办事处", "full"), (name + "办", "suffixed")]
    elif suffix == "乡" and stem.endswith("族") and len(stem) > 3:
        # 瑶族乡: callers drop the nationality (古寨乡).
        stem = stem[:-2]
        forms.append((stem + "乡", "suffixed"))
    elif not suffix:
        # 南宁华侨投资区 is also called 华侨投资区.
        base = name[2:] if name.startswith("南宁") and len(name) > 4 else name
        if base != name:
            forms.append((base, "suffixed"))
        stem = base
        for unit_suffix, aliases in _UNIT_SUFFIXES:
            if base.endswith(unit_suffix):
                stem = base[: -len(unit_suffix)]
                forms += [(stem + alias, "suffixed") for alias in aliases if stem or len(alias) >= 3]
                break
    if stem != name and len(stem) >= 2:
        forms.append((stem, "short"))
    return _unique(forms)


def community_core(name: str) -> str:
    """The bare name: 竹溪社区居委会 → 竹溪, 罗村村委会 → 罗村, 里建农场生活区 → 里建农场."""
    return _strip_suffix(name, _COMMUNITY_SUFFIXES)[0]


def community_forms(name: str) -> list[tuple[str, FormKind]]:
    """兴宁社区居委会 → 兴宁社区居委会, 兴宁社区居民委员会, 兴宁社区, 兴宁居委会, 兴宁居委, 兴宁.
    长塘村委会 → 长塘村委会, 长塘村民委员会, 长塘村委, 长塘村, 长塘.
    Statistical placeholders (…虚拟社区) have no spoken forms: nobody calls the hotline from them."""
    if "虚拟" in name:
        return [(name, "full")]
    core, suffix = _strip_suffix(name, _COMMUNITY_SUFFIXES)
    forms: list[tuple[str, FormKind]] = [(name, "full")]
    if suffix in ("社区居民委员会", "社区居委会", "社区"):
        forms += [
            (core + "社区居民委员会", "full"),
            (core + "社区居委会", "full"),
            (core + "社区", "suffixed"),
            (core + "居委会", "suffixed"),
            (core + "居委", "suffixed"),
        ]
    elif suffix in ("居民委员会", "居委会"):
        forms += [(core + "居民委员会", "full"), (core + "居委会", "suffixed")]
    elif suffix in ("村民委员会", "村委会"):
        forms += [(core + "村民委员会", "full"), (core + "村委会", "full"), (core + "村委", "suffixed")]
        forms.append((core + "村", "suffixed"))
    if core != name and len(core) >= 2:
        forms.append((core, "short"))
    return _unique(forms)


def _unique(forms: list[tuple[str, FormKind]]) -> list[tuple[str, FormKind]]:
    # The first (most formal) kind wins when two rules give the same string.
    seen: dict[str, FormKind] = {}
    for surface, kind in forms:
        seen.setdefault(surface, kind)
    return list(seen.items())
