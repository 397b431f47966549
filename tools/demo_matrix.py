"""The Nanning demo responsibility matrix, as the JSON a deployment would load from its configuration.

Categories follow the classes of GB/T 30428.2 (数字化城市管理信息系统 管理部件和事件: 公用设施, 道路交通,
市容环境, 街面秩序, ...) three levels deep, plus the public-service and enquiry classes 12345 tickets carry.
Aliases are the channel category names (the simulator's and the hotline's). The units are illustrative:
a real 权责清单 comes from the city's own catalogue.
"""

from __future__ import annotations

from typing import Any, Final


def _leaf(code: str, name: str, *aliases: str) -> dict[str, Any]:
    return {"code": code, "name": name, "aliases": list(aliases)}


def _node(code: str, name: str, *children: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "name": name, "children": list(children)}


NANNING_MATRIX: Final[dict[str, Any]] = {
    "city": {"code": "450100-gov", "name": "南宁市人民政府", "level": "city"},
    "counties": {
        "450102": "兴宁区", "450103": "青秀区", "450105": "江南区", "450107": "西乡塘区",
        "450108": "良庆区", "450109": "邕宁区", "450110": "武鸣区", "450123": "隆安县",
        "450124": "马山县", "450125": "上林县", "450126": "宾阳县", "450181": "横州市",
    },
    "bureaus": [
        {"kind": "cgj", "name": "城市管理局"}, {"kind": "zjj", "name": "住房和城乡建设局"},
        {"kind": "jtj", "name": "交通运输局"}, {"kind": "slj", "name": "水利局"},
        {"kind": "sthjj", "name": "生态环境局"}, {"kind": "scjgj", "name": "市场监督管理局"},
    ],
    "units": [
        {"code": "450100-water", "name": "南宁建宁水务投资集团", "level": "city"},
        {"code": "450100-power", "name": "南宁供电局", "level": "city"},
        {"code": "450100-gas", "name": "南宁市燃气公司", "level": "city"},
    ],
    "categories": [
        _node("01", "公用设施",
              _node("0101", "照明设施", _leaf("010101", "路灯", "streetlight"), _leaf("010102", "景观灯")),
              _node("0102", "井盖设施", _leaf("010201", "井盖缺失破损", "manhole_cover")),
              _node("0103", "排水设施", _leaf("010301", "下水道堵塞", "drain_blocked"),
                    _leaf("010302", "雨水箅子缺失"))),
        _node("02", "道路交通",
              _node("0201", "道路设施", _leaf("020101", "路面破损", "road_damage"),
                    _leaf("020102", "路面塌陷", "road_collapse")),
              _node("0202", "交通设施", _leaf("020201", "交通标志损坏"))),
        _node("03", "市容环境",
              _node("0301", "环卫设施", _leaf("030101", "暴露垃圾", "exposed_rubbish"),
                    _leaf("030102", "积存垃圾渣土")),
              _node("0302", "环境卫生", _leaf("030201", "道路不洁"))),
        _node("04", "街面秩序",
              _node("0401", "停车秩序", _leaf("040101", "违章停车", "illegal_parking")),
              _node("0402", "经营秩序", _leaf("040201", "占道经营"), _leaf("040202", "无照游商"))),
        _node("05", "环境保护",
              _node("0501", "噪声污染", _leaf("050101", "噪声扰民", "noise")),
              _node("0502", "大气污染", _leaf("050201", "露天焚烧"))),
        _node("06", "公共服务",
              _node("0601", "供水", _leaf("060101", "停水", "water_outage")),
              _node("0602", "供电", _leaf("060201", "停电", "power_outage")),
              _node("0603", "燃气", _leaf("060301", "燃气泄漏", "gas_leak")),
              _node("0604", "市场监管", _leaf("060401", "食品安全"), _leaf("060402", "消费投诉"))),
        _node("07", "突发事件",
              _node("0701", "城市内涝", _leaf("070101", "道路积水", "flooding")),
              _node("0702", "倒伏", _leaf("070201", "树木倒伏", "fallen_tree"))),
        _node("08", "咨询建议",
              _node("0801", "政策咨询", _leaf("080101", "咨询", "consult")),
              _node("0802", "建议表扬", _leaf("080201", "建议", "suggestion"), _leaf("080202", "表扬", "praise"))),
    ],
    "rules": [
        {"id": "R-lighting", "category": "0101", "level": "county", "lead": "{county}-cgj"},
        {"id": "R-manhole", "category": "0102", "level": "county", "lead": "{county}-zjj",
         "assist": ["{county}-cgj"]},
        {"id": "R-drainage", "category": "0103", "level": "county", "lead": "{county}-zjj",
         "assist": ["{county}-slj"]},
        {"id": "R-road", "category": "0201", "level": "county", "lead": "{county}-zjj", "assist": ["{county}-jtj"]},
        {"id": "R-road-collapse", "category": "020102", "level": "county", "lead": "{county}-zjj",
         "assist": ["{county}-jtj", "{county}-gov"]},
        {"id": "R-traffic-signs", "category": "0202", "level": "county", "lead": "{county}-jtj"},
        # Sanitation is a township duty (属地管理) with the county's 城管 assisting; county-level when the
        # township is not known yet.
        {"id": "R-sanitation-township", "category": "03", "level": "township", "lead": "{township}-gov",
         "assist": ["{county}-cgj"]},
        {"id": "R-sanitation-county", "category": "03", "level": "county", "lead": "{county}-cgj"},
        # 横州市 contracts street cleaning county-wide, so its 城管局 leads wherever the rubbish is.
        {"id": "R-sanitation-hengzhou", "category": "030101", "level": "county", "area": "450181",
         "lead": "450181-cgj", "assist": ["{township}-gov"]},
        {"id": "R-parking", "category": "0401", "level": "county", "lead": "{county}-cgj"},
        {"id": "R-trading-township", "category": "0402", "level": "township", "lead": "{township}-gov",
         "assist": ["{county}-cgj", "{county}-scjgj"]},
        {"id": "R-trading-county", "category": "0402", "level": "county", "lead": "{county}-cgj"},
        {"id": "R-noise", "category": "0501", "level": "county", "lead": "{county}-sthjj", "assist": ["{county}-cgj"]},
        {"id": "R-air", "category": "0502", "level": "county", "lead": "{county}-sthjj"},
        {"id": "R-water", "category": "0601", "level": "city", "lead": "450100-water", "assist": ["{county}-zjj"]},
        {"id": "R-power", "category": "0602", "level": "city", "lead": "450100-power"},
        {"id": "R-gas", "category": "0603", "level": "city", "lead": "450100-gas", "assist": ["{county}-zjj"]},
        {"id": "R-market", "category": "0604", "level": "county", "lead": "{county}-scjgj"},
        {"id": "R-flooding", "category": "0701", "level": "county", "lead": "{county}-zjj",
         "assist": ["{county}-slj", "{county}-cgj"]},
        {"id": "R-fallen-tree", "category": "0702", "level": "county", "lead": "{county}-cgj"},
        # 08 咨询建议 has no rule on purpose: it shows the 属地兜底 fallback.
    ],
    "special_owners": [
        {"id": "S-national-highway", "hints": {"road": "national_highway"}, "categories": ["02", "0101"],
         "lead": "{county}-jtj", "assist": ["{county}-zjj"]},
    ],
}
