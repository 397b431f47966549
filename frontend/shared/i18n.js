// Language and formatting for both consoles: Simplified Chinese by default, English switchable.
// Dates and durations follow Chinese conventions (2026年11月22日 09:05, 2天3小时, 剩余/超时).
// Only words live here; what a state or an action *means* is decided by the server.

const DICT = {
  zh: {
    "app.title": "城市运行管理中枢", "app.console": "指挥中心", "app.mobile": "街镇工作台",
    "login.username": "用户名", "login.password": "密码", "login.submit": "登录", "login.failed": "登录失败",
    "logout": "退出", "lang.switch": "English",
    "conn.live": "实时", "conn.connecting": "连接中…", "conn.reconnecting": "重连中…", "conn.offline": "已断开",
    "feed.title": "实时事件", "map.title": "态势地图", "case.title": "工单详情", "queues.title": "待办队列",
    "kpi.title": "考核指标", "heat.title": "高频事项热力", "ranking.red": "红榜", "ranking.black": "黑榜",
    "queue.triage": "待研判", "queue.returns": "退单审核", "queue.extensions": "延期审批", "queue.overdue": "已超时",
    "queue.supervised": "督办中", "queue.merge_suggestions": "疑似重复", "queue.mine": "我的待办",
    "sla.on_time": "正常", "sla.warning": "预警", "sla.overdue": "超时", "sla.none": "—",
    "deadline.sign_by": "签收时限", "deadline.resolve_by": "办结时限", "deadline.callback_by": "回访时限",
    "countdown.left": "剩余{d}", "countdown.over": "超时{d}",
    // Directives (政令一键智达): both consoles.
    "dir.tab": "指令", "dir.due": "办理时限", "dir.issued_by": "发令", "dir.reply.ack": "签收", "dir.reply.report": "签收并回复",
    "dir.state.open": "进行中", "dir.state.overdue": "已超时", "dir.state.completed": "已完成",
    "dir.r.pending": "未签收", "dir.r.acknowledged": "已签收", "dir.r.replied": "已回复", "dir.r.overdue": "超时未办",
    "dir.progress": "已签收 {n}/{m}", "dir.replied": "已回复 {n}/{m}", "dir.late": "逾期", "dir.attachments": "附件",
    "dir.escalated": "已上报 {unit}", "dir.reminded": "已催办 {n} 次", "dir.none": "暂无指令", "dir.reply_text": "回复内容",
    "deadline.met.sign_by": "已签收 {at}", "deadline.met.resolve_by": "已办结 {at}", "deadline.met.callback_by": "已回访结案 {at}",
    "deadline.late": "超时", "deadline.paused": "计时暂停",
    "case.ticket": "工单号", "case.category": "类别", "case.state": "状态", "case.area": "区域",
    "case.unit": "承办单位", "case.assist": "协办单位", "case.rule": "派单依据", "case.reporter": "来电人",
    "case.content": "诉求内容", "case.address": "地址", "case.timeline": "处理过程", "case.deadlines": "时限",
    "case.source": "来源", "case.photos": "照片", "case.none": "选择地图或列表中的工单查看详情",
    "case.confidential": "保密工单：内容已隐藏",
    "action.done": "已提交", "action.conflict": "工单已被他人更新，已刷新，请确认后重试",
    "action.failed": "操作失败", "action.submit": "提交", "action.cancel": "取消",
    "report.new": "上报问题", "report.sent": "已上报", "gps.locating": "定位中…", "gps.failed": "无法获取定位",
    "photo.add": "拍照/选图", "queue.empty": "暂无待办", "loading": "加载中…", "all": "全部",
    "drill.city": "南宁市", "drill.up": "返回上级",
    "urgency.normal": "一般", "urgency.urgent": "紧急", "urgency.critical": "特急", "urgency.complex": "复杂",
    "duty.officer": "值班人员", "duty.none": "未排班", "duty.whole_day": "全天", "duty.call": "拨打 {name}",
    "worktime.paused": "非工作时间，计时暂停", "worktime.resumes": "{time} 恢复计时",
    "worktime.explain": "按工作日计的时限在夜间、周末和节假日不计时；特急、紧急工单按自然时间照常计时",
    "role.admin": "管理员", "role.city_operator": "市级值班员", "role.county_dispatcher": "区县调度员",
    "role.township_handler": "街镇承办人", "role.grid_worker": "网格员", "role.auditor": "审计",
    "actor.system": "系统", "actor.hotline": "12345热线接口", "actor.open311": "Open311接口",
    "actor.iot": "物联感知设备 {name}", "actor.person": "{name}（{unit}）",
    // 派单说明, put together from the facts the dispatch recorded (explanation_facts).
    "why.rule": "{about}：按规则「{rule}」→ {lead}{assist}",
    "why.special_owner": "{about}：{hints}专属权属，优先于属地规则 → {lead}{assist}",
    "why.fallback": "{about}：{why}，属地兜底 → {lead}",
    "why.manual": "{about}：{role}人工派单 → {lead}", "why.review": "{about}：退单审核，{role}改派 → {lead}",
    "why.rule_name": "{category} {scope}", "why.lead": "主办 {unit}", "why.alt_lead": "备选主办 {unit}",
    "why.assist": "，协办 {units}", "why.list_sep": "、", "why.place_sep": "",
    "why.no_rule": "无适用规则", "why.exhausted": "其他候选单位均已退单", "why.no_matrix": "未配置权责清单",
    "scope.city": "全市", "scope.county": "各区县", "scope.township": "各街镇", "scope.community": "各社区",
    "scope.grid": "各网格", "hint.road.national_highway": "国道",
    "rule.fallback.township_government": "属地兜底（街镇政府）", "rule.fallback.county_government": "属地兜底（区县政府）",
    "rule.manual": "人工派单（{role}）", "rule.review": "退单改派（{role}）",
    // 预警 (early warning): shared by both consoles (frontend/shared/alerts.js).
    "alert.title": "预警", "alert.line": "预警：{place} {category} {window}内 {n} 起（预期 {expected}）",
    "alert.line_iot": "预警：{place} {category} {window}内 {devices} 个设备同时告警",
    "alert.window_hours": "{n}小时", "alert.window_days": "{n}天",
    "alert.state.open": "待确认", "alert.state.acknowledged": "已确认", "alert.state.closed": "已关闭",
    "alert.kind.surge": "数量激增", "alert.kind.iot_cluster": "物联集中告警",
    "alert.observed": "实际 {n} 起", "alert.expected": "预期 {n}", "alert.window": "统计窗口",
    "alert.raised_at": "发出时间", "alert.acknowledged": "确认", "alert.closed": "关闭", "alert.note": "说明",
    "alert.cases": "关联工单（{n}）", "alert.acknowledge": "确认预警", "alert.close": "关闭预警",
    "alert.note_ph": "如：已派人到场查看", "alert.done.acknowledge": "已确认预警", "alert.done.close": "已关闭预警",
    "alert.none": "暂无预警", "alert.active": "未关闭", "alert.dismiss": "关闭提示", "alert.more": "另有 {n} 条",
    "alert.area": "区域", "alert.category": "类别", "alert.kind": "类型", "alert.devices": "设备",
  },
  en: {
    "app.title": "City Operations Hub", "app.console": "Command centre", "app.mobile": "Township desk",
    "login.username": "Username", "login.password": "Password", "login.submit": "Sign in", "login.failed": "Sign-in failed",
    "logout": "Sign out", "lang.switch": "中文",
    "conn.live": "Live", "conn.connecting": "Connecting…", "conn.reconnecting": "Reconnecting…", "conn.offline": "Offline",
    "feed.title": "Live events", "map.title": "Map", "case.title": "Case", "queues.title": "Queues",
    "kpi.title": "KPIs", "heat.title": "Hotspots", "ranking.red": "Best", "ranking.black": "Worst",
    "queue.triage": "Triage", "queue.returns": "Returns to review", "queue.extensions": "Extensions",
    "queue.overdue": "Overdue", "queue.supervised": "Supervised", "queue.merge_suggestions": "Possible duplicates",
    "queue.mine": "My queue",
    "sla.on_time": "On time", "sla.warning": "Warning", "sla.overdue": "Overdue", "sla.none": "—",
    "deadline.sign_by": "Sign off by", "deadline.resolve_by": "Resolve by", "deadline.callback_by": "Call back by",
    "countdown.left": "{d} left", "countdown.over": "{d} overdue",
    "dir.tab": "Directives", "dir.due": "Due", "dir.issued_by": "From", "dir.reply.ack": "Acknowledge",
    "dir.reply.report": "Acknowledge and report", "dir.state.open": "Open", "dir.state.overdue": "Overdue",
    "dir.state.completed": "Completed", "dir.r.pending": "Not received", "dir.r.acknowledged": "Received",
    "dir.r.replied": "Reported", "dir.r.overdue": "Overdue", "dir.progress": "Received {n}/{m}",
    "dir.replied": "Reported {n}/{m}", "dir.late": "late", "dir.attachments": "Attachments",
    "dir.escalated": "Escalated to {unit}", "dir.reminded": "Reminded {n}×", "dir.none": "No directives",
    "dir.reply_text": "Report",
    "deadline.met.sign_by": "Signed for {at}", "deadline.met.resolve_by": "Resolved {at}",
    "deadline.met.callback_by": "Called back, closed {at}", "deadline.late": "late", "deadline.paused": "Clock paused",
    "case.ticket": "Ticket", "case.category": "Category", "case.state": "State", "case.area": "Area",
    "case.unit": "Lead unit", "case.assist": "Assisting", "case.rule": "Routing rule", "case.reporter": "Caller",
    "case.content": "Request", "case.address": "Address", "case.timeline": "Timeline", "case.deadlines": "Deadlines",
    "case.source": "Source", "case.photos": "Photos", "case.none": "Pick a case on the map or in a list",
    "case.confidential": "Confidential case: content hidden",
    "action.done": "Done", "action.conflict": "Someone else changed this case; it was reloaded — check and retry",
    "action.failed": "Action failed", "action.submit": "Submit", "action.cancel": "Cancel",
    "report.new": "Report a problem", "report.sent": "Reported", "gps.locating": "Locating…",
    "gps.failed": "No GPS position", "photo.add": "Photo", "queue.empty": "Nothing to do", "loading": "Loading…",
    "all": "All", "drill.city": "Nanning", "drill.up": "Up a level",
    "urgency.normal": "Normal", "urgency.urgent": "Urgent", "urgency.critical": "Critical", "urgency.complex": "Complex",
    "duty.officer": "On duty", "duty.none": "No one on duty", "duty.whole_day": "All day", "duty.call": "Call {name}",
    "worktime.paused": "Outside working hours: clocks paused", "worktime.resumes": "resumes {time}",
    "worktime.explain": "Working-time limits do not count at night, at weekends and on holidays; critical and "
      + "urgent cases run on calendar time as usual",
    "role.admin": "Admin", "role.city_operator": "City operator", "role.county_dispatcher": "County dispatcher",
    "role.township_handler": "Township handler", "role.grid_worker": "Grid worker", "role.auditor": "Auditor",
    "actor.system": "System", "actor.hotline": "12345 hotline interface", "actor.open311": "Open311 interface",
    "actor.iot": "IoT device {name}", "actor.person": "{name} ({unit})",
    "why.rule": "{about}: rule “{rule}” → {lead}{assist}",
    "why.special_owner": "{about}: {hints} has its own owner, before the area rule → {lead}{assist}",
    "why.fallback": "{about}: {why}, so the area's government leads (fallback) → {lead}",
    "why.manual": "{about}: dispatched by hand by a {role} → {lead}",
    "why.review": "{about}: re-dispatched by a {role} reviewing a return → {lead}",
    "why.rule_name": "{category}, {scope}", "why.lead": "lead {unit}", "why.alt_lead": "alternative lead {unit}",
    "why.assist": ", assisting {units}", "why.list_sep": ", ", "why.place_sep": " ",
    "why.no_rule": "no rule applies", "why.exhausted": "every other candidate returned it",
    "why.no_matrix": "no responsibility matrix configured",
    "scope.city": "whole city", "scope.county": "every county", "scope.township": "every township",
    "scope.community": "every community", "scope.grid": "every grid", "hint.road.national_highway": "national highway",
    "rule.fallback.township_government": "Fallback (township government)",
    "rule.fallback.county_government": "Fallback (county government)",
    "rule.manual": "Dispatched by hand ({role})", "rule.review": "Re-dispatched on review ({role})",
    "alert.title": "Alerts", "alert.line": "Alert: {place} {category}: {n} in {window} (expected {expected})",
    "alert.line_iot": "Alert: {place} {category}: {devices} devices alarming within {window}",
    "alert.window_hours": "{n} h", "alert.window_days": "{n} d",
    "alert.state.open": "Open", "alert.state.acknowledged": "Acknowledged", "alert.state.closed": "Closed",
    "alert.kind.surge": "Surge", "alert.kind.iot_cluster": "IoT cluster",
    "alert.observed": "{n} observed", "alert.expected": "{n} expected", "alert.window": "Window",
    "alert.raised_at": "Raised", "alert.acknowledged": "Acknowledged", "alert.closed": "Closed", "alert.note": "Note",
    "alert.cases": "Linked cases ({n})", "alert.acknowledge": "Acknowledge", "alert.close": "Close alert",
    "alert.note_ph": "e.g. someone is on the way", "alert.done.acknowledge": "Alert acknowledged",
    "alert.done.close": "Alert closed",
    "alert.none": "No alerts", "alert.active": "Not closed", "alert.dismiss": "Dismiss", "alert.more": "{n} more",
    "alert.area": "Area", "alert.category": "Category", "alert.kind": "Kind", "alert.devices": "Devices",
  },
};

