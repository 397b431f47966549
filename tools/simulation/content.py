"""What the simulator says: 12345 ticket texts, Open311 descriptions, grid patrol notes, callers' names and
mobile numbers, addresses built from the real community list, device names and readings, the handlers' notes,
and small generated photos.

Pure: a `random.Random` in, strings (or JPEG bytes) out. The only data read is the project's own division
tables (geo.areas), so that an address-only ticket names a community the hub's gazetteer knows.
"""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

from PIL import Image, ImageDraw

from geo.areas import read_townships, read_villages, short_forms
from tools.demo_matrix import nanning_matrix


@cache
def county_names() -> dict[str, str]:
    """County names by code: the demo matrix's list is the city's 12 county-level units."""
    return dict(nanning_matrix()["counties"])


# ---- places people name in their complaints (real Nanning roads; estates and markets are typical names) ----

ROADS: Final = (
    "民族大道", "朝阳路", "东葛路", "友爱路", "大学东路", "大学西路", "星湖路", "竹溪大道", "白沙大道", "五象大道",
    "金湖路", "长湖路", "厢竹大道", "北湖路", "秀厢大道", "安吉大道", "江南大道", "那洪大道", "凤岭北路", "青秀路",
    "仙葫大道", "茶花园路", "中华路", "新民路", "人民东路", "明秀路", "衡阳路", "建政路", "古城路", "七星路",
    "园湖路", "桃源路", "津头路", "望州路", "邕武路", "科园大道", "滨湖路", "埌东路", "东盟商务区金浦路", "平乐大道",
)
ESTATES: Final = (
    "荣和山水美地", "凤岭春天", "五象澜庭府", "万科城", "金湖花园", "锦绣家园", "桂雅苑", "邕江壹号", "阳光100",
    "盛天国际", "龙光普罗旺斯", "半岛御府", "裕丰荔园", "航洋国际", "江南星城", "翡翠园", "青秀山庄", "大都会",
    "幸福里", "民乐小区", "长湖景苑", "水电宿舍", "铁路新村", "二中宿舍", "华侨新村", "福园小区",
)
MARKETS: Final = ("秀厢", "鲁班", "七星", "麻村", "南湖", "明秀", "友爱", "华西", "北湖", "津头")
LANDMARKS: Final = ("公交站", "小学门口", "加油站", "农贸市场", "地铁站B出口", "社区医院", "幼儿园", "超市", "银行网点",
                    "人行天桥", "十字路口", "停车场入口")
SIDES: Final = ("东侧", "西侧", "南侧", "北侧", "中段", "辅道")
TIMES: Final = ("昨晚11点多", "今天凌晨2点左右", "今天早上7点", "每天晚上10点以后", "中午12点半", "傍晚6点左右")
SINCE: Final = ("从昨天下午开始", "今天早上6点起", "从前天晚上开始", "从上周五开始", "今天上午10点左右")
NATIONAL_ROADS: Final = ("G322", "G324", "G210", "G325", "G75")

# ---- topics: a category with the words people use about it ----


@dataclass(frozen=True, slots=True)
class Topic:
    category: str  # what a channel sends: the matrix's channel name, else the leaf code
    code: str  # the matrix leaf (Open311 service_code)
    title: str
    texts: tuple[str, ...]  # a citizen's words, with {placeholders}
    types: tuple[tuple[str, int], ...]  # ticket type → weight
    urgency: tuple[tuple[str, int], ...]  # urgency → weight
    hotline: int  # weight among hotline tickets (Nanning's 12345 is mostly noise, rubbish, water, parking)
    open311: int = 0  # weight among Open311 requests; 0 = not a service people pick in an app
    patrol: tuple[str, ...] = ()  # a grid worker's words; empty = not found on patrol
    grid: int = 0  # weight among grid reports
    fix: str = "已组织人员现场处置完毕"  # what the handler did, for the resolution note


