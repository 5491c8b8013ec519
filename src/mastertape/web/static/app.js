// mastertape web page: upload a track, master it, compare original and master at matched loudness.
// Plain JS, no build step. Every call goes to the same HTTP API the clients use, with the X-API-Key header.
"use strict";

const KEY_STORAGE = "mastertape.apiKey";
const DEFAULT_PRESET = ""; // "" = no restoration (use_restored: false); the API's own default restores first
const PREVIEW_FORMAT = "aac"; // the contract's default hq_streaming_format
const POLL_MIN_MS = 300;
const POLL_MAX_MS = 1500;

const $ = (sel) => document.querySelector(sel);
const base = new URL(".", location.href);
const apiUrl = (path) => new URL(path.replace(/^\//, ""), base).toString();

const state = {
  key: "",
  gen: 0, // bumped when a new file is chosen: older uploads and polls stop quietly
  file: null,
  audioId: null,
  importPromise: null,
  masterId: null,
  mastering: false,
  targetLufs: -14,
  lufs: { original: NaN, master: NaN },
  analysis: { original: null, master: null },
  active: "original",
  duration: 0,
};

class ApiError extends Error {
  constructor(message, status = 0, code = "", field = "") {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}
class Cancelled extends Error {}

// ---------------------------------------------------------------- formatting
const MINUS = "\u2212";
function num(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "\u2014";
  const s = Math.abs(v).toFixed(digits);
  return (v < 0 && Number(s) !== 0 ? MINUS : "") + s;
}
function signed(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "\u2014";
  const s = Math.abs(v).toFixed(digits);
  if (Number(s) === 0) return (0).toFixed(digits);
  return (v < 0 ? MINUS : "+") + s;
}
function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const m = Math.floor(seconds / 60);
  const s = Math.floor(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}
function bytes(n) {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
const dbToGain = (db) => Math.min(1, Math.max(0, 10 ** (db / 20)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- API
async function errorFrom(res) {
  let message = `${res.status} ${res.statusText || "error"}`;
  let code = "";
  let field = "";
  try {
    const data = await res.json();
    const err = data && data.error;
    if (err && typeof err.message === "string") {
      message = err.message;
      code = err.code || "";
      field = err.field || "";
    } else if (data && data.detail) {
      message = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    }
  } catch (_) {
    /* not JSON: keep the status line */
  }
  if (field && !message.includes(field)) message += ` (field: ${field})`;
  if (res.status === 401) message = `The server rejected the API key: ${message}`;
  if (res.status === 413) message = `The file is too large for this server: ${message}`;
  return new ApiError(message, res.status, code, field);
}

async function api(path, { method = "GET", json } = {}) {
  if (!state.key) throw new ApiError("Enter your API key first (top of the page).", 401, "no_key");
  const headers = { "X-API-Key": state.key, Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(apiUrl(path), { method, headers, body });
  } catch (e) {
    throw new ApiError(`Cannot reach the server (${e.message}).`);
  }
  if (!res.ok) throw await errorFrom(res);
  return res.status === 204 ? null : res.json();
}

// A download answers 307 to a signed, expiring URL. fetch follows it with the key header; the final URL
// needs no header, so an <audio> element or a link can use it. The body is not read.
async function signedUrl(type, id, format) {
  const query = format ? `?format=${encodeURIComponent(format)}` : "";
  let res;
  try {
    res = await fetch(apiUrl(`download/${type}/${id}${query}`), { headers: { "X-API-Key": state.key } });
  } catch (e) {
    throw new ApiError(`Cannot reach the server (${e.message}).`);
  }
  if (!res.ok) throw await errorFrom(res);
  if (!res.redirected) return URL.createObjectURL(await res.blob());
  if (res.body) res.body.cancel().catch(() => {});
  return res.url;
}

function upload(file, gen) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const t0 = performance.now();
    xhr.open("POST", apiUrl("from-file"));
    xhr.setRequestHeader("X-API-Key", state.key);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (gen !== state.gen) return;
      if (e.lengthComputable) {
        setUpload((100 * e.loaded) / e.total, `${bytes(e.loaded)} of ${bytes(e.total)}`);
      }
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch (_) {
        /* handled below */
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) {
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        setUpload(100, `${bytes(file.size)} uploaded in ${secs} s`);
        resolve(data);
        return;
      }
      const fake = {
        status: xhr.status,
        statusText: xhr.statusText,
        json: async () => {
          if (!data) throw new Error("not JSON");
          return data;
        },
      };
      errorFrom(fake).then(reject);
    });
    xhr.addEventListener("error", () => reject(new ApiError("The upload failed: the connection was lost.")));
    xhr.addEventListener("abort", () => reject(new Cancelled()));
    const form = new FormData();
    form.append("audio", file, file.name);
    xhr.send(form);
  });
}

// Poll a status until complete; every answer goes to onUpdate. Throws the job's error_message on failure.
async function poll(type, id, gen, onUpdate) {
  let delay = POLL_MIN_MS;
  for (;;) {
    if (gen !== state.gen) throw new Cancelled();
    const s = await api(`status/${type}/${id}`);
    if (gen !== state.gen) throw new Cancelled();
    onUpdate(s);
    if (s.is_failed || s.status === "failed") {
      throw new ApiError(s.error_message || `The ${type} job failed without a message.`, 0, "job_failed");
    }
    if (s.is_complete || s.status === "completed") return s;
    await sleep(delay);
    delay = Math.min(POLL_MAX_MS, delay * 1.3);
  }
}

function progressOf(s) {
  const d = s.status_details || {};
  let pct = null;
  for (const key of ["percentage", "percent", "progress_percent"]) {
    if (typeof d[key] === "number") pct = d[key];
  }
  if (pct === null && typeof d.progress === "number") pct = d.progress <= 1 ? d.progress * 100 : d.progress;
  if (s.is_complete) pct = 100;
  const stage = typeof d.stage === "string" && d.stage ? d.stage.replace(/_/g, " ") : s.status || "";
  return { stage, pct };
}

// ---------------------------------------------------------------- UI state
function showError(err) {
  if (err instanceof Cancelled) return;
  const box = $("#error");
  box.textContent = err && err.message ? err.message : String(err);
  box.hidden = false;
  document.body.dataset.state = "failed";
}
function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}
function setUpload(pct, text) {
  $("#upload-progress").value = pct;
  $("#upload-text").textContent = text;
}
function setJob(label, pct, text) {
  $("#job-stage").textContent = label;
  if (pct === null || pct === undefined) $("#job-progress").removeAttribute("value");
  else $("#job-progress").value = Math.max(0, Math.min(100, pct));
  $("#job-text").textContent = text;
}
function updateMasterButton() {
  $("#master").disabled = !state.key || !state.file || state.mastering;
}

