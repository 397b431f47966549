// Photos on a phone: a case's photos fetched with the bearer token, lazily (tap to load on 2G or with data
// saver), as object URLs released when the case screen closes; camera photos scaled down before a slow
// upload; the full-screen viewer.

import { esc, t } from "/static/shared/i18n.js";
import { api, S } from "./store.js";
import { $, $$ } from "./ui.js";
import { w } from "./words.js";

const PHOTO_TIMEOUT_MS = 60000;
const SHRINK_OVER_BYTES = 1500000; // a camera photo above this is scaled down before a slow upload
const SHRINK_TO_PX = 1600;

const thumbUrls = new WeakMap();
export function thumbUrl(file) {
  if (!thumbUrls.has(file)) thumbUrls.set(file, URL.createObjectURL(file));
  return thumbUrls.get(file);
}

let photoObserver = null;
function slowLink() {
  const c = navigator.connection;
  return Boolean(c && (c.saveData || /(^|-)2g$/.test(c.effectiveType || "")));
}

export function observePhotos() {
  if (photoObserver) photoObserver.disconnect();
  if (slowLink() || !("IntersectionObserver" in window)) return; // tap to load on 2G / data saver
  photoObserver = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) { photoObserver.unobserve(entry.target); loadPhoto(entry.target); }
    }
  }, { rootMargin: "200px" });
  $$("#view-case .photo:not(.loaded)").forEach((el) => photoObserver.observe(el));
}

export async function loadPhoto(button) {
  const id = button.dataset.photo;
  const caseId = S.open && S.open.id;
  if (!caseId || button.classList.contains("loading")) return;
  if (S.photoUrls.has(id)) { showPhoto(button, S.photoUrls.get(id)); return; }
  button.classList.add("loading");
  button.classList.remove("failed");
  button.innerHTML = `<span>${esc(t("loading"))}</span>`;
  try {
    const url = await api.photoUrl(caseId, id, { timeoutMs: PHOTO_TIMEOUT_MS });
    if (!S.open || S.open.id !== caseId) { URL.revokeObjectURL(url); return; }
    S.photoUrls.set(id, url);
    showPhoto(button, url);
  } catch {
    button.classList.add("failed");
    button.innerHTML = `<span>${esc(w("case.photo_failed"))}</span>`;
  } finally {
    button.classList.remove("loading");
  }
}

function showPhoto(button, url) {
  button.classList.add("loaded");
  button.innerHTML = `<img src="${esc(url)}" alt="">`;
}

export function releasePhotos() {
  for (const url of S.photoUrls.values()) URL.revokeObjectURL(url);
  S.photoUrls.clear();
  if (photoObserver) photoObserver.disconnect();
}

/** A big camera photo is scaled down (1600 px, JPEG) before it crosses a slow link; small ones go as they are. */
export async function shrink(file) {
  if (file.size <= SHRINK_OVER_BYTES || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, SHRINK_TO_PX / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
    if (!blob || blob.size >= file.size) return file;
    return new File([blob], (file.name || "photo").replace(/\.\w+$/, "") + ".jpg", { type: "image/jpeg" });
  } catch {
    return file;
  }
}

export function openViewer(url) {
  const viewer = $("#viewer");
  $("img", viewer).src = url;
  viewer.hidden = false;
}
