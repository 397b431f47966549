// Words the township phone console needs beyond the shared dictionary (frontend/shared/i18n.js).
// w(key) looks here first, then in the shared dictionary, so shared words stay in one place.

import { lang, t } from "/static/shared/i18n.js";

const WORDS = {
  zh: {
    "nav.queue": "我的待办", "nav.report": "上报", "nav.me": "我的",
    "lang.short": "EN",
    "queue.count.all": "全部", "queue.count.overdue": "已超时", "queue.count.dispatched": "待签收",
    "queue.count.accepted": "办理中", "queue.count.return_requested": "退单中", "case.signed": "已签收 {at}",
    "queue.lead": "主办", "queue.not_mine": "非本单位主办，仅可备注",
    "queue.loading": "正在载入待办…", "queue.retry": "重新连接",
    "queue.updated": "工单有新的变动", "queue.paused": "计时暂停", "queue.stale": "实时连接中断，列表可能不是最新",
    "case.back": "返回", "case.reload": "刷新", "case.changed": "此工单刚被更新，点“刷新”查看最新内容",
    "case.loading": "正在载入工单…", "case.load_failed": "工单载入失败", "case.not_found": "无权查看或工单不存在",
    "case.urgency": "紧急程度", "case.reported_at": "上报时间", "case.no_photos": "暂无照片",
    "case.photo_failed": "照片加载失败，点此重试", "case.photo_tap": "点击加载照片",
    "case.timeline_count": "处理过程（{n}条）", "case.actor": "操作人", "case.no_actions": "当前无需您操作",
    "case.extension_pending": "延期申请待审批：至{until}",
    "case.last_progress": "最近进展", "case.resolution": "办结说明", "case.lead_unit": "主办单位",
    "urgency.normal": "一般", "urgency.urgent": "紧急", "urgency.critical": "特急", "urgency.complex": "复杂",
    "form.note": "说明", "form.note.progress": "进展情况", "form.note.resolve": "办理结果", "form.note.comment": "备注内容",
    "form.note.return": "退回说明", "form.reason": "退回原因", "form.reason.pick": "请选择原因",
    "form.until": "延期至（北京时间）", "form.ext_reason": "延期理由", "form.photo": "现场照片",
    "form.photo.take": "拍照", "form.photo.remove": "删除照片", "form.required": "必填",
    "form.until.after": "须晚于当前办结时限 {due}",
    "reason.not_our_remit": "职能不符", "reason.wrong_area": "属地不符", "reason.unclear_ownership": "权属不清",
    "act.accept": "签收", "act.progress": "进展", "act.return": "退回", "act.request_extension": "申请延期",
    "act.resolve": "办结", "act.comment": "备注",
    "act.sending": "提交中…", "act.uploading": "上传照片 {i}/{n}…", "act.retry": "重试",
    "act.network": "网络不畅，内容已保留，请重试", "act.timeout": "请求超时，内容已保留，请重试",
    "act.accepted": "已签收", "act.fields": "请检查填写的内容",
    "report.title": "上报问题", "report.category": "问题类别", "report.category.pick": "请选择类别",
    "report.content": "问题描述", "report.content.ph": "描述现场情况，如位置、数量、影响",
    "report.location": "位置", "report.gps.ok": "已定位 ±{acc} 米", "report.gps.retry": "重新定位",
    "report.gps.unsupported": "此设备不支持定位", "report.address": "地址（定位失败时必填）",
    "report.address.ph": "如：青秀区建政街道长虹路12号", "report.routes_to": "将派往：{place}",
    "report.photos": "现场照片", "report.submit": "提交上报", "report.sending": "上报中…",
    "report.need_place": "请等待定位成功，或填写地址", "report.done": "上报成功",
    "report.case_id": "工单编号", "report.open": "查看工单", "report.another": "继续上报",
    "report.elsewhere": "该位置不属于本街镇，已按位置派往属地处理",
    "report.photo_count": "已选 {n} 张",
    "me.title": "我的", "me.user": "账号", "me.role": "角色", "me.area": "辖区", "me.conn": "实时连接",
    "me.events": "已接收事件", "me.reconnects": "重连次数", "me.reconnect": "重新连接", "me.lang": "语言 / Language",
    "role.township_handler": "街镇承办人", "role.grid_worker": "网格员", "role.county_dispatcher": "区县调度员",
    "role.city_operator": "市城运值班员", "role.admin": "管理员", "role.auditor": "审计",
    "login.hint": "街镇/乡镇承办人员登录", "login.busy": "登录中…",
    "time.now": "刚刚",
  },
  en: {
    "nav.queue": "My queue", "nav.report": "Report", "nav.me": "Me",
    "lang.short": "中",
    "queue.count.all": "All", "queue.count.overdue": "Overdue", "queue.count.dispatched": "To sign",
    "queue.count.accepted": "Working", "queue.count.return_requested": "Returned", "case.signed": "signed {at}",
    "queue.lead": "Lead", "queue.not_mine": "Led by another unit: comments only",
    "queue.loading": "Loading your queue…", "queue.retry": "Reconnect",
    "queue.updated": "Case updated", "queue.paused": "clock paused", "queue.stale": "Live connection lost: the list may be out of date",
    "case.back": "Back", "case.reload": "Reload", "case.changed": "This case was just updated — tap Reload to see it",
    "case.loading": "Loading case…", "case.load_failed": "Could not load the case", "case.not_found": "No such case, or not yours to see",
    "case.urgency": "Urgency", "case.reported_at": "Reported", "case.no_photos": "No photos",
    "case.photo_failed": "Photo failed — tap to retry", "case.photo_tap": "Tap to load photo",
    "case.timeline_count": "Timeline ({n})", "case.actor": "By", "case.no_actions": "Nothing for you to do now",
    "case.extension_pending": "Extension requested until {until}, awaiting approval",
    "case.last_progress": "Latest progress", "case.resolution": "Resolution", "case.lead_unit": "Lead unit",
    "urgency.normal": "Normal", "urgency.urgent": "Urgent", "urgency.critical": "Critical", "urgency.complex": "Complex",
    "form.note": "Note", "form.note.progress": "What was done", "form.note.resolve": "How it was resolved",
    "form.note.comment": "Comment", "form.note.return": "Why it is returned", "form.reason": "Reason",
    "form.reason.pick": "Pick a reason", "form.until": "Extend until (China time)", "form.ext_reason": "Why more time is needed",
    "form.photo": "Photo", "form.photo.take": "Take photo", "form.photo.remove": "Remove photo",
    "form.required": "required", "form.until.after": "Must be after the current deadline {due}",
    "reason.not_our_remit": "Not our remit", "reason.wrong_area": "Wrong area", "reason.unclear_ownership": "Unclear ownership",
    "act.accept": "Sign off", "act.progress": "Progress", "act.return": "Return", "act.request_extension": "Extend",
    "act.resolve": "Resolve", "act.comment": "Comment",
    "act.sending": "Sending…", "act.uploading": "Uploading photo {i}/{n}…", "act.retry": "Retry",
    "act.network": "Network problem — your input is kept, retry", "act.timeout": "Timed out — your input is kept, retry",
    "act.accepted": "Signed off", "act.fields": "Please check these fields",
    "report.title": "Report a problem", "report.category": "Category", "report.category.pick": "Pick a category",
    "report.content": "Description", "report.content.ph": "What is there: where, how much, who is affected",
    "report.location": "Location", "report.gps.ok": "Located ±{acc} m", "report.gps.retry": "Locate again",
    "report.gps.unsupported": "This device cannot locate", "report.address": "Address (required without GPS)",
    "report.address.ph": "e.g. 12 Changhong Rd, Jianzheng, Qingxiu", "report.routes_to": "Goes to: {place}",
    "report.photos": "Photos", "report.submit": "Send report", "report.sending": "Sending…",
    "report.need_place": "Wait for GPS or type an address", "report.done": "Reported",
    "report.case_id": "Case id", "report.open": "Open case", "report.another": "Report another",
    "report.elsewhere": "This place belongs to another township; the case went to them",
    "report.photo_count": "{n} selected",
    "me.title": "Me", "me.user": "User", "me.role": "Role", "me.area": "Area", "me.conn": "Live connection",
    "me.events": "Events received", "me.reconnects": "Reconnects", "me.reconnect": "Reconnect", "me.lang": "Language / 语言",
    "role.township_handler": "Township handler", "role.grid_worker": "Grid worker", "role.county_dispatcher": "County dispatcher",
    "role.city_operator": "City operator", "role.admin": "Administrator", "role.auditor": "Auditor",
    "login.hint": "Sign in as a township handler", "login.busy": "Signing in…",
    "time.now": "just now",
  },
};

/** A word of this console (or of the shared dictionary), with {name} parameters filled in. */
export function w(key, params = {}) {
  const text = WORDS[lang()][key] ?? WORDS.zh[key];
  if (text === undefined) return t(key, params);
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

/** Apply `data-w` keys (text) and `data-w-placeholder` below `root`. */
export function translateWords(root = document) {
  root.querySelectorAll("[data-w]").forEach((el) => { el.textContent = w(el.dataset.w); });
  root.querySelectorAll("[data-w-placeholder]").forEach((el) => { el.placeholder = w(el.dataset.wPlaceholder); });
  root.querySelectorAll("[data-w-label]").forEach((el) => { el.setAttribute("aria-label", w(el.dataset.wLabel)); });
}