// ---------------------------------------------------------------- API key, genres, presets
function setKeyState(text) {
  $("#key-state").textContent = text;
}

async function loadChoices() {
  if (!state.key) {
    setKeyState("No key yet: paste the key printed by mastertape serve.");
    return;
  }
  try {
    const [genres, presets] = await Promise.all([api("genres"), api("presets")]);
    fillGenres(genres);
    fillPresets(presets);
    setKeyState("Key saved in this browser.");
  } catch (e) {
    setKeyState(e.status === 401 ? "Key rejected." : "");
    showError(e);
  }
}

function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of keys) if (data && Array.isArray(data[k])) return data[k];
  if (data && typeof data === "object") {
    return Object.entries(data).map(([name, v]) => (typeof v === "object" ? { name, ...v } : { name, description: v }));
  }
  return [];
}

function fillGenres(data) {
  const sel = $("#genre");
  const current = sel.dataset.touched ? sel.value : (data && data.default) || sel.value || "modern";
  const items = listOf(data, "genres", "items").map((g) => (typeof g === "string" ? { name: g } : g));
  if (!items.length) return;
  sel.replaceChildren(
    ...items.map((g) => {
      const o = new Option(g.name, g.name);
      o.dataset.description = g.description || "";
      return o;
    }),
  );
  sel.value = items.some((g) => g.name === current) ? current : items[0].name;
  describeSelected(sel, "#genre-desc");
}

