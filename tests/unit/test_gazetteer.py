"""geo.gazetteer and geo.address_normalize: address text → county / township / community.

The accuracy test runs over tests/fixtures/address_labelled.csv, whose labels
come from how make_address_set.py wrote each text, not from the gazetteer.
``pytest -s`` prints the measured figures.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import pytest

from geo.address_normalize import best_cover, community_forms, county_forms, form_score, normalize, township_forms
from geo.areas import Area
from geo.gazetteer import AddressMatch, Gazetteer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "address_labelled.csv"
_t0 = time.perf_counter()
GAZ = Gazetteer.from_data_dir()
BUILD_S = time.perf_counter() - _t0


def codes(m: AddressMatch) -> dict[str, str]:
    return {level: area.code for level, area in m.areas.items()}


# -- normalisation and forms -----------------------------------------------------------


def test_normalize_full_width_spaces_punctuation_and_prefixes() -> None:
    assert normalize("广西壮族自治区南宁市 青秀区（新竹街道）１２号").text == "青秀区新竹街道12号"
    assert normalize("中国广西南宁青秀区").text == "青秀区"
    assert normalize("ＡＢＣ　路").text == "abc路"
    assert normalize("罗村邨口").text == "罗村村口"  # 邨 is the old form of 村
    assert normalize("吴墟镇").text == "吴圩镇"
    assert normalize("南宁").text == "南宁"  # nothing left to strip it from
    assert normalize("").text == ""


def test_normalize_keeps_offsets_into_the_original() -> None:
    source = "我在 兴宁　社区，门口"
    nt = normalize(source)
    start = nt.text.index("兴宁社区")
    assert nt.original(source, start, start + 4) == "兴宁　社区"


def test_forms() -> None:
    assert dict(county_forms("青秀区")) == {"青秀区": "full", "青秀": "short"}
    assert dict(county_forms("横州市"))["横州"] == "short"
    assert dict(county_forms("隆安县"))["隆安"] == "short"
    assert dict(township_forms("新竹街道"))["新竹"] == "short"
    assert dict(township_forms("三塘镇"))["三塘"] == "short"
    assert dict(township_forms("古寨瑶族乡"))["古寨乡"] == "suffixed"
    assert dict(township_forms("仙葫经济开发区"))["仙葫开发区"] == "suffixed"
    assert "经开区" in dict(township_forms("经济技术开发区"))
    forms = dict(community_forms("兴宁社区居委会"))
    assert forms["兴宁社区"] == "suffixed" and forms["兴宁"] == "short"
    forms = dict(community_forms("长塘村委会"))
    assert forms["长塘村"] == "suffixed" and forms["长塘村民委员会"] == "full"
    assert "罗村" in dict(community_forms("罗村村委会"))
    assert community_forms("青秀山虚拟社区") == [("青秀山虚拟社区", "full")]


# -- the data and its mapping ------------------------------------------------------------


def test_build_notes_count_the_code_mapping() -> None:
    assert GAZ.notes == {
        "counties": 12,
        "townships_mca": 127,
        "nbs_townships_renamed": 4,
        "nbs_only_units": 11,
        "communities": 1856,
        "communities_remapped_by_name": 54,
        "communities_under_nbs_units": 37,
    }
    # 五塘镇 was 450102102 in NBS 2023 and is 450102107 in MCA 2025: its communities follow the name.
    wutang = [a for a in GAZ.areas() if a.code.startswith("450102102") and a.level == "community"]
    assert wutang and {a.parent_code for a in wutang} == {"450102107"}
    assert GAZ.area("450103400").level == "township_nbs"


# -- matching rules ---------------------------------------------------------------------


def test_full_chain_fills_every_level() -> None:
    m = GAZ.match("广西南宁市青秀区新竹街道新竹社区门口垃圾很多")
    assert m.confident and m.level == "community"
    assert codes(m) == {"county": "450103", "township": "450103001", "community": "450103001005"}
    assert m.matched == {"county": "青秀区", "township": "新竹街道", "community": "新竹社区"}


def test_parents_come_from_the_hierarchy() -> None:
    m = GAZ.match("我在兴宁社区这边，路灯不亮")
    assert m.level == "community" and m.confident
    assert codes(m) == {"county": "450102", "township": "450102001", "community": "450102001003"}
    assert m.matched == {"community": "兴宁社区"}


@pytest.mark.parametrize(
    ("text", "level", "code"),
    [
        ("青秀路123号有个坑", None, None),  # 青秀路 is a road
        ("青秀这边路灯不亮", "county", "450103"),
        ("横州那边", "county", "450181"),  # the city, not 横州镇
        ("横县六景镇", "township", "450181108"),  # the pre-2021 name
        ("隆安县城厢镇", "township", "450123100"),
        ("三塘那里路灯坏了", "township", "450102101"),
        ("新竹街道办事处门口", "township", "450103001"),
        ("兴宁社区居委会", "community", "450102001003"),
        ("兴宁居委会门口", "community", "450102001003"),
    ],
)
def test_short_and_full_forms(text: str, level: str | None, code: str | None) -> None:
    m = GAZ.match(text)
    assert m.level == level
    if code is not None:
        assert m.areas[level].code == code and m.confident  # type: ignore[index]


@pytest.mark.parametrize(
    "text", ["新村路口有个坑", "中心那边停水", "城东垃圾多", "和平这边", "那里的路灯坏了", "东", "", "12345"]
)
def test_generic_or_short_words_are_never_confident_alone(text: str) -> None:
    assert not GAZ.match(text).confident


def test_duplicated_community_name_needs_its_township() -> None:
    m = GAZ.match("新兴社区门口垃圾很多")  # five 新兴社区 in five counties
    assert m.level is None and not m.confident
    assert len(m.ambiguous) == 5 and all(a.level == "community" for a in m.ambiguous)
    m = GAZ.match("邕宁区新兴社区门口垃圾很多")
    assert m.level == "community" and m.areas["community"].code == "450109100004"


def test_ambiguity_falls_back_to_the_shared_ancestor() -> None:
    # A 社区 name found twice in one county, looked up in the data so no code is hand-picked.
    by_name: dict[str, list[Area]] = {}
    for a in GAZ.areas():
        if a.level == "community" and a.name.endswith("社区居委会"):
            by_name.setdefault(a.name, []).append(a)
    county_of = {a.code: GAZ.area(a.parent_code or "").parent_code for a in GAZ.areas() if a.level == "community"}
    a, b = next(v for v in by_name.values() if len(v) == 2 and county_of[v[0].code] == county_of[v[1].code])
    county = GAZ.area(county_of[a.code] or "")
    m = GAZ.match(f"{county.name}{a.name[:-3]}门口")
    assert m.level == "county" and m.areas["county"].code == county.code
    assert {x.code for x in m.ambiguous} == {a.code, b.code}


def test_county_and_community_that_disagree_go_to_triage() -> None:
    m = GAZ.match("青秀区兴宁社区门口")  # 兴宁社区 is in 兴宁区
    assert not m.confident and m.level is None
    assert {x.code for x in m.ambiguous} == {"450103", "450102001003"}


def test_name_of_a_county_and_of_a_town_elsewhere_is_ambiguous() -> None:
    assert GAZ.match("马山县").areas["county"].code == "450124"
    m = GAZ.match("马山那边")  # 马山县, or 马山镇 in 横州市
    assert m.level is None and {x.code for x in m.ambiguous} == {"450124", "450181116"}
    assert GAZ.match("横州市马山镇").areas["township"].code == "450181116"


def test_roads_named_after_areas_are_not_areas() -> None:
    assert GAZ.match("朝阳路有个坑").level is None
    m = GAZ.match("南宁市兴宁区朝阳路12号附近（兴宁社区）噪音扰民")
    assert m.level == "community" and m.areas["community"].code == "450102001003"


def test_near_miss_is_found_with_lower_confidence() -> None:
    exact = GAZ.match("那洪街道北部湾社区门口")
    assert exact.level == "community"
    typo = GAZ.match("那洪街道北部弯社区门口")  # 湾 → 弯
    assert typo.level == "community" and typo.areas["community"] == exact.areas["community"]
    assert typo.confidence < exact.confidence
    alone = GAZ.match("北部弯社区门口")  # 2 of 3 characters: a suggestion, not an answer
    assert not alone.confident and alone.suggestion == exact.areas["community"]


def test_bare_name_counts_only_after_its_parent() -> None:
    assert not GAZ.match("锦亮路灯坏了").confident
    m = GAZ.match("大塘镇锦亮路灯坏了")  # "路灯" is a street lamp, not 锦亮路
    assert m.level == "community" and m.areas["community"].name == "锦亮村委会"
    assert GAZ.match("我在共和这边").level is None  # an everyday word, and three villages
    assert GAZ.match("那马镇共和").areas["community"].code == "450108101201"


@pytest.mark.parametrize(
    ("text", "community"),
    [
        ("横州镇龙乡盐田", "盐田村委会"),  # 横州 + 镇龙乡, not 横州镇 + 龙乡
        ("那马镇坛良村村委旁边", "坛良村委会"),  # 坛良村 + 村委, not 坛 + 良村村委
        ("我要反映一下，灵水社区居委会门口", "灵水社区居委会"),  # 一下 + 灵水…, not 下灵
    ],
)
def test_text_is_split_for_the_most_covered_characters(text: str, community: str) -> None:
    m = GAZ.match(text)
    assert m.level == "community" and m.areas["community"].name == community


def test_a_bare_name_cannot_start_on_the_last_character_of_the_name_before() -> None:
    # 镇圩 (镇圩瑶族乡) would otherwise take the 镇 of 校椅镇.
    m = GAZ.match("校椅镇圩上井盖缺失")
    assert m.level == "township" and m.matched == {"township": "校椅镇"}
    m = GAZ.match("横州市镇龙街上")  # no full name ends on this 镇: 镇龙 is 镇龙乡
    assert m.level == "township" and m.areas["township"].name == "镇龙乡"


def test_other_cities_are_not_nanning() -> None:
    m = GAZ.match("柳州市城中区中华社区门口噪音扰民")
    assert not m.confident and m.outside
    assert not GAZ.match("桂林市七星区七星村入口处").confident  # 七星村 exists in 宾阳县
    assert GAZ.match("七星村入口处").areas["community"].name == "七星村委会"
    assert GAZ.match("我从柳州来，在青秀区新竹街道新竹社区被偷了").level == "community"


def test_statistics_only_unit_is_a_township_nbs() -> None:
    m = GAZ.match("仙葫经济开发区")
    assert m.level == "township" and m.areas["township"].level == "township_nbs"


def test_threshold_is_configurable() -> None:
    strict = Gazetteer.from_data_dir(threshold=0.995)
    assert GAZ.match("兴宁区北宁社区这边").level == "community"
    m = strict.match("兴宁区北宁社区这边")
    assert m.level == "county" and m.confident  # the community's 0.99 is not enough any more
    assert m.suggestion is not None and m.suggestion.name == "北宁社区居委会"
    with pytest.raises(ValueError):
        Gazetteer([], threshold=0.0)


def test_small_hand_made_gazetteer() -> None:
    areas = [
        Area("450199", "甲区", "district", "450100"),
        Area("450199001", "乙街道", "township", "450199"),
        Area("450199001001", "丙丁社区居委会", "community", "450199001"),
    ]
    g = Gazetteer(areas)
    expected = {"county": "450199", "township": "450199001", "community": "450199001001"}
    assert codes(g.match("甲区乙街道丙丁社区")) == expected
    assert g.match("乙").level is None  # one character is never a name
    with pytest.raises(ValueError, match="parents"):
        Gazetteer(areas[1:])  # a township without its county


def test_best_cover_and_form_scores() -> None:
    # (start, end, score): two short spans covering 5 characters beat one covering 3.
    assert best_cover(5, [(0, 3, 1.0), (0, 2, 0.9), (2, 5, 1.0)]) == [1, 2]
    assert best_cover(4, [(0, 4, 0.9), (0, 2, 1.0), (2, 4, 1.0)]) == [0]  # fewer spans on a tie
    assert best_cover(0, []) == []
    assert form_score(3, "full", "兴宁社区居委会") == 1.0
    assert form_score(3, "short", "竹溪") < 0.8 <= form_score(3, "short", "北部湾")
    assert form_score(3, "short", "和平") < form_score(3, "short", "竹溪")  # an everyday word
    assert form_score(3, "short", "长堽路") < 0.5  # a road


# -- accuracy over the labelled set ------------------------------------------------------


def test_accuracy_on_labelled_set() -> None:
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 1500
    t0 = time.perf_counter()
    results = [GAZ.match(r["text"]) for r in rows]
    us = (time.perf_counter() - t0) / len(rows) * 1e6
    n: Counter[str] = Counter()
    wrong: list[str] = []
    for r, m in zip(rows, results, strict=True):
        got = codes(m)
        town = m.areas.get("township")
        # A statistics-only unit (township_nbs) is not an official township: the labels leave it empty.
        got["township"] = town.code if town is not None and town.level == "township" else ""
        got.setdefault("county", "")
        got.setdefault("community", "")
        exp = {level: r[f"expected_{level}"] for level in ("county", "township", "community")}
        kind = r["kind"]
        n[kind] += 1
        n[f"{kind} exact"] += got == exp
        if exp["county"]:
            n["place"] += 1
            n["county ok"] += got["county"] == exp["county"]
        if exp["township"]:
            n["town"] += 1
            n["town ok"] += got["township"] == exp["township"]
        if exp["community"]:
            n["comm"] += 1
            n["comm ok"] += got["community"] == exp["community"]
        if r["expected_ambiguous"] == "1":
            n["amb"] += 1
            n["amb confident community"] += bool(got["community"])
            n["amb handled"] += not got["community"] and len(m.ambiguous) >= 2
        if not exp["county"] and r["expected_ambiguous"] == "0":
            n["noplace"] += 1
            n["noplace confident"] += m.confident
        # Confident and wrong at some level: the harm the threshold exists to prevent.
        if any(got[level] and got[level] != exp[level] for level in exp):
            n["false confident"] += 1
            wrong.append(f"  {kind}: {r['text']} -> {got} (expected {exp})")
    county_acc, town_acc = n["county ok"] / n["place"], n["town ok"] / n["town"]
    print(f"\nlabelled texts {len(rows)}; gazetteer build {BUILD_S * 1000:.0f} ms; match {us:.0f} µs/text")
    print(f"county right {county_acc:.1%} of {n['place']} texts naming a place")
    comm_acc = n["comm ok"] / n["comm"]
    print(f"township right {town_acc:.1%} of {n['town']}; community right {comm_acc:.1%} of {n['comm']}")
    print(
        f"ambiguous {n['amb']}: handled (no community, >= 2 candidates) {n['amb handled']}, "
        f"confident about a community {n['amb confident community']}"
    )
    print(f"no place or outside Nanning {n['noplace']}: confident {n['noplace confident']}")
    print(f"false confident (some level confidently wrong) {n['false confident']} of {len(rows)}")
    kinds = sorted({r["kind"] for r in rows})
    print("all labels right, by kind: " + ", ".join(f"{k} {n[f'{k} exact']}/{n[k]}" for k in kinds))
    print("\n".join(wrong))
    assert county_acc >= 0.95
    assert town_acc >= 0.90
    assert n["amb confident community"] <= 0.01 * n["amb"]
    assert n["noplace confident"] == 0
    assert n["false confident"] <= 0.01 * len(rows)
    assert us < 1000  # about 50 µs here; a generous bound for slow CI machines