const STATES = {
  zh: { received: "已受理", triage: "待研判", dispatched: "待签收", return_requested: "退单审核", accepted: "办理中",
        resolved: "已办结待回访", closed: "已结案", merged: "已合并", parked: "挂账", rejected: "不予受理" },
  en: { received: "Received", triage: "Triage", dispatched: "Awaiting sign-off", return_requested: "Return review",
        accepted: "In progress", resolved: "Resolved, awaiting callback", closed: "Closed", merged: "Merged",
        parked: "Parked", rejected: "Rejected" },
};

const EVENTS = {
  zh: { "case.received": "受理", "case.triaged": "转人工研判", "case.dispatched": "派单", "case.accepted": "签收",
        "case.return_requested": "申请退单", "case.return_reviewed": "退单审核", "case.extension_requested": "申请延期",
        "case.extension_reviewed": "延期审批", "case.progressed": "进展反馈", "case.pushed_down": "下派",
        "case.resolved": "办结", "case.callback_recorded": "回访", "case.closed": "结案", "case.redone": "重办",
        "case.supervised": "督办", "case.sla_warning": "时限预警", "case.reminded": "催办", "case.flagged": "挂牌督办",
        "case.escalated": "升级", "case.merged": "合并", "case.split": "拆分", "case.child_attached": "并入重复件",
        "case.child_detached": "移出重复件", "case.parent_updated": "主件更新", "case.parked": "挂账",
        "case.reopened": "重新打开", "case.rejected": "不予受理", "case.commented": "备注",
        "case.merge_suggested": "疑似重复", "case.alarm_repeated": "设备重复报警", "case.sensor_recovered": "设备恢复",
        "case.incident_linked": "关联应急事件" },
  en: { "case.received": "Received", "case.triaged": "Sent to triage", "case.dispatched": "Dispatched",
        "case.accepted": "Signed off", "case.return_requested": "Return requested", "case.return_reviewed": "Return reviewed",
        "case.extension_requested": "Extension requested", "case.extension_reviewed": "Extension reviewed",
        "case.progressed": "Progress", "case.pushed_down": "Pushed down", "case.resolved": "Resolved",
        "case.callback_recorded": "Callback", "case.closed": "Closed", "case.redone": "Redo",
        "case.supervised": "Supervised", "case.sla_warning": "Deadline warning", "case.reminded": "Reminder",
        "case.flagged": "Flagged", "case.escalated": "Escalated", "case.merged": "Merged", "case.split": "Split",
        "case.child_attached": "Duplicate attached", "case.child_detached": "Duplicate detached",
        "case.parent_updated": "Parent updated", "case.parked": "Parked", "case.reopened": "Reopened",
        "case.rejected": "Rejected", "case.commented": "Comment", "case.merge_suggested": "Possible duplicate",
        "case.alarm_repeated": "Repeated alarm", "case.sensor_recovered": "Sensor recovered",
        "case.incident_linked": "Linked to an incident" },
};

