// The command centre's own words, on top of the shared dictionary (/static/shared/i18n.js): w(key)
// looks here first and falls back to the shared t(key). Kept here so the shared file stays small.

import { categoryLabel, categoryPath, eventName, setCategoryNames, wordsOf } from "/static/shared/i18n.js";

const WORDS = {
  zh: {
    "app.console": "指挥中心",
    "login.subtitle": "指挥中心 · 值班登录",
    "tab.case": "工单详情",
    "map.heat": "热力图层", "map.show_closed": "显示已结案", "map.cases": "地图工单 {n}",
    "map.heat_unavailable": "网格级暂无热力统计", "map.heat_scale": "近30天工单数",
    "map.category_all": "全部类别", "map.drill_hint": "点击区域下钻",
    "legend.title": "图例", "legend.sla": "时限状态", "legend.state": "其他状态", "legend.cluster": "聚合（按最差状态着色）",
    "legend.show": "展开图例", "legend.hide": "收起图例",
    "kpi.title": "考核指标", "kpi.ranking": "街镇综合得分排名（本月）", "kpi.heatmatrix": "高频事项：类别 × 区县（近30天）",
    "kpi.open": "在办工单", "kpi.overdue": "超时", "kpi.warning": "预警", "kpi.triage": "待研判", "kpi.today": "今日新增",
    "kpi.composite": "综合得分", "kpi.nodata": "暂无回访数据，尚无法计算综合得分", "kpi.heat_nodata": "近30天暂无工单",
    "kpi.asof": "数据截至 {time}", "kpi.response": "响应率", "kpi.resolution": "解决率", "kpi.satisfaction": "满意率",
    "kpi.cases": "工单数",
    "kpi.n": "n={n}", "kpi.min_note": "仅有效回访 n≥{min} 的街镇参与排名；样本不足 n<{min} 不参与排名",
    "kpi.unranked": "样本不足、未参与排名（{n}）：", "kpi.none_ranked": "暂无街镇达到排名所需的样本量",
    "kpi.board_few": "参与排名的街镇太少，暂不列黑榜",
    "kpi.rates_title": "三率与按时率（本月）", "kpi.trend": "近30天趋势（按日）", "kpi.trend_nodata": "当日无派单",
    "kpi.response_rate": "响应率", "kpi.resolution_rate": "解决率", "kpi.satisfaction_rate": "满意率",
    "kpi.on_time_sign_rate": "按时签收率", "kpi.on_time_resolution_rate": "按期办结率",
    "kpi.click_unit": "点击排名或榜单中的街镇，查看其工单", "kpi.unit_cases": "{name}的工单",
    "kpi.unit_more": "仅显示最近 {n} 件", "kpi.unit_none": "暂无工单", "kpi.close": "关闭",
    "feed.empty": "等待新事件…", "feed.count": "{n} 条",
    "case.none": "选择地图或列表中的工单查看详情",
    "case.loading": "正在加载工单…", "case.gone": "无法打开该工单", "case.close": "关闭",
    "case.changed": "该工单刚被他人更新；提交时将按原版本校验", "case.reload": "刷新",
    "case.version": "版本", "case.flags": "标记", "case.explanation": "派单说明", "case.chain": "所属区域",
    "case.place_evidence": "定位依据",
    "case.understood": "智能识别", "case.understood_as": "识别为 {category}（依据：{evidence}；置信度 {confidence}%）",
    "case.active": "当前时限", "case.all_deadlines": "全部时限", "case.sensor": "物联设备", "case.location": "坐标",
    "case.channel": "渠道", "case.type": "类型", "case.urgency": "紧急程度", "case.reported_at": "反映时间",
    "case.created_at": "受理时间", "case.actions": "可执行操作", "case.no_actions": "当前无可执行操作",
    "case.triage_reason": "研判原因", "case.pending_return": "退单申请", "case.extension": "延期申请",
    "case.merge_suggestion": "疑似重复", "case.supervision": "督办级别", "case.escalation": "升级级别",
    "case.returns": "退单次数", "case.redos": "重办次数", "case.children": "合并子件", "case.parent": "主件",
    "case.resolution": "办结说明", "case.outcome": "结案方式", "case.photo_failed": "照片加载失败",
    "case.unit_none": "未指定", "case.locate": "地图定位", "case.address": "地址", "case.id": "工单ID",
    "tl.by": "操作人", "badge.confidential": "保密", "clock.working": "工作时间", "clock.calendar": "自然时间",
    "action.sending": "提交中…", "action.confirm": "确认执行“{a}”？", "action.done": "已提交：{a}",
    "action.failed": "操作失败",
    "f.note": "说明", "f.reason": "原因", "f.until": "延期至", "f.approve": "审核结果", "f.area": "区域",
    "f.area_county": "区县", "f.area_township": "街镇（可选）", "f.unit": "承办单位编码", "f.unit_name": "单位名称（矩阵外单位必填）",
    "f.contacted": "已联系来电人", "f.solved": "问题已解决", "f.satisfaction": "满意度", "f.into": "并入工单ID",
    "f.photos": "照片", "f.choose": "请选择", "yes": "是", "no": "否", "approve.yes": "同意", "approve.no": "不同意",
    "f.review_unit": "改派单位编码（留空由系统推荐）",
    "sat.satisfied": "满意", "sat.basically_satisfied": "基本满意", "sat.dissatisfied": "不满意", "sat.unreachable": "未接通",
    "ret.not_our_remit": "职能不符", "ret.wrong_area": "属地不符", "ret.unclear_ownership": "权属不清",
    "type.consult": "咨询", "type.help": "求助", "type.complaint": "投诉", "type.report": "举报",
    "type.suggestion": "建议", "type.praise": "表扬", "type.other": "其他",
    "flag.near_boundary": "临近市界", "flag.near_internal_boundary": "临近街镇边界", "flag.sensor_recovered": "设备已恢复",
    "flag.outside_city": "市外", "flag.address_only": "仅地址",
    "flag.located_from_text": "由诉求内容定位",
    "flag.danger_from_text": "紧急（诉求内容有险情）",
    "flag.emergency": "应急（平急转换）",
    "incident.tab": "应急事件", "incident.active": "进行中的应急事件", "incident.none": "当前无应急事件",
    "incident.declare": "启动应急响应", "incident.submit": "启动", "incident.title": "事件名称",
    "incident.kind": "事件类型", "incident.level": "响应级别", "incident.areas": "涉及区域（区划代码，逗号分隔）",
    "incident.categories": "涉及类别（可多选；不选为全部）",
    "incident.form_hint": "事件期间，该区域该类别的新工单自动关联，按应急时限办理",
    "incident.declared": "已启动应急响应：{title}", "incident.linked": "关联工单 {n}",
    "incident.all_categories": "全部类别", "incident.link_open": "关联区域内在办工单",
    "incident.linked_now": "已关联 {n} 件在办工单", "incident.set_level": "调整级别", "incident.summary": "处置总结",
    "incident.close": "结束应急响应", "incident.review": "下载复盘报告（XLSX）", "incident.cases": "关联工单（{n}）",
    "incident.units": "单位响应", "incident.unit": "单位", "incident.n_cases": "工单", "incident.signed": "已签收",
    "incident.sign_p50": "签收用时中位数", "incident.resolved": "已办结", "incident.resolve_p50": "办结用时中位数",
    "incident.minutes": "{n} 分钟", "incident.directives": "事件指令",
    "incident.directives_missing": "指令模块尚未接入", "incident.directives_none": "尚未下发指令",
    "incident.directive_progress": "{n}/{total} 已签收", "incident.timeline": "时间线",
    "incident.t_declared": "{who} 启动{level}级响应", "incident.t_level": "响应级别调整为 {level} 级",
    "incident.t_linked": "工单关联", "incident.t_resolved": "工单办结", "incident.t_closed": "{who} 结束应急响应",
    "incident.badge": "应急 · {title} · {level}",
    "incident.state.active": "响应中", "incident.state.closed": "已结束",
    "incident.how.automatic": "自动关联", "incident.how.by_hand": "人工关联",
    "incident.level.I": "Ⅰ级（特别重大）", "incident.level.II": "Ⅱ级（重大）", "incident.level.III": "Ⅲ级（较大）",
    "incident.level.IV": "Ⅳ级（一般）",
    "incident.kind.flood": "洪涝", "incident.kind.typhoon": "台风", "incident.kind.rainstorm": "暴雨",
    "incident.kind.earthquake": "地震", "incident.kind.geological": "地质灾害", "incident.kind.fire": "火灾",
    "incident.kind.accident": "事故灾难", "incident.kind.hazmat": "危化品", "incident.kind.public_health": "公共卫生",
    "incident.kind.mass_event": "群体性事件", "incident.kind.other": "其他",
    "triage.no_location": "无位置", "triage.outside_city": "位于市外", "triage.address_unmatched": "地址未匹配",
    "triage.address_ambiguous": "地址有歧义", "triage.unknown_category": "类别未知",
    "triage.no_boundaries": "未加载辖区边界", "triage.category_unclear": "类别不明",
    "triage.title": "研判", "triage.suggested": "识别建议（点击即按此类别派单）", "triage.evidence": "依据：{words}",
    "triage.pick": "其他类别", "triage.choose": "选择类别…", "triage.pick_go": "按此类别派单",
    "triage.dispatched": "已按「{c}」派单", "triage.pick_first": "请先选择类别",
    "role.admin": "管理员", "role.city_operator": "市级值班员", "role.county_dispatcher": "区县调度员",
    "role.township_handler": "街镇承办人", "role.grid_worker": "网格员", "role.auditor": "审计",
    "queue.empty": "暂无待办", "queue.more": "仅显示前 {n} 条",
    "sla.label": "时限",
    "toast.offline": "实时连接已断开，正在重连", "toast.signin_expired": "登录已过期，请重新登录",
  },
  en: {
    "app.console": "Command centre",
    "login.subtitle": "Command centre · duty sign-in",
    "tab.case": "Case",
    "map.heat": "Hotspots", "map.show_closed": "Show closed", "map.cases": "{n} on map",
    "map.heat_unavailable": "No hotspot counts at grid level", "map.heat_scale": "Cases, last 30 days",
    "map.category_all": "All categories", "map.drill_hint": "Click an area to drill in",
    "legend.title": "Legend", "legend.sla": "Deadline", "legend.state": "Other states", "legend.cluster": "Cluster (worst case colour)",
    "legend.show": "Show the legend", "legend.hide": "Hide the legend",
    "kpi.title": "KPIs", "kpi.ranking": "Township ranking by composite (this month)",
    "kpi.heatmatrix": "Hotspots: category × county (30 days)",
    "kpi.open": "Open", "kpi.overdue": "Overdue", "kpi.warning": "Warning", "kpi.triage": "Triage", "kpi.today": "New today",
    "kpi.composite": "Composite", "kpi.nodata": "No callbacks yet: no composite score to rank", "kpi.heat_nodata": "No cases in the last 30 days",
    "kpi.asof": "As of {time}", "kpi.response": "Response", "kpi.resolution": "Resolution", "kpi.satisfaction": "Satisfaction",
    "kpi.cases": "Cases",
    "kpi.n": "n={n}", "kpi.min_note": "Only townships with n≥{min} valid callbacks are ranked; n<{min}: too few samples",
    "kpi.unranked": "Too few samples, not ranked ({n}):", "kpi.none_ranked": "No township has enough samples to be ranked yet",
    "kpi.board_few": "Too few ranked townships for a black list",
    "kpi.rates_title": "Rates this month", "kpi.trend": "Trend, last 30 days (by day)", "kpi.trend_nodata": "No cases dispatched",
    "kpi.response_rate": "Response", "kpi.resolution_rate": "Resolution", "kpi.satisfaction_rate": "Satisfaction",
    "kpi.on_time_sign_rate": "On-time sign-off", "kpi.on_time_resolution_rate": "On-time resolution",
    "kpi.click_unit": "Click a township in the ranking or the lists to see its cases", "kpi.unit_cases": "Cases of {name}",
    "kpi.unit_more": "Latest {n} shown", "kpi.unit_none": "No cases", "kpi.close": "Close",
    "feed.empty": "Waiting for events…", "feed.count": "{n}",
    "case.none": "Pick a case on the map or in a list",
    "case.loading": "Loading the case…", "case.gone": "Cannot open this case", "case.close": "Close",
    "case.changed": "Someone just changed this case; your submission is checked against the version you saw",
    "case.reload": "Reload",
    "case.version": "Version", "case.flags": "Flags", "case.explanation": "Why this unit", "case.chain": "Areas",
    "case.place_evidence": "Place read from",
    "case.understood": "Recognised", "case.understood_as": "Recognised as {category} (from: {evidence}; confidence {confidence}%)",
    "case.active": "Running deadline", "case.all_deadlines": "All deadlines", "case.sensor": "Sensor", "case.location": "Position",
    "case.channel": "Channel", "case.type": "Type", "case.urgency": "Urgency", "case.reported_at": "Reported",
    "case.created_at": "Received", "case.actions": "Actions", "case.no_actions": "Nothing you can do on this case now",
    "case.triage_reason": "Triage reason", "case.pending_return": "Return request", "case.extension": "Extension request",
    "case.merge_suggestion": "Possible duplicate", "case.supervision": "Supervision level", "case.escalation": "Escalation level",
    "case.returns": "Returns", "case.redos": "Redos", "case.children": "Merged duplicates", "case.parent": "Parent case",
    "case.resolution": "Resolution", "case.outcome": "Outcome", "case.photo_failed": "Photo failed to load",
    "case.unit_none": "None", "case.locate": "Show on map", "case.address": "Address", "case.id": "Case id",
    "tl.by": "by", "badge.confidential": "Confidential", "clock.working": "working time",
    "clock.calendar": "calendar time",
    "action.sending": "Sending…", "action.confirm": "Carry out “{a}”?", "action.done": "Done: {a}",
    "action.failed": "Action failed",
    "f.note": "Note", "f.reason": "Reason", "f.until": "Extend until", "f.approve": "Decision", "f.area": "Area",
    "f.area_county": "County", "f.area_township": "Township (optional)", "f.unit": "Unit code", "f.unit_name": "Unit name (for units outside the matrix)",
    "f.contacted": "Caller contacted", "f.solved": "Problem solved", "f.satisfaction": "Satisfaction", "f.into": "Merge into case id",
    "f.photos": "Photos", "f.choose": "Choose", "yes": "Yes", "no": "No", "approve.yes": "Approve", "approve.no": "Refuse",
    "f.review_unit": "Re-dispatch to unit code (empty: the system proposes one)",
    "sat.satisfied": "Satisfied", "sat.basically_satisfied": "Basically satisfied", "sat.dissatisfied": "Dissatisfied",
    "sat.unreachable": "Unreachable",
    "ret.not_our_remit": "Not our remit", "ret.wrong_area": "Wrong area", "ret.unclear_ownership": "Unclear ownership",
    "type.consult": "Enquiry", "type.help": "Help", "type.complaint": "Complaint", "type.report": "Report",
    "type.suggestion": "Suggestion", "type.praise": "Praise", "type.other": "Other",
    "flag.near_boundary": "Near city border", "flag.near_internal_boundary": "Near township border",
    "flag.sensor_recovered": "Sensor recovered", "flag.outside_city": "Outside city", "flag.address_only": "Address only",
    "flag.located_from_text": "Located from the complaint text",
    "flag.danger_from_text": "Urgent (danger in the complaint text)",
    "flag.emergency": "Emergency footing",
    "incident.tab": "Incidents", "incident.active": "Active emergency incidents", "incident.none": "No emergency incident",
    "incident.declare": "Declare an incident", "incident.submit": "Declare", "incident.title": "Title",
    "incident.kind": "Kind", "incident.level": "Level", "incident.areas": "Areas (division codes, comma separated)",
    "incident.categories": "Categories (several allowed; none: all)",
    "incident.form_hint": "While it is active, new cases of these categories in these areas link to it and run on emergency limits",
    "incident.declared": "Incident declared: {title}", "incident.linked": "{n} cases",
    "incident.all_categories": "All categories", "incident.link_open": "Link open cases in its area",
    "incident.linked_now": "{n} open cases linked", "incident.set_level": "Change level", "incident.summary": "Summary",
    "incident.close": "Close the incident", "incident.review": "Download the review (XLSX)", "incident.cases": "Linked cases ({n})",
    "incident.units": "Units' responses", "incident.unit": "Unit", "incident.n_cases": "Cases", "incident.signed": "Signed",
    "incident.sign_p50": "Median time to sign", "incident.resolved": "Resolved", "incident.resolve_p50": "Median time to resolve",
    "incident.minutes": "{n} min", "incident.directives": "Directives",
    "incident.directives_missing": "Directives are not available on this hub yet", "incident.directives_none": "No directive sent yet",
    "incident.directive_progress": "{n}/{total} acknowledged", "incident.timeline": "Timeline",
    "incident.t_declared": "{who} declared level {level}", "incident.t_level": "Level changed to {level}",
    "incident.t_linked": "Case linked", "incident.t_resolved": "Case resolved", "incident.t_closed": "{who} closed the incident",
    "incident.badge": "Emergency · {title} · {level}",
    "incident.state.active": "Active", "incident.state.closed": "Closed",
    "incident.how.automatic": "linked automatically", "incident.how.by_hand": "linked by hand",
    "incident.level.I": "Level I (extraordinary)", "incident.level.II": "Level II (major)",
    "incident.level.III": "Level III (large)", "incident.level.IV": "Level IV (general)",
    "incident.kind.flood": "Flood", "incident.kind.typhoon": "Typhoon", "incident.kind.rainstorm": "Rainstorm",
    "incident.kind.earthquake": "Earthquake", "incident.kind.geological": "Geological hazard", "incident.kind.fire": "Fire",
    "incident.kind.accident": "Accident", "incident.kind.hazmat": "Hazardous materials",
    "incident.kind.public_health": "Public health", "incident.kind.mass_event": "Mass event", "incident.kind.other": "Other",
    "triage.no_location": "No location", "triage.outside_city": "Outside the city", "triage.address_unmatched": "Address not matched",
    "triage.address_ambiguous": "Ambiguous address", "triage.unknown_category": "Unknown category",
    "triage.no_boundaries": "No boundaries loaded", "triage.category_unclear": "Category unclear",
    "triage.title": "Triage", "triage.suggested": "Suggested (one click dispatches under it)",
    "triage.evidence": "because of: {words}", "triage.pick": "Another category", "triage.choose": "Choose a category…",
    "triage.pick_go": "Dispatch under this category", "triage.dispatched": "Dispatched as “{c}”",
    "triage.pick_first": "Choose a category first",
    "role.admin": "Admin", "role.city_operator": "City operator", "role.county_dispatcher": "County dispatcher",
    "role.township_handler": "Township handler", "role.grid_worker": "Grid worker", "role.auditor": "Auditor",
    "queue.empty": "Nothing to do", "queue.more": "First {n} shown",
    "sla.label": "Deadline",
    "toast.offline": "Live connection lost; reconnecting", "toast.signin_expired": "Signed out: please sign in again",
  },
};


