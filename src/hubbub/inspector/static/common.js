// Shared helpers of the inspector's pages (no build step, no library).
"use strict";

const DASH = "\u2014";

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) {
    const err = body && body.error ? body.error : { code: "http_" + response.status, message: response.statusText };
    throw new Error(err.code + ": " + err.message);
  }
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A number for a table cell, or an em dash when it is absent.
function num(value, digits) {
  if (value === null || value === undefined) return DASH;
  if (digits !== undefined) return Number(value).toFixed(digits);
  return Number(value).toLocaleString("en-US");
}

function cost(value) {
  return value === null || value === undefined ? DASH : "$" + Number(value).toFixed(4);
}

function shortTime(iso) {
  if (!iso) return DASH;
  const t = iso.indexOf("T");
  return t >= 0 ? iso.slice(t + 1, t + 13) : iso;
}

function showError(err) {
  const box = document.getElementById("error");
  if (box) {
    box.textContent = String(err.message || err);
    box.hidden = false;
  }
}

async function markMode() {
  try {
    const info = await api("/api/info");
    const badge = document.getElementById("mode");
    if (badge) {
      badge.textContent = info.mode;
      badge.className = "mode " + info.mode;
    }
    return info;
  } catch (err) {
    showError(err);
    return { mode: "unknown", types: [] };
  }
}

// The usage cells of one row: tokens in/out, cache read/write, cost, latency.
function usageCells(u) {
  u = u || {};
  return [
    el("td", { class: "n" }, num(u.replies)),
    el("td", { class: "n" }, num(u.input_tokens)),
    el("td", { class: "n" }, num(u.output_tokens)),
    el("td", { class: "n" }, num(u.cache_read_tokens)),
    el("td", { class: "n" }, num(u.cache_write_tokens)),
    el("td", { class: "n" }, cost(u.cost_usd)),
    el("td", { class: "n" }, u.latency_ms_mean === null || u.latency_ms_mean === undefined ? DASH : num(u.latency_ms_mean, 0) + " ms"),
  ];
}

const USAGE_HEADERS = ["replies", "input tok", "output tok", "cache read", "cache write", "cost", "turn latency"];