const ACTIONS = {
  zh: { dispatch: "派单", accept: "签收", return: "退回", review_return: "退单审核", request_extension: "申请延期",
        review_extension: "延期审批", progress: "进展反馈", push_down: "下派", resolve: "办结", callback: "回访",
        supervise: "督办", escalate: "升级", merge: "合并", split: "拆分", park: "挂账", reopen: "重新打开",
        reject: "不予受理", comment: "备注" },
  en: { dispatch: "Dispatch", accept: "Sign off", return: "Return", review_return: "Review return",
        request_extension: "Ask extension", review_extension: "Review extension", progress: "Progress",
        push_down: "Push down", resolve: "Resolve", callback: "Callback", supervise: "Supervise",
        escalate: "Escalate", merge: "Merge", split: "Split", park: "Park", reopen: "Reopen", reject: "Reject",
        comment: "Comment" },
};

// Where a case came from (its `source`) and by which channel the hotline or an app got it (`report.channel`).
const SOURCES = {
  zh: { hotline: "12345热线", open311: "Open311", iot: "物联感知", grid: "网格上报", reopen: "重新受理" },
  en: { hotline: "12345 hotline", open311: "Open311", iot: "IoT sensor", grid: "Grid report", reopen: "Reopened" },
};
const CHANNELS = {
  zh: { phone: "12345热线电话", wechat: "12345微信", app: "12345手机App", web: "12345网站", sms: "短信",
        email: "电子邮件", console: "指挥中心录入" },
  en: { phone: "12345 phone call", wechat: "12345 WeChat", app: "12345 mobile app", web: "12345 website", sms: "SMS",
        email: "Email", console: "Entered at the command centre" },
};

