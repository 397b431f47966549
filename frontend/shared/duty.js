// A duty officer (值班) as both consoles show one: name, shift, and the number as a tel: link to call — unless
// the hub masked it for this user (138****1234: nothing to dial). The officer comes from the hub
// (GET /api/v1/duty, a case's `duty_officer`); only the words live here.

import { esc, t } from "/static/shared/i18n.js";

/** The shift as people say it: 全天, or 夜班 18:00–08:00. */
export function shiftText(officer) {
  if (!officer.shift) return t("duty.whole_day");
  return officer.starts ? `${officer.shift} ${officer.starts}–${officer.ends}` : officer.shift;
}

/** The phone: a tel: link when it is a number, plain text when masked. */
export function phoneHtml(officer) {
  const phone = officer.phone || "";
  if (!phone || phone.includes("*")) return `<span class="duty-phone masked">${esc(phone)}</span>`;
  return `<a class="duty-phone" href="tel:${esc(phone.replace(/[ -]/g, ""))}" title="${esc(t("duty.call", { name: officer.name }))}">${esc(phone)}</a>`;
}

/** One officer on one line: name · shift · phone. */
export function officerHtml(officer) {
  return `<span class="duty-name">${esc(officer.name)}</span> <span class="duty-shift muted">${esc(shiftText(officer))}</span> ${phoneHtml(officer)}`;
}
