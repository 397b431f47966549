"""Place from the complaint's own words (issue 16 item 6): Gazetteer.find_in_text over free text.

Names and codes are the real ones of geo/data (NBS 2023 villages, MCA 2025 townships).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from connectors.hotline import HotlineTicket
from geo.gazetteer import TEXT_SCAN_CHARS, AddressMatch, Gazetteer

GAZ = Gazetteer.from_data_dir()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "address_labelled.csv"


def codes(m: AddressMatch) -> dict[str, str]:
    return {level: area.code for level, area in m.areas.items()}


def test_a_village_named_in_the_complaint_places_it_with_its_words_as_evidence() -> None:
    m = GAZ.find_in_text("我在双义村这边，道路积水")
    assert m.confident and m.level == "community"
    # 双义村委会 450107100207, 金陵镇, 西乡塘区
    assert codes(m) == {"county": "450107", "township": "450107100", "community": "450107100207"}
    assert m.matched == {"community": "双义村"}


def test_a_township_and_village_named_in_the_text_both_count() -> None:
    m = GAZ.find_in_text("邹圩镇新华村村口那段路，下雨以后积水一直没人处理")
    assert m.confident and codes(m) == {"county": "450126", "township": "450126106", "community": "450126106202"}
    assert m.matched == {"township": "邹圩镇", "community": "新华村"}
    m = GAZ.find_in_text("我是上林县的，大丰镇这边停电了")
    assert m.confident and codes(m) == {"county": "450125", "township": "450125100"}


@pytest.mark.parametrize("text", [
    "路灯不亮",
    "我家楼下一排路灯晚上全部不亮，已经三天了",
    "工地夜间施工噪音扰民，凌晨两点还在打桩",
    "村里的路灯坏了没人修",
    "下大雨以后道路积水严重，车都过不去",
])
def test_a_text_naming_no_place_places_nothing(text: str) -> None:
    m = GAZ.find_in_text(text)
    assert not m.confident and m.areas == {} and m.matched == {}


def test_a_village_name_two_villages_share_is_not_confident() -> None:
    # 新华村委会: one in 马山县林圩镇, one in 宾阳县邹圩镇.
    m = GAZ.find_in_text("新华村那边路灯坏了")
    assert not m.confident and m.areas == {}
    assert {a.code for a in m.ambiguous} == {"450124102203", "450126106202"}


@pytest.mark.parametrize(("text", "as_address"), [
    ("这家江南菜馆油烟很大", "450105"),  # 江南区
    ("今年大丰收，晒谷占了路", "450125100"),  # 大丰镇
    ("我家在石埠这边，停水了", "450107009"),  # 石埠街道
])
def test_in_prose_a_bare_name_alone_is_not_enough(text: str, as_address: str) -> None:
    """In an address field the bare name routes; in a complaint it may be a word, so it does not."""
    assert as_address in codes(GAZ.match(text)).values()
    assert not GAZ.find_in_text(text).confident


def test_only_the_start_of_a_long_text_is_read() -> None:
    filler = "道路积水，" * (TEXT_SCAN_CHARS // 5)
    assert GAZ.find_in_text("我在双义村这边。" + filler).confident
    assert not GAZ.find_in_text(filler + "我在双义村这边。").confident


def test_labelled_complaints_read_as_prose_route_right_or_not_at_all() -> None:
    """The address set's texts are complaints with the place inside ("市民来电反映：…（古思村）有人倾倒建筑垃圾"),
    labelled by how make_address_set.py wrote them. Read as prose they lose a few bare-name routes (README
    figures) but gain no wrong one: every confident answer agrees with the labels but one typo that spells
    another real community (as in the address reading)."""
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    placed = right = wrong = 0
    for r in rows:
        m = GAZ.find_in_text(r["text"])
        placed += bool(r["expected_county"])
        if not m.confident:
            continue
        # A statistics-only unit (township_nbs) is not an official township: the labels leave it empty.
        if all(r[f"expected_{lv}"] == a.code for lv, a in m.areas.items() if a.level != "township_nbs"):
            right += 1
        else:
            wrong += 1
    print(f"prose: {right}/{placed} texts naming a place routed right, {wrong}/{len(rows)} confidently wrong")
    assert wrong <= 1 and right >= 0.93 * placed


def _ticket(**place: object) -> dict[str, object]:
    return {"ticket_no": "T1", "type": "complaint", "category": "其他", "content": "我在双义村这边，道路积水",
            "reported_at": "2026-12-06T08:00:00+08:00", **place}


def test_a_ticket_may_omit_location_and_address_and_carries_its_content_to_intake() -> None:
    submission = HotlineTicket.model_validate(_ticket()).submission()
    assert (submission.point, submission.address) == (None, None)
    assert submission.content == "我在双义村这边，道路积水"


def test_a_ticket_without_content_is_refused_naming_content() -> None:
    body = _ticket()
    del body["content"]
    with pytest.raises(ValueError, match="content") as caught:
        HotlineTicket.model_validate(body)
    assert [e["loc"] for e in caught.value.errors()] == [("content",)]  # type: ignore[attr-defined]