function fillPresets(data) {
  const sel = $("#preset");
  const items = listOf(data, "presets", "items").map((p) => (typeof p === "string" ? { name: p } : p));
  const none = new Option("No restoration", "");
  none.dataset.description = "Master the track as uploaded.";
  const options = [none];
  for (const p of items) {
    const available = p.available ?? p.can_run ?? p.runnable ?? true;
    const o = new Option(available ? p.name : `${p.name} (not available on this server)`, p.name);
    o.disabled = !available;
    o.dataset.description = [p.description, available ? "" : p.unavailable_reason].filter(Boolean).join(" \u2014 ");
    options.push(o);
  }
  sel.replaceChildren(...options);
  const wanted = options.find((o) => o.value === DEFAULT_PRESET && !o.disabled);
  sel.value = wanted ? wanted.value : "";
  describeSelected(sel, "#preset-desc");
}

function describeSelected(sel, target) {
  const o = sel.selectedOptions[0];
  $(target).textContent = o ? o.dataset.description || "" : "";
}

// ---------------------------------------------------------------- upload and mastering
function onFile(file) {
  if (!file) return;
  const gen = ++state.gen;
  Object.assign(state, { file, audioId: null, masterId: null, mastering: false });
  stopPlayback();
  $("#result").hidden = true;
  clearError();
  document.body.dataset.state = "uploading";
  performance.clearMarks();
  performance.mark("mt-file");
  $("#drop .drop-main").textContent = file.name;
  $("#drop .drop-sub").textContent = `${bytes(file.size)} \u00b7 drop or choose another file to replace it`;
  setUpload(0, "starting\u2026");
  setJob("Uploading", null, "");
  updateMasterButton();
  if (!state.key) {
    showError(new ApiError("Enter your API key first (top of the page), then choose the file again."));
    return;
  }
  state.importPromise = (async () => {
    const r = await upload(file, gen);
    if (gen !== state.gen) throw new Cancelled();
    state.audioId = r.audio_id;
    document.body.dataset.state = "importing";
    const s = await poll("audio", r.audio_id, gen, (st) => {
      const p = progressOf(st);
      if (!state.mastering) setJob(`Reading the file: ${p.stage}`, p.pct, "");
    });
    const m = (s.status_details && s.status_details.metrics) || {};
    if (Number.isFinite(m.integrated_lufs)) state.lufs.original = m.integrated_lufs;
    if (!state.mastering) setJob("Ready to master", 100, describeTrack(s));
    return r.audio_id;
  })();
  state.importPromise.catch((e) => {
    if (e instanceof Cancelled || gen !== state.gen) return;
    setJob("Upload failed", 0, "");
    state.file = null; // nothing to master: choose another file
    updateMasterButton();
    showError(new ApiError(`The upload could not be used: ${e.message}`));
  });
}

function describeTrack(s) {
  const m = (s.status_details && s.status_details.metrics) || {};
  const parts = [];
  if (Number.isFinite(m.duration_s)) parts.push(clock(m.duration_s));
  if (Number.isFinite(m.sample_rate)) parts.push(`${m.sample_rate} Hz`);
  if (Number.isFinite(m.integrated_lufs)) parts.push(`${num(m.integrated_lufs)} LUFS`);
  return parts.join(" \u00b7 ");
}

async function startMaster(ev) {
  ev.preventDefault();
  if (!state.file || state.mastering) return;
  const gen = state.gen;
  const target = Number($("#target").value);
  if (!Number.isFinite(target) || target < -30 || target > -5) {
    showError(new ApiError("Target loudness must be between \u221230 and \u22125 LUFS."));
    $("#target").focus();
    return;
  }
  clearError();
  state.mastering = true;
  updateMasterButton();
  stopPlayback();
  $("#result").hidden = true;
  const t0 = performance.now();
  try {
    setJob("Waiting for the upload", null, "");
    const audioId = await state.importPromise;
    if (gen !== state.gen) throw new Cancelled();
    const preset = $("#preset").value;
    const body = {
      audio_id: audioId,
      genre: $("#genre").value,
      target_lufs: target,
      bit_depth: Number($("#bit-depth").value),
      use_restored: preset !== "",
      hq_streaming_format: PREVIEW_FORMAT,
    };
    if (preset) body.preset = preset;
    document.body.dataset.state = "mastering";
    setJob("Queued", 0, "");
    const r = await api("master-audio", { method: "POST", json: body });
    state.masterId = r.id;
    state.targetLufs = target;
    const done = await poll("mastered", r.id, gen, (st) => {
      const p = progressOf(st);
      const secs = ((performance.now() - t0) / 1000).toFixed(0);
      setJob(`Mastering: ${p.stage}`, p.pct, `${p.pct === null ? "" : `${Math.round(p.pct)} % \u00b7 `}${secs} s`);
    });
    const d = done.status_details || {};
    const source = d.source && typeof d.source === "object" ? `source: ${d.source.type}` : d.source;
    const extra = [source, d.backend].filter((x) => typeof x === "string" && x);
    setJob("Mastered", 100, `in ${((performance.now() - t0) / 1000).toFixed(1)} s${extra.length ? ` \u00b7 ${extra.join(" \u00b7 ")}` : ""}`);
    const m = d.metrics || {};
    state.lufs.master = Number.isFinite(m.integrated_lufs) ? m.integrated_lufs : NaN;
    await showResult(gen);
  } catch (e) {
    if (!(e instanceof Cancelled)) {
      setJob("Mastering failed", 0, "");
      showError(e);
    }
  } finally {
    if (gen === state.gen) {
      state.mastering = false;
      updateMasterButton();
    }
  }
}