def _w(*pairs: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    return pairs


COMPLAINT = _w(("complaint", 7), ("report", 2), ("help", 1))
HELP = _w(("help", 6), ("complaint", 4))
REPORT = _w(("report", 8), ("help", 2))
NORMAL = _w(("normal", 1),)

TOPICS: Final[tuple[Topic, ...]] = (
    Topic("noise", "050101", "噪声扰民", (
        "{road}{landmark}旁边的工地{time}还在施工，打桩机声音很大，严重影响附近居民休息，请执法部门查处。",
        "{estate}小区楼下的烧烤摊每天营业到凌晨{late}点，喝酒划拳声音很大，多次沟通无果，希望有关部门管一管。",
        "{road}{side}广场的广场舞音响开得太大，每天晚上7点跳到10点，家里孩子没法写作业。",
        "{estate}小区{bldg}栋楼上住户{time}在装修，电钻声不断，已经连续{days}天了。",
    ), COMPLAINT, NORMAL, hotline=14, open311=3, fix="执法人员已到现场责令停止夜间施工并作出处罚，噪声已消除"),
    Topic("exposed_rubbish", "030101", "暴露垃圾", (
        "{estate}小区东门旁边的垃圾堆了{days}天没人清运，天热臭味很大，招了很多苍蝇蚊子。",
        "{road}{side}绿化带里被人倾倒了大量生活垃圾和装修垃圾，影响市容，请尽快清理。",
        "{market}农贸市场后面的垃圾桶满溢，垃圾散落一地，{time}还没人处理。",
    ), COMPLAINT, NORMAL, hotline=12, open311=4, patrol=(
        "巡查发现{road}{side}人行道上有一堆暴露垃圾，约{n}平方米，已联系环卫清运。",
        "{estate}小区外围空地有居民乱丢垃圾，形成积存点，需安排清运并设置提示牌。",
    ), grid=6, fix="已安排环卫车辆清运垃圾并对现场进行冲洗消杀，同时增加了该点位的保洁频次"),
    Topic("water_outage", "060101", "停水", (
        "{estate}小区{since}突然停水，没有看到任何停水通知，家里有老人小孩，生活很不方便，请问什么时候恢复供水？",
        "{road}一带水压很低，{floor}楼以上基本没水，已经持续{days}天，请供水部门尽快处理。",
        "{estate}小区自来水发黄有异味，不敢饮用，请派人检测水质。",
    ), HELP, _w(("urgent", 6), ("normal", 4)), hotline=10, open311=1,
        fix="供水抢修队已完成管道维修，现已恢复正常供水，并向小区住户做好解释"),
    Topic("illegal_parking", "040101", "违章停车", (
        "{road}{side}人行道上长期停满私家车，行人只能走机动车道，很危险，请加强管理。",
        "{estate}小区消防通道被一辆白色小车堵死，{time}开始就停在那里，打挪车电话无人接听。",
        "{road}{landmark}附近每天早晚高峰都有车辆违停上下客，造成严重拥堵。",
    ), COMPLAINT, NORMAL, hotline=9, open311=4, patrol=(
        "巡查发现{road}{landmark}门口人行道有{n}辆机动车违停，已张贴告知单。",
    ), grid=3, fix="执法队员已到现场对违停车辆张贴违停告知单并拖移，后续将加强巡查"),
    Topic("streetlight", "010101", "路灯不亮", (
        "{road}{side}一排路灯{since}一直不亮，晚上路上黑漆漆的，行人和电动车都很危险，请尽快派人维修。",
        "{estate}小区门口{road}上的路灯时亮时灭，已经{days}天了，灯杆编号是{pole}。",
        "{road}与{road2}交叉口的路灯白天也一直亮着，浪费电，希望相关部门处理。",
    ), COMPLAINT, NORMAL, hotline=8, open311=6, patrol=(
        "夜间巡查发现{road}{side}有{n}盏路灯不亮，灯杆编号{pole}，已拍照上报。",
    ), grid=4, fix="路灯养护单位已更换损坏的灯具和镇流器，路灯已恢复正常照明"),
    Topic("road_damage", "020101", "路面破损", (
        "{road}{side}靠近{landmark}的路段路面破损，有好几个坑洼，下雨后积水，电动车经过容易摔倒。",
        "{estate}小区出来往{road}方向的路面坑坑洼洼，大约{n}0米长，车辆经过颠簸严重。",
        "{national}国道{township}路段路面破损严重，大货车经过时碎石乱飞，存在安全隐患。",
    ), COMPLAINT, _w(("normal", 8), ("urgent", 2)), hotline=6, open311=5, patrol=(
        "巡查发现{road}{side}路面出现坑槽，面积约{n}平方米，已设置临时警示。",
    ), grid=4, fix="道路养护单位已对破损路面进行挖补修复，现已恢复通行"),
    Topic("drain_blocked", "010301", "下水道堵塞", (
        "{estate}小区门口的下水道堵塞，污水漫到路面上，臭气熏天，已经{days}天了。",
        "{road}{side}的雨水井一下雨就往外冒水，路面积水到脚踝，请疏通。",
    ), COMPLAINT, NORMAL, hotline=5, open311=4, patrol=(
        "巡查发现{road}{side}排水井堵塞，有污水外溢，需安排疏通。",
    ), grid=2, fix="已安排疏通车对堵塞管道进行清淤疏通，排水已恢复正常"),
    Topic("manhole_cover", "010201", "井盖缺失破损", (
        "{road}{side}{landmark}门口有一个井盖缺失，只放了几根树枝做标记，晚上很容易掉下去。",
        "{road}与{road2}路口的井盖松动，车辆经过时哐哐响，噪音大也有安全隐患。",
    ), REPORT, _w(("urgent", 5), ("normal", 5)), hotline=4, open311=5, patrol=(
        "巡查发现{road}{side}一处井盖破损下陷，已摆放锥桶警示，需尽快更换。",
    ), grid=3, fix="权属单位已更换新井盖并加装防坠网，现场隐患已消除"),
    Topic("power_outage", "060201", "停电", (
        "{estate}小区{bldg}栋{since}停电，至今未恢复，冰箱里的东西都坏了，请尽快抢修。",
        "{road}{side}一片商铺停电{n}个多小时了，没有任何通知，影响做生意。",
    ), HELP, _w(("urgent", 8), ("normal", 2)), hotline=4, fix="供电抢修人员已更换故障设备，已恢复供电"),
    Topic("040201", "040201", "占道经营", (
        "{market}农贸市场外面{road}上流动摊贩占道经营，把路堵得水泄不通，{time}最严重。",
        "{road}{landmark}附近夜市摊点占用人行道，油烟大、垃圾多，请城管规范管理。",
    ), COMPLAINT, NORMAL, hotline=4, open311=2, patrol=(
        "巡查发现{road}{landmark}附近有{n}处占道经营摊点，已劝导其入室经营。",
    ), grid=5, fix="城管执法队员已对占道摊点进行劝离整治，并安排人员定时巡查"),
    Topic("consult", "080101", "政策咨询", (
        "请问在{county}办理居住证需要准备哪些材料？在哪里办理？",
        "咨询一下{road}的道路施工什么时候结束？现在绕路很不方便。",
        "请问孩子今年上小学，{estate}小区对应的学区是哪所学校？",
        "咨询公积金提取用于租房需要什么手续？",
    ), _w(("consult", 1),), NORMAL, hotline=6, fix="已电话联系来电人进行政策解答，来电人表示清楚"),
    Topic("flooding", "070101", "道路积水", (
        "{road}{landmark}附近积水很深，约{n}0厘米，已有小车熄火，请尽快排水并设置警示。",
        "{estate}小区地下车库进水了，水还在往里灌，请马上派人来抽水！",
    ), REPORT, _w(("urgent", 6), ("critical", 4)), hotline=3, open311=1,
        fix="已调派抽排水车辆和人员现场排涝，积水已退去，道路恢复通行"),
    Topic("fallen_tree", "070201", "树木倒伏", (
        "{road}{side}一棵大树被风吹倒，横在机动车道上，阻碍交通，请马上处理。",
        "{estate}小区门口的行道树倾斜得很厉害，随时可能倒下砸到人或车。",
    ), REPORT, _w(("urgent", 8), ("normal", 2)), hotline=2, open311=1, patrol=(
        "巡查发现{road}{side}有一棵行道树倾斜，根部松动，已拉警戒线。",
    ), grid=1, fix="园林绿化队已将倒伏树木清理移除，道路恢复通行"),
    Topic("gas_leak", "060301", "燃气泄漏", (
        "{estate}小区{bldg}栋楼道里闻到很浓的燃气味，怀疑管道泄漏，请马上派人来检查！",
        "{road}{side}一家餐馆门口燃气味很重，周围人都闻到了，请尽快处理。",
    ), REPORT, _w(("critical", 1),), hotline=1, fix="燃气抢修人员已关阀检漏并更换泄漏管件，现场检测正常"),
    Topic("road_collapse", "020102", "路面塌陷", (
        "{road}{side}{landmark}附近路面突然塌陷，坑深约1米，已有市民用雪糕筒围起来，请马上派人处置！",
    ), REPORT, _w(("critical", 1),), hotline=1, open311=1, fix="已对塌陷路段进行围蔽并回填修复，路面恢复通行"),
    Topic("060401", "060401", "食品安全", (
        "在{road}{landmark}附近一家快餐店吃饭后全家出现腹泻，怀疑食品卫生有问题，请相关部门检查。",
        "{market}农贸市场有商贩销售来源不明的冻肉，没有检疫证明。",
    ), COMPLAINT, NORMAL, hotline=2, fix="市场监管执法人员已到店检查并责令整改，相关产品已下架封存"),
    Topic("060402", "060402", "消费投诉", (
        "在{road}一家健身房办了年卡，没多久就关门了，联系不上老板，要求退费。",
        "在{market}农贸市场买菜发现电子秤缺斤少两，商家拒不承认。",
    ), COMPLAINT, NORMAL, hotline=2, fix="已组织消费者与商家调解，商家同意退还相关费用"),
    Topic("050201", "050201", "露天焚烧", (
        "{estate}小区旁边的空地每天傍晚有人焚烧垃圾，烟很大，味道刺鼻。",
    ), COMPLAINT, NORMAL, hotline=1, open311=1, patrol=(
        "巡查发现{road}{side}空地有人焚烧树叶和垃圾，已现场制止并扑灭余火。",
    ), grid=1, fix="已对焚烧点进行清理并对当事人进行教育，后续加强巡查"),
    Topic("030102", "030102", "积存垃圾渣土", (
        "{road}{side}工地运渣车沿路撒漏渣土，路面全是泥，晴天扬尘雨天泥泞。",
    ), COMPLAINT, NORMAL, hotline=1, open311=1, patrol=(
        "巡查发现{road}{side}有渣土堆积，约{n}立方米，疑似夜间偷倒。",
    ), grid=2, fix="已清运积存渣土并对撒漏车辆所属工地进行处罚"),
    Topic("010302", "010302", "雨水箅子缺失", (
        "{road}{side}有个雨水箅子不见了，留下一个方洞，小孩和老人容易踩空。",
    ), REPORT, NORMAL, hotline=1, open311=2, patrol=(
        "巡查发现{road}{side}雨水箅子缺失{n}个，已摆放警示锥。",
    ), grid=2, fix="已补装缺失的雨水箅子"),
    Topic("020201", "020201", "交通标志损坏", (
        "{road}与{road2}交叉口的限速标志牌被撞歪了，朝向错误，容易误导司机。",
    ), REPORT, NORMAL, hotline=1, open311=2, patrol=(
        "巡查发现{road}{side}交通指示牌倾斜，存在掉落风险。",
    ), grid=1, fix="已将损坏的交通标志扶正加固并更换牌面"),
    Topic("suggestion", "080201", "意见建议", (
        "建议在{road}与{road2}交叉口增设人行横道和红绿灯，早晚高峰过马路很危险。",
        "建议在{estate}小区附近增设公交站点，现在最近的站点要走二十分钟。",
    ), _w(("suggestion", 1),), NORMAL, hotline=2, fix="已将建议转交相关部门研究，并向来电人反馈"),
    Topic("praise", "080202", "表扬", (
        "表扬{township}的工作人员，上次反映的{estate}小区路灯问题两天就修好了，服务态度很好。",
        "感谢{county}城管的同志，{road}的占道问题整治后通行顺畅多了。",
    ), _w(("praise", 1),), NORMAL, hotline=1, fix="已将表扬转达相关单位及工作人员"),
)
TOPIC_BY_CATEGORY: Final = {t.category: t for t in TOPICS}
# What befalls a whole neighbourhood at once, so that many people call about it within minutes (the simulator's
# scripted surges, in this order): a downpour floods the streets, a main bursts, a substation trips.
SURGE_TOPICS: Final = ("flooding", "water_outage", "power_outage")

CHANNELS: Final = (("phone", 55), ("wechat", 20), ("app", 15), ("web", 10))
APP_CHANNELS: Final = frozenset({"app", "wechat", "web"})  # map pickers in Chinese apps give GCJ-02

# ---- people ----

SURNAMES: Final = _w(
    ("黄", 8), ("李", 6), ("陈", 5), ("韦", 5), ("梁", 4), ("刘", 4), ("王", 4), ("张", 4), ("覃", 3), ("莫", 3),
    ("杨", 3), ("蒙", 2), ("陆", 2), ("廖", 2), ("卢", 2), ("农", 2), ("林", 2), ("周", 2), ("吴", 2), ("何", 2),
    ("罗", 2), ("谢", 2), ("邓", 2), ("蓝", 1), ("赵", 1), ("唐", 1), ("潘", 1), ("甘", 1), ("苏", 1), ("钟", 1),
)
GIVEN: Final = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文斌宁海燕建国志红梅丹俊峰福春雪琳晓东荣"
MOBILE_PREFIXES: Final = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                          "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "186", "187",
                          "188", "189", "191", "198", "199")


def pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    """A key drawn by weight. The module's tables are tuples: their cumulative weights are computed once."""
    keys, cumulative = _cumulative(weighted if isinstance(weighted, tuple) else tuple(weighted))
    return rng.choices(keys, cum_weights=cumulative)[0]


@cache
def _cumulative(weighted: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    return tuple(k for k, _ in weighted), tuple(itertools.accumulate(w for _, w in weighted))


def person_name(rng: random.Random) -> str:
    surname = pick(rng, SURNAMES)
    if rng.random() < 0.2:  # many callers only give "王先生"
        return surname + rng.choice(("先生", "女士", "阿姨", "师傅"))
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


# ---- addresses from the real community list ----


@dataclass(frozen=True, slots=True)
class Community:
    code: str  # NBS 2023 code
    name: str  # as people say it: 兴宁社区, 官桥村
    township: str
    county: str

    def address(self) -> str:
        """南宁市{县区}{街道}{社区}: every such text resolves to this community with the hub's gazetteer."""
        return f"南宁市{self.county}{self.township}{self.name}"


ADDRESS_DETAILS: Final = ("", "门口", "附近", "3栋2单元楼下", "菜市场旁边", "篮球场边上", "公交站旁", "活动中心后面")


@cache
def communities() -> tuple[Community, ...]:
    """Communities whose NBS township is still an official township (MCA 2025), without NBS placeholders:
    their township name leads the gazetteer to them unambiguously."""
    townships = {t.code: t for t in read_townships()}
    out = []
    for v in read_villages():
        town = townships.get(v.township_code)
        forms = short_forms(v.name, "community")
        if town is None or not forms or v.county_code not in county_names():
            continue
        out.append(Community(v.code, forms[0], town.name, county_names()[v.county_code]))
    return tuple(out)


@cache
def shared_names() -> tuple[str, ...]:
    """Community names found in more than one county (新兴社区 …): alone, not even the county is known."""
    counties: dict[str, set[str]] = {}
    for c in communities():
        counties.setdefault(c.name, set()).add(c.county)
    return tuple(sorted(name for name, found in counties.items() if len(found) > 1))


def community_address(rng: random.Random) -> tuple[str, Community]:
    community = rng.choice(communities())
    return community.address() + rng.choice(ADDRESS_DETAILS), community


def vague_address(rng: random.Random) -> str:
    """What a caller says who does not know where they are, or is not in Nanning: the operator must triage."""
    if rng.random() < 0.8:
        return rng.choice(shared_names()) + rng.choice(("门口", "附近", "那边"))
    return rng.choice(("广西柳州市城中区", "广西桂林市七星区", "广东省广州市天河区")) + rng.choice(ROADS)


# ---- filling the texts ----


@dataclass(frozen=True, slots=True)
class Place:
    """Names of the area a report is placed in (from the hub's layers), for the texts."""

    county: str
    township: str
    community: str = ""


def fill(template: str, rng: random.Random, place: Place | None = None) -> str:
    """The template with its {placeholders} drawn at random (only those it uses) or taken from `place`."""
    return template.format_map(_Values(rng, place))


class _Values(dict[str, object]):
    """Draws a placeholder's value the first time the template asks for it."""

    def __init__(self, rng: random.Random, place: Place | None) -> None:
        super().__init__()
        self.rng = rng
        self.place = place

    def __missing__(self, key: str) -> object:
        value = _DRAWS[key](self)
        self[key] = value
        return value


@cache
def read_townships_names() -> tuple[str, ...]:
    return tuple(t.name for t in read_townships())


_DRAWS: Final[dict[str, Callable[[_Values], object]]] = {
    "road": lambda v: v.rng.choice(ROADS), "estate": lambda v: v.rng.choice(ESTATES),
    "market": lambda v: v.rng.choice(MARKETS), "landmark": lambda v: v.rng.choice(LANDMARKS),
    "side": lambda v: v.rng.choice(SIDES), "time": lambda v: v.rng.choice(TIMES),
    "since": lambda v: v.rng.choice(SINCE),
    "days": lambda v: v.rng.randint(2, 7), "n": lambda v: v.rng.randint(2, 9), "bldg": lambda v: v.rng.randint(1, 28),
    "floor": lambda v: v.rng.randint(6, 18), "late": lambda v: v.rng.randint(1, 3),
    "pole": lambda v: f"{v.rng.choice('ABCDQX')}{v.rng.randint(100, 999)}",
    "national": lambda v: v.rng.choice(NATIONAL_ROADS),
    "county": lambda v: v.place.county if v.place else v.rng.choice(list(county_names().values())),
    "township": lambda v: v.place.township if v.place and v.place.township else v.rng.choice(read_townships_names()),
    "road2": lambda v: v.rng.choice([r for r in ROADS if r != v["road"]]),  # the other road of a crossing
}


def weighted_topic(rng: random.Random, weight: str) -> Topic:
    """A topic drawn by one of the Topic weights: "hotline", "open311" or "grid"."""
    candidates, cumulative = _topics_by(weight)
    return rng.choices(candidates, cum_weights=cumulative)[0]


@cache
def _topics_by(weight: str) -> tuple[tuple[Topic, ...], tuple[int, ...]]:
    candidates = tuple(t for t in TOPICS if getattr(t, weight) > 0)
    return candidates, tuple(itertools.accumulate(getattr(t, weight) for t in candidates))


# ---- the handlers' words ----

TEAMS: Final = ("维修班组", "网格员", "执法中队", "养护单位", "物业公司工作人员", "社区工作人员")
OTHER_UNITS: Final = ("供电部门", "燃气公司", "住建部门", "交警部门", "小区物业公司", "水务集团", "市场监管部门")


def progress_note(rng: random.Random) -> str:
    return rng.choice((
        f"已安排{rng.choice(TEAMS)}到现场核实情况，正在组织处置。",
        "已联系来电人了解详细情况，现场已设置警示，等待材料到场后施工。",
        f"已协调{rng.choice(OTHER_UNITS)}共同处理，预计{rng.randint(1, 3)}个工作日内完成。",
        "现场查看属实，已制定整改方案，正在推进。",
    ))


def resolve_note(rng: random.Random, category: str) -> str:
    topic = TOPIC_BY_CATEGORY.get(category)
    done = topic.fix if topic else "已组织人员现场处置完毕"
    return f"经现场核实，{done}。已将办理结果告知来电人。" if rng.random() < 0.7 else f"{done}。"


def sensor_resolve_note(rng: random.Random) -> str:
    return rng.choice(("设备读数已恢复正常，现场核查无异常。",
                       "已到现场排查处置，传感器读数回落至阈值以下，恢复正常。"))


def return_note(rng: random.Random, reason: str) -> str:
    if reason == "wrong_area":
        return "经现场核实，反映地点位于相邻辖区，不属于我单位管辖范围，请改派。"
    return f"经核实，该事项属于{rng.choice(OTHER_UNITS)}职责，不在我单位职能范围内，请改派。"


EXTENSION_REASONS: Final = (
    "需协调产权单位共同处置，并等待维修材料到货，申请延期办理。",
    "涉及地下管线开挖，须办理占道施工审批手续，申请延期。",
    "连续降雨无法施工，待天气好转后组织维修，申请延期。",
    "需委托第三方检测后确定整改方案，申请延期办理。",
)


def extension_reason(rng: random.Random) -> str:
    return rng.choice(EXTENSION_REASONS)


REJECT_OUTSIDE: Final = "反映地点不在南宁市辖区，已告知来电人向当地12345热线反映，不予受理。"
REJECT_UNPLACED: Final = "来电人未能说明具体位置，回拨无人接听，无法核实，作不予受理处理。"

# ---- IoT devices: what each kind reads, in the units of connectors.iot.DEVICE_KINDS ----


@dataclass(frozen=True, slots=True)
class SensorProfile:
    threshold: float
    first: float  # the first alarm's value
    step: float  # each further alarm: the problem grows (a falling current for a failing lamp)
    normal: float  # the value of the recovery
    name: str  # a name the command centre recognises, with {placeholders}
    decimals: int = 1


SENSORS: Final[dict[str, SensorProfile]] = {
    "water_level": SensorProfile(0.15, 0.18, 0.07, 0.03, "{road}{landmark}积水监测点", 2),
    "manhole_cover": SensorProfile(15.0, 18.0, 6.0, 1.5, "{road}{side}井盖倾角传感器"),
    "gas": SensorProfile(20.0, 24.0, 8.0, 2.0, "{estate}燃气泄漏报警器"),
    "noise": SensorProfile(70.0, 73.0, 3.5, 58.0, "{road}噪声自动监测站"),
    "drain": SensorProfile(1.2, 1.3, 0.15, 0.6, "{road}排水管网液位计", 2),
    "streetlight": SensorProfile(0.5, 0.35, -0.1, 1.8, "{road}{side}路灯控制箱", 2),
    "tilt": SensorProfile(10.0, 12.0, 4.0, 1.5, "{road}{side}行道树倾斜监测"),
}
# A fleet's mix: mostly flood and manhole sensors, as city IoT programmes start with those.
FLEET_MIX: Final = ("water_level", "water_level", "water_level", "manhole_cover", "manhole_cover", "manhole_cover",
                    "drain", "drain", "gas", "gas", "noise", "noise", "streetlight", "tilt")


def sensor_value(profile: SensorProfile, alarm_index: int, rng: random.Random) -> float:
    raw = profile.first + profile.step * alarm_index + rng.uniform(-0.2, 0.2) * abs(profile.step)
    return round(max(raw, 0.0), profile.decimals)


def device_name(kind: str, rng: random.Random) -> str:
    return fill(SENSORS[kind].name, rng)


# ---- photos: small real JPEGs, different every time ----

SCENES: Final = ((128, 128, 128), (96, 120, 80), (150, 140, 120), (70, 80, 95))


def make_photo(rng: random.Random, width: int = 320, height: int = 240) -> bytes:
    """A small JPEG with a ground, a horizon and coloured shapes: a real image the hub decodes."""
    image = Image.new("RGB", (width, height), rng.choice(SCENES))
    draw = ImageDraw.Draw(image)
    horizon = rng.randint(height // 4, height // 2)
    draw.rectangle((0, 0, width, horizon), fill=(rng.randint(150, 210), rng.randint(180, 220), 235))
    for _ in range(rng.randint(3, 7)):
        x, y = rng.randint(0, width - 40), rng.randint(horizon, height - 30)
        w, h = rng.randint(20, 110), rng.randint(15, 80)
        colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + w, y + h), fill=colour, outline=(30, 30, 30))
        else:
            draw.rectangle((x, y, x + w, y + h), fill=colour, outline=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=rng.randint(70, 88))
    return out.getvalue()