/** A word of this console, else of the shared dictionary, with {name} parameters filled in. */
export const w = wordsOf(WORDS);

/** A word for an enumerated value (`prefix.value`), or the value itself when unknown. */
export function wv(prefix, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `${prefix}.${value}`;
  const text = w(key);
  return text === key ? String(value) : text;
}

export const evName = eventName;

/** Apply `data-w` keys below `root` (text) and `data-w-title` (title attribute). */
export function translatePage(root = document) {
  root.querySelectorAll("[data-w]").forEach((el) => { el.textContent = w(el.dataset.w); });
  root.querySelectorAll("[data-w-title]").forEach((el) => { el.title = w(el.dataset.wTitle); });
}

// Category names by code and channel name (GET /api/v1/console/config `category_names`), in the console's
// language: also for cases that have no matrix category yet (triage), where the raw alias ("flooding") would show.
export function setCategories(list, names) {
  setCategoryNames(names || Object.fromEntries((list || []).flatMap((c) => {
    const path = { zh: [c.group, c.name], en: [c.group_en || c.group, c.name_en || c.name] };
    return [[c.category, path], [c.code, path]];
  })));
}

/** The name of a category given by its alias or code ("flooding" → 道路积水 / Flooded road). */
export function categoryName(value) { return categoryLabel(value); }

/** A short title for lists: the category's last level, and where (township, else county). */
export function caseLabel(c) {
  const path = categoryPath(c);
  const category = path[path.length - 1] || "";
  const areas = c.areas || {};
  const place = (areas.township || areas.county || {}).name || "";
  return [category, place].filter(Boolean).join(" · ");
}