// ---------------------------------------------------------------- result: player, plots, tables
const players = () => ({ original: $("#audio-original"), master: $("#audio-master") });

function stopPlayback() {
  for (const el of Object.values(players())) {
    el.pause();
  }
}

async function showResult(gen) {
  const section = $("#result");
  section.hidden = false;
  $("#play").disabled = true;
  $("#player").dataset.ready = "false";
  selectSource("original", false);
  $("#metrics tbody").replaceChildren();
  $("#platforms tbody").replaceChildren();
  state.analysis = { original: null, master: null };
  applyGains();
  drawAll();

  // the original plays as uploaded when the browser can decode that file, else as a WAV made by the server
  const asIs = state.file && state.file.type && document.createElement("audio").canPlayType(state.file.type);
  const urls = Promise.all([
    signedUrl("audio", state.audioId, asIs ? null : "wav"),
    signedUrl("mastered", state.masterId, "wav"),
  ]);
  const analyses = Promise.all([api(`analysis/audio/${state.audioId}`), api(`analysis/mastered/${state.masterId}`)]);
  const [urlOriginal, urlMaster] = await urls;
  if (gen !== state.gen) throw new Cancelled();
  loadPlayers(urlOriginal, urlMaster);
  const [ao, am] = await analyses;
  if (gen !== state.gen) throw new Cancelled();
  state.analysis = { original: ao, master: am };
  state.lufs.original = ao.metrics.integrated_lufs ?? NaN;
  state.lufs.master = am.metrics.integrated_lufs ?? NaN;
  state.duration = Math.max(ao.duration_s || 0, am.duration_s || 0);
  applyGains();
  fillMetrics(ao, am);
  fillPlatforms(ao, am);
  drawAll();
  document.body.dataset.state = "done";
  section.dataset.analysis = "ready";
}

function loadPlayers(urlOriginal, urlMaster) {
  const p = players();
  let ready = 0;
  const onReady = () => {
    ready += 1;
    if (ready === 2) {
      $("#play").disabled = false;
      $("#player").dataset.ready = "true";
      performance.mark("mt-playable");
    }
  };
  for (const [el, url] of [[p.original, urlOriginal], [p.master, urlMaster]]) {
    el.addEventListener("canplay", onReady, { once: true });
    el.src = url;
    el.load();
  }
}

function activeEl() {
  return players()[state.active];
}

function selectSource(which, keepPlaying = true) {
  const p = players();
  const from = p[state.active];
  const to = p[which];
  if (which !== state.active) {
    const t = from.currentTime;
    const playing = keepPlaying && !from.paused;
    if (Number.isFinite(to.duration)) to.currentTime = Math.min(t, to.duration);
    else to.currentTime = t;
    state.active = which;
    if (playing) {
      to.play().catch(playError);
      from.pause();
    } else {
      from.pause();
    }
  }
  $("#ab-original").setAttribute("aria-pressed", String(which === "original"));
  $("#ab-master").setAttribute("aria-pressed", String(which === "master"));
  $("#player").dataset.active = which;
  updatePlayButton();
}

function playError(e) {
  if (e && e.name === "AbortError") return; // a pause() or source change interrupted play(): expected
  showError(new ApiError(`Playback failed: ${e && e.message ? e.message : e}`));
}