let current = localStorage.getItem("cityloop.lang") === "en" ? "en" : "zh";
const listeners = new Set();

export function lang() { return current; }
export function setLang(value) {
  current = value === "en" ? "en" : "zh";
  localStorage.setItem("cityloop.lang", current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  listeners.forEach((fn) => fn(current));
}
export function onLangChange(fn) { listeners.add(fn); }

export function t(key, params = {}) {
  const text = DICT[current][key] ?? DICT.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}
/** A console's own words ({zh: {...}, en: {...}}) on top of the shared ones: returns its `w(key, params)`. */
export function wordsOf(words) {
  return (key, params = {}) => {
    const text = words[current][key] ?? words.zh[key];
    if (text === undefined) return t(key, params);
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  };
}

export const stateName = (state) => STATES[current][state] ?? state;
export const eventName = (type) => EVENTS[current][type] ?? (current === "en" ? type.replace(/^case\./, "").replace(/_/g, " ") : type);
export const actionName = (action) => ACTIONS[current][action] ?? action;
export const sourceName = (source) => SOURCES[current][source] ?? source ?? "";
/** A report's channel (phone, wechat, grid, iot …) in words; a source's name for the channels that are one. */
export const channelName = (channel) => CHANNELS[current][channel] ?? SOURCES[current][channel] ?? channel ?? "";
export const roleName = (role) => (DICT[current][`role.${role}`] ?? role ?? "");

// --- category names in the console's language --------------------------------------------------------
// GET /api/v1/console/config gives `category_names`: code or channel name → {zh: [root … node], en: [...]}.
let categoryNames = {};
export function setCategoryNames(names) { categoryNames = names || {}; }

/** A case's category path (root … node) in the current language: the names the case carries, the English
 * ones from the case (`path_en`) or the configured tree; else the channel's category looked up in the tree. */
export function categoryPath(c) {
  const cat = c && c.category;
  const known = (key) => (key && categoryNames[key] ? categoryNames[key][current] : null);
  if (cat && Array.isArray(cat.path) && cat.path.length) {
    if (current === "zh") return cat.path;
    return cat.path_en || known(cat.code) || cat.path;
  }
  const raw = c && c.report && c.report.category;
  return known(raw) || (raw ? [String(raw)] : []);
}
/** The name of a category given by code or channel name ("flooding" → 道路积水 / Flooded road). */
export function categoryLabel(value) {
  const names = value && categoryNames[value] ? categoryNames[value][current] : null;
  return names ? names[names.length - 1] : (value || "");
}

// --- who did it ----------------------------------------------------------------------------------------
/** An event's actor for people: the server's `by` (name and unit), else the recorded "role:username". */
export function actorText(e) {
  const by = e && e.by;
  if (by && by.kind) {
    if (by.kind === "user") {
      const unit = by.unit ? (by.unit.name || by.unit.code) : roleName(by.role);
      return unit ? t("actor.person", { name: by.name, unit }) : String(by.name || "");
    }
    if (by.kind === "iot") return t("actor.iot", { name: by.name || "" }).trim();
    if (DICT[current][`actor.${by.kind}`]) return t(`actor.${by.kind}`);
    return String(by.name || "");
  }
  const actor = String((e && e.actor) || "");
  if (!actor) return "";
  const [role, ...rest] = actor.split(":");
  const name = rest.join(":");
  if (role === "system") return t("actor.system");
  if (role === "iot") return t("actor.iot", { name }).trim();
  if (DICT[current][`actor.${role}`]) return t(`actor.${role}`);
  if (DICT[current][`role.${role}`]) return name ? t("actor.person", { name, unit: roleName(role) }) : roleName(role);
  return actor;
}

// --- 派单说明 -------------------------------------------------------------------------------------------
/** The routing rule a case's `rule` names: a configured rule's id as it is, the built-in ones in words. */
export function ruleName(rule) {
  if (!rule) return "";
  const [kind, arg] = String(rule).split(":");
  if (kind === "fallback" && DICT[current][`rule.fallback.${arg}`]) return t(`rule.fallback.${arg}`);
  if ((kind === "manual" || kind === "review") && arg) return t(`rule.${kind}`, { role: roleName(arg) });
  return String(rule);
}

/** A configured rule in words, from the dispatch's facts ("市容环境 各街镇"); "" for other kinds. */
export function ruleLabel(facts) {
  if (!facts || facts.kind !== "rule") return "";
  const scope = facts.scope || {};
  const where = scope.area ? (scope.area.name || scope.area.code) : t(`scope.${scope.level}`);
  return t("why.rule_name", { category: categoryNodeName(facts.rule_category), scope: where });
}

function categoryNodeName(node) {
  if (!node) return "";
  const names = categoryNames[node.code];
  if (names) return names[current][names[current].length - 1];
  return (current === "en" && node.name_en) || node.name || node.code || "";
}

/** Why this unit leads, in words, from the facts the dispatch recorded (`explanation_facts`); a case
 * dispatched before those were recorded shows its stored sentence. */
export function explanationText(facts, stored = "") {
  if (!facts || !facts.kind) return stored || "";
  const list = (units) => (units || []).map((u) => u.name || u.code).join(t("why.list_sep"));
  const place = (facts.place || []).map((a) => a.name || a.code).join(t("why.place_sep"));
  const about = [categoryNodeName(facts.category), place].filter(Boolean).join(" · ");
  const lead = facts.lead ? t(facts.alternative ? "why.alt_lead" : "why.lead", { unit: facts.lead.name || facts.lead.code }) : "";
  const assist = facts.assist && facts.assist.length ? t("why.assist", { units: list(facts.assist) }) : "";
  switch (facts.kind) {
    case "rule":
      return t("why.rule", { about, rule: ruleLabel(facts), lead, assist });
    case "special_owner": {
      const hints = Object.entries(facts.hints || {}).map(([k, v]) => {
        const key = `hint.${k}.${v}`;
        return DICT[current][key] ? t(key) : `${k}=${v}`;
      }).join(t("why.list_sep"));
      return t("why.special_owner", { about, hints, lead, assist });
    }
    case "fallback":
      return t("why.fallback", { about, why: t(`why.${facts.why}`), lead });
    case "manual":
    case "review":
      return t(`why.${facts.kind}`, { about: about || place, role: roleName(facts.role), lead });
    default:
      return stored || "";
  }
}

/** Apply `data-i18n` keys to elements below `root` (text content) and `data-i18n-placeholder`. */
export function translate(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
}

const pad = (n) => String(n).padStart(2, "0");

/** 2026年11月22日 09:05 (zh) or 2026-11-22 09:05 (en), in China time whatever the browser's zone. */
export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000); // UTC+8, read back with getUTC*
  const date = current === "zh"
    ? `${d.getUTCFullYear()}年${d.getUTCMonth() + 1}月${d.getUTCDate()}日`
    : `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return `${date} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** 09:05:12 in China time, for the live feed. */
export function formatClock(iso) {
  const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** A duration the Chinese way: 2天3小时, 3小时15分, 12分钟, 不足1分钟 (English: 2d 3h, 3h 15m, 12 min). */
export function formatDuration(ms) {
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
  if (current === "zh") {
    if (days) return `${days}天${hours ? hours + "小时" : ""}`;
    if (hours) return `${hours}小时${mins ? mins + "分" : ""}`;
    return mins ? `${mins}分钟` : "不足1分钟";
  }
  if (days) return `${days}d${hours ? " " + hours + "h" : ""}`;
  if (hours) return `${hours}h${mins ? " " + mins + "m" : ""}`;
  return mins ? `${mins} min` : "< 1 min";
}

/** "剩余2小时" / "超时15分钟" for a deadline, relative to `now` (ms). */
export function countdown(deadlineIso, now = Date.now()) {
  const left = new Date(deadlineIso).getTime() - now;
  return left >= 0 ? t("countdown.left", { d: formatDuration(left) }) : t("countdown.over", { d: formatDuration(left) });
}

/** Escape text for innerHTML. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
}
