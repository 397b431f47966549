// 研判: a triage case's suggested categories (the understanding step's top three, with confidence and the
// words they rest on) as one-click choices, and a picker of every leaf for anything else. A choice is the
// `dispatch` action with `category` only: the hub's matrix names the units in the case's own areas, records
// who chose, and learns the hotline's wording from it.

import { categoryLabel, esc, lang } from "/static/shared/i18n.js";
import { w } from "./words.js";

/** Whether this user may dispatch this triage case now (the server's allowed actions, where known). */
export function canChoose(c) {
  return c && c.state === "triage" && (!c.allowed_actions || c.allowed_actions.includes("dispatch"));
}

/** The suggestions as buttons (data-do="choose-category", data-category=code). */
export function suggestionsHtml(c) {
  const list = (c.suggestions || []).slice(0, 3);
  if (!list.length) return "";
  return `<div class="suggestions" data-field="suggestions" data-case-id="${esc(c.case_id)}">`
    + list.map((s) => {
      const pct = Math.round(Number(s.confidence || 0) * 100);
      const evidence = (s.evidence || []).filter(Boolean);
      return `<button type="button" class="suggestion" data-do="choose-category" data-category="${esc(s.code)}">`
        + `<span class="name">${esc(categoryLabel(s.code))}</span> <span class="conf">${pct}%</span>`
        + (evidence.length ? ` <span class="evidence">${esc(w("triage.evidence", { words: evidence.join("、") }))}</span>` : "")
        + `</button>`;
    }).join("") + `</div>`;
}

/** The picker of every leaf (config.categories), grouped by the tree's first level. */
export function pickerHtml(categories) {
  const groups = new Map();
  for (const cat of categories || []) {
    const group = categoryGroup(cat);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(cat);
  }
  const options = [...groups].map(([group, cats]) => `<optgroup label="${esc(group)}">`
    + cats.map((cat) => `<option value="${esc(cat.code)}">${esc(categoryLabel(cat.code) || cat.name)}</option>`).join("")
    + `</optgroup>`).join("");
  return `<div class="category-picker"><label>${esc(w("triage.pick"))} `
    + `<select name="triage_category"><option value="">${esc(w("triage.choose"))}</option>${options}</select></label> `
    + `<button type="button" data-do="choose-picked">${esc(w("triage.pick_go"))}</button></div>`;
}

function categoryGroup(cat) {
  return lang() === "en" ? (cat.group_en || cat.group) : cat.group;
}

/** Dispatch `c` under the category `code` (one request); resolves to the server's answer. */
export function chooseCategory(api, c, code) {
  return api.act(c.case_id, "dispatch", c.version, { category: code });
}