function togglePlay() {
  const el = activeEl();
  if (el.paused) el.play().catch(playError);
  else el.pause();
}

function updatePlayButton() {
  const playing = !activeEl().paused;
  $("#play").textContent = playing ? "Pause" : "Play";
  $("#play").setAttribute("aria-label", playing ? "Pause" : "Play");
}

// Matched loudness: the louder of the two is turned down by the difference of integrated loudness.
function applyGains() {
  const p = players();
  const lo = state.lufs.original;
  const lm = state.lufs.master;
  let gO = 0;
  let gM = 0;
  const matched = $("#matched").checked;
  let info = "";
  if (matched && Number.isFinite(lo) && Number.isFinite(lm)) {
    const d = lm - lo;
    if (d > 0) gM = -d;
    else gO = d;
    if (d > 0.05) info = `Master turned down ${num(d)} dB to match the original`;
    else if (d < -0.05) info = `Original turned down ${num(-d)} dB to match the master`;
    else info = "Both at the same loudness";
  } else if (matched) {
    info = "Loudness not measured yet";
  } else if (Number.isFinite(lo) && Number.isFinite(lm)) {
    info = `Real levels: master ${signed(lm - lo)} dB against the original`;
  }
  p.original.volume = dbToGain(gO);
  p.master.volume = dbToGain(gM);
  const player = $("#player");
  player.dataset.gainOriginalDb = gO.toFixed(2);
  player.dataset.gainMasterDb = gM.toFixed(2);
  $("#gain-info").textContent = info;
}

function seekTo(fraction) {
  const el = activeEl();
  const duration = Number.isFinite(el.duration) ? el.duration : state.duration;
  if (!duration) return;
  const t = Math.max(0, Math.min(1, fraction)) * duration;
  for (const other of Object.values(players())) {
    if (other.readyState > 0) other.currentTime = Math.min(t, Number.isFinite(other.duration) ? other.duration : t);
  }
  onTime();
}

let rafPending = false;
function onTime() {
  const el = activeEl();
  const duration = Number.isFinite(el.duration) ? el.duration : state.duration;
  $("#time-now").textContent = clock(el.currentTime);
  $("#time-total").textContent = clock(duration);
  if (duration && document.activeElement !== $("#seek")) {
    $("#seek").value = String(Math.round((1000 * el.currentTime) / duration));
  }
  $("#seek").setAttribute("aria-valuetext", `${clock(el.currentTime)} of ${clock(duration)}`);
  if (!rafPending) {
    rafPending = true;
    requestAnimationFrame(() => {
      rafPending = false;
      drawAll();
    });
  }
}

function tickWhilePlaying() {
  if (!activeEl().paused) {
    onTime();
    setTimeout(() => requestAnimationFrame(tickWhilePlaying), 100);
  }
}

function fillMetrics(ao, am) {
  const rows = [
    ["Integrated loudness", "integrated_lufs", "LUFS"],
    ["True peak", "true_peak_dbtp", "dBTP"],
    ["Loudness range", "loudness_range_lu", "LU"],
    ["Peak to loudness (PLR)", "plr_db", "dB"],
    ["Max short-term", "max_short_term_lufs", "LUFS"],
    ["Max gain reduction", "max_gain_reduction_db", "dB"],
  ];
  const body = $("#metrics tbody");
  body.replaceChildren(
    ...rows.map(([label, key, unit]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = `${label} (${unit})`;
      const a = document.createElement("td");
      a.textContent = num(ao.metrics[key]);
      const b = document.createElement("td");
      b.textContent = num(am.metrics[key]);
      b.dataset.key = key;
      tr.append(th, a, b);
      return tr;
    }),
  );
}

function gainCell(p) {
  const td = document.createElement("td");
  if (!p || p.gain_db === null || p.gain_db === undefined) {
    td.textContent = "\u2014";
    return td;
  }
  td.textContent = `${signed(p.gain_db)} dB`;
  if (p.gain_db > 0.05) td.classList.add("up");
  if (p.limited_by_peak) {
    const mark = document.createElement("abbr");
    mark.textContent = "*";
    mark.title = p.turns_up ? "not turned up all the way: limited by true-peak headroom" : "this service never turns up";
    td.append(mark);
  }
  return td;
}

