"""Danger from the text (issue 16 item 5): the families of danger expressions, phrase rules ("燃气…味"),
what is past, feared or mistaken (上周, 怕, 以为), the exceptions, and that a city edits all of them in the
policy. Pure: the demo matrix and the intake policy, no model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.understanding import DangerWords, IntakePolicy, Understander, Understanding
from dispatch.understanding.config import DEFAULT_DANGER
from dispatch.understanding.text import PHRASE_GAP, Denials, _matches, affirmed, folded
from tools.demo_matrix import demo_matrix, demo_policy

READER = Understander(demo_matrix(), demo_policy().intake)


def read(content: str, reader: Understander = READER) -> Understanding:
    return reader.understand({"category": "其他", "content": content})


@pytest.mark.parametrize(("content", "urgency", "word"), [
    # Gas smelt or heard, the gas named before or after the smell (a phrase rule, within one sentence).
    ("我家燃气表那里一直有气味，来电人很担心", "critical", "燃气…味"),
    ("一开门就闻到很浓的气味，好像是燃气", "critical", "气味…燃气"),
    ("厨房闻到一股臭鸡蛋味，关了阀门还是有", "critical", "臭鸡蛋"),
    ("施工把燃气管道挖断了，附近的人都在跑", "critical", "燃气…挖断"),
    # The ground giving way, people or vehicles in the hole.
    ("路口突然陷下去一个大坑，还在往下掉土", "critical", "陷下去"),
    ("那条水泥路垮了一大块，一辆三轮车翻进坑里", "critical", "垮了"),
    ("井盖没了，刚才有个骑车的掉进去了", "critical", "骑车…掉进去"),
    # Deep water with people or cars in it.
    ("隧道里面水越来越深，已经有两辆车困住了", "critical", "困住"),
    ("路口积水很深，有车在水里熄火了", "critical", "水里熄火"),
    ("被水淹了，水已经进到屋里齐腰深", "critical", "齐腰深"),
    # Fire burning, a lift with someone in it.
    ("烧垃圾的火堆烧着了旁边的棚子，火苗窜得老高", "critical", "烧着了"),
    ("停电了，电梯里面关了人，叫了半天没反应", "critical", "电梯…关了人"),
    # Trees and signs down on houses, cars or wires, or about to come down.
    ("一棵大树被雨冲得倒在人家屋顶上，屋里有老人", "critical", "树…倒在…屋"),
    ("门口倒了一棵树，砸断了电线，地上有电线", "critical", "砸断…电线"),
    ("台风把榕树刮倒了，压在一辆停着的小车上", "urgent", "压在…车"),
    ("有块路牌歪了快掉下来，挂在头顶上晃", "urgent", "快掉下来"),
])
def test_each_family_of_danger_expressions_is_recognised(content: str, urgency: str, word: str) -> None:
    understood = read(content)
    assert understood.urgency == urgency
    assert word in understood.danger  # the evidence names the rule that matched


@pytest.mark.parametrize("content", [
    "北湖北路某小区上周闻到煤气味，燃气公司来修好了",  # past
    "之前反映的燃气管漏气已经修好了，就是想问要不要再检查",  # past
    "限高的牌子杆子锈断了，整块耷拉下来，怕砸到人",  # feared
    "楼上每天晚上砰砰响，一开始还以为是爆炸，其实是在装修",  # mistaken
])
def test_a_past_feared_or_mistaken_danger_does_not_count(content: str) -> None:
    assert read(content).danger == ()


def test_the_hypothetical_words_are_the_policys_and_only_deny_before_the_word() -> None:
    assert read("整块牌子耷拉下来，会砸到人，我很怕").danger == ("砸到人",)  # 怕 after the word: still present
    lenient = Understander(demo_matrix(), IntakePolicy(danger_hypotheticals=()))
    assert read("整块牌子耷拉下来，怕砸到人", lenient).danger == ("砸到人",)


@pytest.mark.parametrize("content", [
    "燃气表那里没有气味，就是想问下抄表的事",  # the phrase's later part negated
    "燃气灶打不着火，也没有漏气的味道",  # negated between the parts
    "燃气费交了。家里厨房有股味道，是垃圾没倒",  # the parts in two sentences
    "那棵老树倒了，挡住了进村的路",  # a tree down across a road: not a danger to life (the labelled sets agree)
    "秀厢大道那段积水到膝盖了，公交车都停了",  # deep water alone
    "我们店在朝阳路，今天下午停电到现在，生意都做不了",  # 电到 inside 停电到现在
    "景观灯一闪一闪的，像是接触不良，看得头晕",  # 头晕 from a flickering light
    # The family words kept narrow enough for everyday complaints:
    "有人把垃圾倒在屋后面",  # 倒在…屋 without a tree
    "电梯里灯关了，黑乎乎的",  # a lift without anyone shut in
    "绿化带的草长得齐腰高",  # 齐腰 without water
    "有个手机掉进去了，在雨水口",  # something, not someone, fell in
    "燃气灶火苗很小，是不是气压不够",  # a stove's flame (an exception)
])
def test_near_misses_stay_calm(content: str) -> None:
    assert read(content).danger == ()


@pytest.mark.parametrize(("content", "danger"), [
    ("小区下水道堵了，一股臭鸡蛋味飘上来", ()),
    ("有人在烧秸秆，浓烟飘到小区里，窗户都不敢开", ()),
    ("厨房里一股臭鸡蛋味，灶也没开", ("臭鸡蛋",)),  # 臭鸡蛋 outside the exception still counts
])
def test_an_exception_phrase_cancels_the_danger_word_inside_it(content: str, danger: tuple[str, ...]) -> None:
    assert set(read(content).danger) == set(danger)


def test_a_city_edits_phrase_rules_and_exceptions_in_the_policy() -> None:
    policy = IntakePolicy(danger=(DangerWords(level="urgent", words=("井盖…不见",)),), danger_exceptions=("演习…井盖",))
    reader = Understander(demo_matrix(), policy)
    assert read("有个井盖不见了，剩下个黑洞", reader).urgency == "urgent"
    assert read("有个井盖不见了，剩下个黑洞", reader).danger == ("井盖…不见",)
    assert read("今天演习，井盖不见了", reader).danger == ()
    near = Understander(demo_matrix(), policy.model_copy(update={"danger_gap": 3}))
    assert read("井盖不见了", near).danger == ("井盖…不见",)  # adjacent parts: gap 0
    assert read("井盖昨天被人搬走了不见了", near).danger == ()  # further apart than the gap


@pytest.mark.parametrize(("content", "word"), [
    ("厨房里有股味道，不知道是不是燃气，家里还有老人", "味道…燃气"),  # unsure is not denied
    ("有股味，不知道是不是漏气了", "漏气"),
    ("那个坑修好了，不过又塌了一块", "塌了"),  # 不过 negates nothing
    ("断了的电线一直不停地冒火花", "冒火花"),  # nor does 不停
])
def test_a_not_or_no_that_negates_nothing_does_not_deny(content: str, word: str) -> None:
    assert word in read(content).danger


@pytest.mark.parametrize("content", [
    "楼道里没闻到什么煤气味，就是想问下抄表",  # the negation five characters before the word
    "灶具打不着火了，也没闻到什么燃气的味道",  # a phrase rule's first part negated
])
def test_a_danger_word_looks_further_back_for_its_negation_than_a_keyword(content: str) -> None:
    assert read(content).danger == ()


@pytest.mark.parametrize(("present", "calm"), [
    # Someone hurt or stuck now, not a fall told as over (还好只是擦伤) or denied in Cantonese (冇人受伤).
    ("刚才有个阿伯骑摩托摔在地上起不来，现在还躺着", "上次有人骑车过去摔倒了，还好只是擦伤"),
    ("小孩的脚卡在排水沟缝里拔不出来，正在哭", "树枝断咗跌喺人行道，冇人受伤"),
    # A lift stopped with people in it; a car stalled in deep water with the driver inside.
    ("小区停电，二号楼电梯里困了三个人", "前几天家里老人被困电梯，物业很快就救出来了"),
    ("隧道积水很深，一辆小车熄火在里面，司机还在车里", "暴雨那天公交车在低洼路段被困过一次，现在水已经退了"),
    # Gas from a bottle or a hose; the smell over (修过了, 没闻到) or mistaken (原来是).
    ("家里液化气罐阀门关不紧，满屋子味道", "昨天闻到楼道有煤气味，燃气公司来修过了，今天没闻到了"),
    ("灶台底下的软管突然呲呲冒气，屋里一股味", "闻到一股臭鸡蛋味，起初以为是煤气，原来是化粪池反味"),
    # Trees and signs onto cars or wires, or swinging over people; a leak long over and thanked for.
    ("大树枝断了，砸在一辆停着的小车上", "上月我小区发生燃气泄漏，抢修人员十分钟就到，特此致谢"),
    ("竹子被风吹倒，压在电线上，电线都垂下来了", "楼道里有股很冲的味道，燃气公司来看了说不是，是下水井返臭"),
    ("指示牌一边螺丝掉了，吊在半空晃，下面就是公交站", "一家四口吃完海鲜上吐下泻，现已好转，请查那家店"),
    # The ground giving way (also in Cantonese), not a collapse the caller is unsure of; smoke from burning
    # rubbish, an ambulance's way blocked by parking, debris in a well.
    ("亭洪路路口地面塌咗个大窿，一架小车陷咗落去", "五一路那里地面凹了一块，不知道是不是塌了"),
    ("村口水泥路整体下陷，下面已掏空", "学校围墙外有人焚烧垃圾，浓烟飘进教室"),
    ("路基垮下去了，路边那户人家的墙都裂了", "医院门口天天双排停车，救护车进出都费劲"),
    ("渣土坡被雨泡软了，正在往下滑，下面就是铁皮房", "井盖被大货车压碎了，碎渣掉进井里"),
])
def test_the_eighth_rounds_families_find_the_present_danger_and_not_its_near_miss(present: str, calm: str) -> None:
    assert read(present).danger, present
    assert read(calm).danger == (), calm


NINTH_ROUND: list[tuple[str, str]] = [
    # An ambulance called, not one passing by or kept out by parked cars.
    ("饭堂十几个人吃完肚子痛，已经叫了救护车", "急诊门口又被私家车挡住，救护车开过来只能绕"),
    # A sign that may come down at any moment; a car buried by sliding spoil.
    ("广告牌一角松脱了，随时可能掉下来砸到路人", "广告牌一角松脱了，昨天已经固定好，现在挺稳的"),
    ("山坡上的泥土滑下来，埋了半辆停在路边的面包车", "山坡上的泥土滑下来堆在路边，车都没事"),
    # A fire that did not take, wires that do not leak, people brought out safe, a call that only thanks.
    ("插线板冒烟了，屋里全是焦味", "插线板冒烟，我马上拔了插头，没烧起来"),
    ("配电箱门开着，电线露在外面还冒火花", "配电箱门开着，电线露在外面，暂时没看到漏电"),
    ("暴雨把面包车困在桥洞里，司机还在车里", "暴雨把面包车困在桥洞里，消防把人接出来了，大家都平安"),
]


TENTH_ROUND: list[tuple[str, str]] = [
    # A cut being dressed now, not a fall told as having happened (摔伤过).
    ("小孩在滑梯边被铁皮划了一道口子，正在包扎", "这里路面不平，以前有人在这里摔伤过"),
    # A stove hissing with the smell in the room; a fire out, or none found.
    ("厨房灶头一直咝咝响，满屋子气味", "楼下有人烧纸，烧到半夜，现在已经灭了"),
    # Someone down a well who no longer answers; people rescued last week and thanked for.
    ("工人下到污水井里清淤，十几分钟喊不应", "上周电梯里困了人，消防很快把人救了出来，谢谢他们"),
    # People still inside a house that was hit; sparks that did no harm yet, a plug pulled.
    ("土堆滑下来把厨房的墙推倒了，屋里还有老人", "电焊火花溅到人行道上，目前还没出事，请管一下"),
    ("电水壶底座冒火花烧黑了，现在还在烧", "电水壶底座冒火花烧黑了，我马上拔了插头"),
    # A suggestion of drowning-prevention signs.
    ("江边有个小孩溺水了，快来人", "建议在江边步道增设防溺水警示牌"),
]


ELEVENTH_ROUND: list[tuple[str, str]] = [
    # A bottle frosting and blowing white gas; a broken bone taken to hospital, not a fall feared.
    ("楼下饭店门口的液化气瓶阀门结霜冒白气", "楼下饭店门口的液化气瓶放在太阳底下晒，怕出事"),
    ("骑手在油污上滑倒，手臂骨折，已被送医", "路面有油污，怕有人滑倒"),
    # A tree about to fall over people; a bank sliding that has not come down yet.
    ("门口的大树越来越斜，底下学生在走，随时要倒", "门口的大树有点斜，前几天已经扶正了"),
    ("工地渣土被雨冲得往下滑，已经冲到路上", "工地渣土被雨冲得往下滑，暂时还没垮，请尽快拉走"),
]


@pytest.mark.parametrize(("present", "calm"), [*NINTH_ROUND, *TENTH_ROUND, *ELEVENTH_ROUND])
def test_the_later_rounds_words_find_the_present_danger_and_not_its_near_miss(present: str, calm: str) -> None:
    assert read(present).danger, present
    assert read(calm).danger == (), calm


def test_a_danger_told_after_it_was_taken_back_still_counts() -> None:
    understood = read("上个月燃气管漏过一次，修好了，今天同一个位置又有味道了，还滋滋响")
    assert understood.danger == ("滋滋",)  # 漏 before 修好了 is over; the hissing after it is now
    assert read("亭洪路那个塌陷坑上周已经填好了，围挡还没撤").danger == ()  # a past retraction takes back too


def test_a_city_edits_the_retractions_and_the_danger_negations_and_a_denied_retraction_takes_back_nothing() -> None:
    policy = IntakePolicy(danger_retractions=("搞定",), danger_negations=())
    reader = Understander(demo_matrix(), policy)
    assert read("燃气管漏气了，已经搞定", reader).danger == ()
    assert read("燃气管漏气了，还没搞定", reader).danger == ("漏气",)
    assert read("燃气管漏气了，已经修好了", reader).danger == ("漏气",)  # 修好了 is not this city's
    assert read("树枝断咗跌喺人行道，冇人受伤", reader).danger == ("受伤",)  # 冇 is no negation here


def _affirmed_plainly(text: str, words: tuple[str, ...], denials: Denials) -> list[str]:
    """`affirmed` without the index: every word's first part searched in the text, in the words' order."""
    return [w for w in words if w.split(PHRASE_GAP)[0] in text
            and any(True for _ in _matches(text, w.split(PHRASE_GAP), denials))]


@given(st.lists(st.sampled_from([*(w for g in DEFAULT_DANGER for w in g.words[:40:3]), "没有", "，", "水", "火", "有人",
                                 "煤气", "味道很重", "齐腰", "的"]), max_size=12))
def test_the_phrase_index_finds_exactly_what_searching_every_word_finds(pieces: list[str]) -> None:
    # The index (first character pairs, one-character first parts apart) is only a faster way to the same words.
    text = folded("".join(pieces))
    denials = Denials(("没有",), 8)
    words = (*DEFAULT_DANGER[0].words, "水…齐腰", "火")
    assert affirmed(text, words, denials) == _affirmed_plainly(text, words, denials)