function fillPlatforms(ao, am) {
  const byName = new Map((ao.platforms || []).map((p) => [p.name, p]));
  $("#platforms tbody").replaceChildren(
    ...(am.platforms || []).map((p) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = p.name;
      const ref = document.createElement("td");
      ref.textContent = `${num(p.reference_lufs, 0)} LUFS`;
      tr.append(th, ref, gainCell(byName.get(p.name)), gainCell(p));
      tr.dataset.platform = p.name;
      return tr;
    }),
  );
}

// ---------------------------------------------------------------- plots (canvas)
function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  return { ctx, w, h };
}

function playheadFraction() {
  const el = activeEl();
  const duration = Number.isFinite(el.duration) && el.duration > 0 ? el.duration : state.duration;
  return duration ? el.currentTime / duration : 0;
}

function drawPlayhead(ctx, x0, x1, y0, y1) {
  const x = x0 + (x1 - x0) * playheadFraction();
  ctx.strokeStyle = css("--fg");
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(x, y0);
  ctx.lineTo(x, y1);
  ctx.stroke();
}

function drawWave() {
  const canvas = $("#cv-wave");
  if ($("#result").hidden || !canvas.clientWidth) return;
  const { ctx, w, h } = prepare(canvas);
  const lanes = [
    ["A", state.analysis.original, css("--a")],
    ["B", state.analysis.master, css("--b")],
  ];
  const laneH = h / 2;
  lanes.forEach(([label, data, color], i) => {
    const mid = laneH * i + laneH / 2;
    const amp = laneH / 2 - 3;
    ctx.fillStyle = css("--muted");
    ctx.fillText(label, 4, laneH * i + 9);
    if (!data) return;
    const wf = data.waveform;
    const n = wf.columns;
    const duration = data.duration_s || 1;
    const span = state.duration || duration;
    const colW = Math.max(1, (w * (duration / span)) / n);
    for (let k = 0; k < n; k += 1) {
      const x = (k / n) * w * (duration / span);
      const hi = wf.max[k] ?? 0;
      const lo = wf.min[k] ?? 0;
      ctx.globalAlpha = 0.45;
      ctx.fillStyle = color;
      ctx.fillRect(x, mid - hi * amp, colW, Math.max(1, (hi - lo) * amp));
      const r = wf.rms[k] ?? 0;
      ctx.globalAlpha = 1;
      ctx.fillRect(x, mid - r * amp, colW, Math.max(1, 2 * r * amp));
    }
    ctx.globalAlpha = 1;
  });
  ctx.strokeStyle = css("--line");
  ctx.beginPath();
  ctx.moveTo(0, laneH);
  ctx.lineTo(w, laneH);
  ctx.stroke();
  drawPlayhead(ctx, 0, w, 0, h);
}

function axes(ctx, box, yTicks, yFmt, xTicks) {
  ctx.strokeStyle = css("--line");
  ctx.fillStyle = css("--muted");
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  for (const [y, v] of yTicks) {
    ctx.beginPath();
    ctx.moveTo(box.x0, y);
    ctx.lineTo(box.x1, y);
    ctx.stroke();
    ctx.fillText(yFmt(v), box.x0 - 4, y);
  }
  ctx.textAlign = "center";
  for (const [x, label] of xTicks) {
    ctx.beginPath();
    ctx.moveTo(x, box.y0);
    ctx.lineTo(x, box.y1);
    ctx.stroke();
    const half = ctx.measureText(label).width / 2;
    ctx.fillText(label, Math.min(Math.max(x, box.x0 + half), box.x1 - half), box.y1 + 9);
  }
  ctx.textAlign = "left";
}

function polyline(ctx, points, color, width = 1.75) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    if (pen) ctx.lineTo(p[0], p[1]);
    else ctx.moveTo(p[0], p[1]);
    pen = true;
  }
  ctx.stroke();
}

function niceRange(values, pad, floor, ceil) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return [floor, ceil];
  let lo = Math.min(...finite) - pad;
  let hi = Math.max(...finite) + pad;
  lo = Math.max(floor, Math.floor(lo / 3) * 3);
  hi = Math.min(ceil, Math.ceil(hi / 3) * 3);
  if (hi - lo < 6) lo = hi - 6;
  return [lo, hi];
}

function dbTicks(lo, hi, box) {
  const step = hi - lo > 30 ? 12 : hi - lo > 15 ? 6 : 3;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    ticks.push([box.y1 - ((v - lo) / (hi - lo)) * (box.y1 - box.y0), v]);
  }
  return ticks;
}

function drawLoudness() {
  const canvas = $("#cv-loud");
  const { original: ao, master: am } = state.analysis;
  if ($("#result").hidden || !canvas.clientWidth) return;
  const { ctx, w, h } = prepare(canvas);
  if (!ao || !am) {
    ctx.fillStyle = css("--muted");
    ctx.fillText("Measuring\u2026", 12, h / 2);
    return;
  }
  const box = { x0: 40, x1: w - 8, y0: 8, y1: h - 20 };
  const all = [...ao.short_term_lufs.values, ...am.short_term_lufs.values, state.targetLufs];
  const [lo, hi] = niceRange(all, 2, -60, 0);
  const span = state.duration || 1;
  const xOf = (t) => box.x0 + (t / span) * (box.x1 - box.x0);
  const yOf = (v) => box.y1 - ((Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo)) * (box.y1 - box.y0);
  const maxLabels = Math.max(2, Math.floor((box.x1 - box.x0) / 70));
  const xStep = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((s) => span / s <= maxLabels) || 3600;
  const xTicks = [];
  for (let t = 0; t <= span; t += xStep) xTicks.push([xOf(t), clock(t)]);
  axes(ctx, box, dbTicks(lo, hi, box), (v) => num(v, 0), xTicks);
  ctx.setLineDash([5, 4]);
  polyline(ctx, [[box.x0, yOf(state.targetLufs)], [box.x1, yOf(state.targetLufs)]], css("--muted"), 1);
  ctx.setLineDash([]);
  for (const [data, color] of [[ao, css("--a")], [am, css("--b")]]) {
    const c = data.short_term_lufs;
    polyline(
      ctx,
      c.values.map((v, j) => (v === null ? null : [xOf(c.first_end_s + j * c.step_s), yOf(v)])),
      color,
    );
  }
  ctx.fillStyle = css("--muted");
  ctx.fillText("LUFS", box.x0 + 4, box.y0 + 8);
  drawPlayhead(ctx, box.x0, box.x1, box.y0, box.y1);
}

function drawSpectrum() {
  const canvas = $("#cv-spec");
  const { original: ao, master: am } = state.analysis;
  if ($("#result").hidden || !canvas.clientWidth) return;
  const { ctx, w, h } = prepare(canvas);
  if (!ao || !am) {
    ctx.fillStyle = css("--muted");
    ctx.fillText("Measuring\u2026", 12, h / 2);
    return;
  }
  const box = { x0: 40, x1: w - 8, y0: 8, y1: h - 20 };
  const fMin = Math.log10(16);
  const fMax = Math.log10(25000);
  const xOf = (f) => box.x0 + ((Math.log10(f) - fMin) / (fMax - fMin)) * (box.x1 - box.x0);
  const levels = [...ao.spectrum.levels_db, ...am.spectrum.levels_db].filter((v) => v !== null);
  const top = levels.length ? Math.max(...levels) : 0;
  const [lo, hi] = niceRange(levels, 3, top - 66, 6);
  const yOf = (v) => box.y1 - ((Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo)) * (box.y1 - box.y0);
  const xTicks = [31.5, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000]
    .filter((f) => xOf(f) < box.x1 - 10)
    .map((f) => [xOf(f), f >= 1000 ? `${f / 1000}k` : String(f)]);
  const compact = w < 420;
  axes(ctx, box, dbTicks(lo, hi, box), (v) => num(v, 0), compact ? xTicks.filter((_, i) => i % 2 === 0) : xTicks);
  for (const [data, color] of [[ao, css("--a")], [am, css("--b")]]) {
    const s = data.spectrum;
    const pts = s.centers_hz.map((f, i) => (s.levels_db[i] === null ? null : [xOf(f), yOf(s.levels_db[i])]));
    polyline(ctx, pts, color);
    ctx.fillStyle = color;
    for (const p of pts) if (p) ctx.fillRect(p[0] - 1.5, p[1] - 1.5, 3, 3);
  }
  ctx.fillStyle = css("--muted");
  ctx.fillText("dB", box.x0 + 4, box.y0 + 8);
}

function drawAll() {
  drawWave();
  drawLoudness();
  drawSpectrum();
  const { original: ao, master: am } = state.analysis;
  if (ao && am) {
    $("#cv-loud").setAttribute(
      "aria-label",
      `Short-term loudness: original up to ${num(ao.metrics.max_short_term_lufs)} LUFS, ` +
        `master up to ${num(am.metrics.max_short_term_lufs)} LUFS`,
    );
    $("#cv-wave").setAttribute(
      "aria-label",
      `Waveform overview: original peaks ${num(ao.metrics.sample_peak_dbfs)} dBFS, master ${num(am.metrics.sample_peak_dbfs)} dBFS`,
    );
  }
}

// ---------------------------------------------------------------- downloads
async function download(format) {
  if (!state.masterId) return;
  try {
    const url = await signedUrl("mastered", state.masterId, format);
    const a = document.createElement("a");
    a.href = url;
    a.download = ""; // the server's Content-Disposition names the file
    document.body.append(a);
    a.click();
    a.remove();
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------- wiring
function init() {
  state.key = localStorage.getItem(KEY_STORAGE) || "";
  $("#api-key").value = state.key;
  document.body.dataset.state = "idle";

  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("#api-key").value.trim();
    if (state.key) localStorage.setItem(KEY_STORAGE, state.key);
    else localStorage.removeItem(KEY_STORAGE);
    clearError();
    updateMasterButton();
    loadChoices();
  });
  $("#key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    state.key = "";
    $("#api-key").value = "";
    updateMasterButton();
    setKeyState("Key removed from this browser.");
  });

  const drop = $("#drop");
  const input = $("#file");
  input.addEventListener("change", () => onFile(input.files && input.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "dragend"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (file) onFile(file);
  });
  // a file dropped next to the zone must not make the browser navigate away to it
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  $("#genre").addEventListener("change", () => {
    $("#genre").dataset.touched = "1";
    describeSelected($("#genre"), "#genre-desc");
  });
  $("#preset").addEventListener("change", () => describeSelected($("#preset"), "#preset-desc"));
  const chips = [...document.querySelectorAll(".chip")];
  const markChips = () => {
    const v = Number($("#target").value);
    for (const c of chips) c.setAttribute("aria-pressed", String(Number(c.dataset.lufs) === v));
  };
  for (const chip of chips) {
    chip.addEventListener("click", () => {
      $("#target").value = chip.dataset.lufs;
      markChips();
    });
  }
  $("#target").addEventListener("input", markChips);
  markChips();
  $("#settings").addEventListener("submit", startMaster);

  $("#play").addEventListener("click", togglePlay);
  $("#ab-original").addEventListener("click", () => selectSource("original"));
  $("#ab-master").addEventListener("click", () => selectSource("master"));
  $("#matched").addEventListener("change", applyGains);
  $("#seek").addEventListener("input", () => seekTo(Number($("#seek").value) / 1000));
  $("#cv-wave").addEventListener("click", (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    seekTo((e.clientX - r.left) / r.width);
  });
  for (const [name, el] of Object.entries(players())) {
    el.addEventListener("play", () => {
      if (name === state.active) tickWhilePlaying();
      updatePlayButton();
    });
    el.addEventListener("pause", updatePlayButton);
    el.addEventListener("ended", updatePlayButton);
    el.addEventListener("timeupdate", () => {
      if (name === state.active) onTime();
    });
    el.addEventListener("loadedmetadata", onTime);
    el.addEventListener("error", () => {
      if (el.getAttribute("src")) showError(new ApiError(`The ${name} audio could not be played (its link may have expired: master again).`));
    });
  }
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    if ($("#result").hidden) return;
    if (e.key === "b" || e.key === "B") selectSource(state.active === "original" ? "master" : "original");
  });
  $("#dl-wav").addEventListener("click", () => download("wav"));
  $("#dl-preview").addEventListener("click", () => download(PREVIEW_FORMAT));
  $("#dl-preview").textContent = `Download streaming preview (${PREVIEW_FORMAT.toUpperCase()})`;

  if ("ResizeObserver" in window) {
    let pending = false;
    new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        drawAll();
      });
    }).observe($("#main"));
  }
  updateMasterButton();
  loadChoices();
}

document.addEventListener("DOMContentLoaded", init);
