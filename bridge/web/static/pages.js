// The pages of the web page: Cameras, Camera, Events, Timelapses, Set-up, Bridge.
import { useEffect, useState } from "./vendor/preact-hooks-10.29.8.module.js";
import { api, can, changed, html, loadCameras, loadTimelapses, store, useStore } from "./core.js";

// --------------------------------------------------------------------------------------------
// small parts

/** Re-render every `ms` milliseconds (ages of pictures). */
function useTick(ms = 1000) {
  const [, setN] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setN((n) => n + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function Badge({ state }) {
  return html`<span class=${`badge ${state}`} data-state=${state}>${state}</span>`;
}

function snapshotUrl(id, width) {
  const snap = store.snapshots.get(id);
  if (!snap) return null;
  return `/api/cameras/${encodeURIComponent(id)}/snapshot.jpg?width=${width}&t=${snap.taken_at}`;
}

/** The latest snapshot of `camera`, `width` pixels wide. One picture at a time is on its way:
 * a newer snapshot is asked for once the one shown has loaded, so a burst of snapshot events
 * (the stream's buffer replayed, a slow network) costs one request, not one each. */
function Picture({ camera, width = 640 }) {
  const url = snapshotUrl(camera.id, width);
  const [shown, setShown] = useState(url);
  const [loading, setLoading] = useState(Boolean(url));
  useEffect(() => {
    if (!url && shown) { // no picture any more (the camera restarted): none on its way either
      setShown(null);
      setLoading(false);
    } else if (url && !loading && url !== shown) {
      setShown(url);
      setLoading(true);
    }
  }, [url, loading, shown]);
  const done = () => setLoading(false);
  return html`<div class="picture">${url && shown
    ? html`<img src=${shown} alt=${`Latest picture of ${camera.name}`} onLoad=${done} onError=${done} />`
    : html`<span>no picture yet</span>`}</div>`;
}

/** A switch that shows the bridge's confirmed state: while a change is on its way it is busy
 * and shows the state before; the bridge's answer (or event) sets it. */
function Switch({ label, on, disabled, change }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function toggle(e) {
    const want = e.target.checked;
    e.target.checked = on; // show the confirmed state, not the wish
    setBusy(true);
    setError(null);
    try {
      await change(want);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }
  const id = `switch-${label.replace(/\W+/g, "-").toLowerCase()}`;
  return html`<div>
    <label class="switch" for=${id}>
      <input id=${id} type="checkbox" role="switch" checked=${on} disabled=${disabled || busy}
        aria-busy=${busy ? "true" : "false"} onChange=${toggle} />
      ${label}: <span data-confirmed=${on ? "on" : "off"}>${busy ? "…" : on ? "on" : "off"}</span>
    </label>
    ${error && html`<p class="field-error" role="alert">${error}</p>`}
  </div>`;
}

// --------------------------------------------------------------------------------------------
// Cameras

export function CamerasPage() {
  useStore();
  useTick();
  const cameras = [...store.cameras.values()];
  return html`<section aria-labelledby="cameras-title">
    <h2 id="cameras-title">Cameras (${cameras.length})</h2>
    ${cameras.length === 0 && html`<p>No cameras yet. ${can("admin") && html`<a href="#/setup">Add one</a>.`}</p>`}
    <div class="grid">
      ${cameras.map((c) => html`<${CameraCard} key=${c.id} camera=${c} />`)}
    </div>
  </section>`;
}

function CameraCard({ camera: c }) {
  const snap = store.snapshots.get(c.id);
  return html`<article class="card" data-camera=${c.id} aria-labelledby=${`cam-${c.id}`}>
    <a href=${`#/camera/${encodeURIComponent(c.id)}`} aria-label=${`Open camera ${c.name}`}><${Picture} camera=${c} /></a>
    <h3 id=${`cam-${c.id}`}><a href=${`#/camera/${encodeURIComponent(c.id)}`}>${c.name}</a> <${Badge} state=${c.state} /></h3>
    <dl class="facts">
      <dt>fps</dt><dd>${c.fps ?? "—"}</dd>
      <dt>size</dt><dd>${c.width ? `${c.width}×${c.height}` : "—"}</dd>
      <dt>picture</dt><dd class="age">${age(snap && snap.taken_at)}</dd>
    </dl>
    ${c.error && html`<p class="error-text camera-error">${c.error}</p>`}
  </article>`;
}

// --------------------------------------------------------------------------------------------
// Camera

function hasDetection(c) {
  return Boolean(c && c.detect && c.detect.enabled);
}

/** The objects a camera sees now (`person: 2, car: 1`), "" for none. */
function seenNow(det) {
  const counts = Object.entries((det && det.counts) || {}).filter(([, n]) => n > 0);
  return counts.map(([label, n]) => `${label}: ${n}`).join(", ");
}

const LOOPBACK = ["127.0.0.1", "localhost", "[::1]"];

/** The page of MediaMTX's own player for a stream URL the bridge reports (`stream_urls.webrtc`
 * is that page already, `stream_urls.hls` its playlist `…/index.m3u8`): `http://HOST:8889/PATH/`
 * or `http://HOST:8888/PATH/`, without credentials; a loopback host is this page's host when
 * the page is opened from another machine (MediaMTX then runs next to the bridge). */
function playerUrl(url) {
  let u;
  try { u = new URL(url); } catch { return null; }
  u.username = "";
  u.password = "";
  if (LOOPBACK.includes(u.hostname) && !LOOPBACK.includes(location.hostname)) u.hostname = location.hostname;
  u.pathname = u.pathname.replace(/index\.m3u8$/, "");
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u.toString();
}

/** The live views of a camera: MJPEG from the bridge, and with MediaMTX its WebRTC and HLS players. */
function liveViews(c) {
  const urls = (c && c.stream_urls) || {};
  const views = [{ id: "mjpeg", label: "MJPEG" }];
  if (urls.webrtc && playerUrl(urls.webrtc)) views.push({ id: "webrtc", label: "WebRTC", url: playerUrl(urls.webrtc) });
  if (urls.hls && playerUrl(urls.hls)) views.push({ id: "hls", label: "HLS", url: playerUrl(urls.hls) });
  return views;
}

function LiveView({ camera: c, path }) {
  const [choice, setChoice] = useState("mjpeg");
  const views = liveViews(c);
  const view = views.find((v) => v.id === choice) || views[0];
  const snap = store.snapshots.get(c.id);
  let body;
  if (!c.enabled) body = html`<div class="picture"><span>camera is off</span></div>`;
  else if (view.url) {
    body = html`<iframe class="player" src=${view.url} data-player=${view.id} allow="autoplay; fullscreen"
      title=${`${view.label} player of ${c.name} (MediaMTX)`}></iframe>`;
  } else if (snap) body = html`<img src=${`${path}/mjpeg`} alt=${`Live picture of ${c.name} (MJPEG)`} />`;
  else body = html`<div class="picture"><span>no picture yet</span></div>`;
  return html`<div class="live">
    ${views.length > 1 && html`<fieldset class="views"><legend>Live view</legend>
      ${views.map((v) => html`<label><input type="radio" name="live-view" value=${v.id} checked=${v.id === view.id}
        onChange=${() => setChoice(v.id)} /> ${v.label}</label>`)}
    </fieldset>`}
    ${body}
  </div>`;
}

export function CameraPage({ id }) {
  useStore();
  useTick();
  const c = store.cameras.get(id);
  const [detail, setDetail] = useState(null);
  useEffect(() => {
    if (!c || !hasDetection(c)) return undefined;
    // the objects seen now have no event of their own: asked for every 2 s while the page is open
    const load = () => api("GET", `/api/cameras/${encodeURIComponent(id)}/detection`)
      .then((d) => {
        store.detection.set(id, { ...d, ...(store.detection.get(id) || {}), enabled: d.enabled, motion: d.motion, counts: d.counts });
        setDetail(d);
        changed();
      })
      .catch(() => {});
    load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, [id, Boolean(c)]);
  if (!c) return html`<p>No camera <code>${id}</code>. <a href="#/cameras">All cameras</a></p>`;
  const det = store.detection.get(id);
  const events = newestFirst([...store.events.values()].filter((e) => e.camera === id)).slice(0, 6);
  const path = `/api/cameras/${encodeURIComponent(id)}`;
  const operator = can("operator");
  async function setEnabled(on) {
    const cam = await api("PUT", `${path}/enabled`, { enabled: on });
    store.cameras.set(id, { ...store.cameras.get(id), ...cam });
    changed();
  }
  async function setDetect(on) {
    const d = await api("PUT", `${path}/detection`, { enabled: on });
    store.detection.set(id, { ...(store.detection.get(id) || {}), enabled: d.enabled, motion: d.motion });
    changed();
  }
  async function setRecording(on) {
    const r = await api("PUT", `${path}/recording`, { recording: on });
    const cam = store.cameras.get(id);
    store.cameras.set(id, { ...cam, mediamtx: { ...cam.mediamtx, recording: r.recording } });
    changed();
  }
  const snap = store.snapshots.get(id);
  return html`<section aria-labelledby="camera-title" data-camera=${id}>
    <h2 id="camera-title">${c.name} <${Badge} state=${c.state} /></h2>
    <div class="split">
      <${LiveView} camera=${c} path=${path} />
      <div class="card">
        <h3>Status</h3>
        <dl class="facts">
          <dt>state</dt><dd class="state">${c.state}</dd>
          <dt>last error</dt><dd class="camera-error">${c.error || "none"}</dd>
          <dt>codec</dt><dd>${c.codec || "—"}</dd>
          <dt>size</dt><dd>${c.width ? `${c.width}×${c.height}` : "—"}</dd>
          <dt>fps</dt><dd>${c.fps ?? "—"}</dd>
          <dt>reconnects</dt><dd>${c.reconnects}</dd>
          <dt>picture</dt><dd>${age(snap && snap.taken_at)}</dd>
          <dt>source</dt><dd>${c.source} (${c.kind})</dd>
          ${hasDetection(c) && html`<dt>motion</dt><dd class="motion">${det && det.motion ? "yes" : "no"}</dd>
            <dt>objects now</dt><dd class="occupancy">${seenNow(det) || "none"}</dd>`}
        </dl>
        ${operator ? html`
          <${Switch} label="Camera" on=${c.enabled} change=${setEnabled} />
          ${hasDetection(c) && html`<${Switch} label="Detection" on=${Boolean(det ? det.enabled : detail && detail.enabled)} disabled=${!det} change=${setDetect} />`}
          ${c.mediamtx && html`<${Switch} label="Recording" on=${Boolean(c.mediamtx.recording)} change=${setRecording} />`}
        ` : html`<p>Camera ${c.enabled ? "on" : "off"}${hasDetection(c) ? `, detection ${det && det.enabled ? "on" : "off"}` : ""}.</p>`}
      </div>
    </div>
    ${hasDetection(c) && html`<h3>Recent detections</h3><${EventList} items=${events} clips=${true} />`}
  </section>`;
}

// --------------------------------------------------------------------------------------------
// Events

/** Detection events by their start, newest first (then the order they arrived in). */
function newestFirst(items) {
  return items.sort((a, b) => (b.event.start_time || 0) - (a.event.start_time || 0) || b.seq - a.seq);
}

/** Detection events, each with its snapshot; `clips`: an ended event's clip plays in the list
 * (else a link to it). */
function EventList({ items, clips = false }) {
  if (!items.length) return html`<p>No detection events yet.</p>`;
  return html`<ul class="events" aria-live="polite">
    ${items.map(({ camera, event: e }) => {
      const cam = store.cameras.get(camera);
      const img = e.snapshot_available
        ? `/api/cameras/${encodeURIComponent(camera)}/detection/${encodeURIComponent(e.label)}.jpg?event=${encodeURIComponent(e.id)}`
        : null;
      return html`<li key=${e.id} data-event=${e.id} data-label=${e.label} data-camera=${camera} data-start=${e.start_time || 0}>
        ${img ? html`<img src=${img} alt=${`${e.label} seen by ${cam ? cam.name : camera}`} loading="lazy" />`
              : html`<div class="picture thumb"><span>no snapshot</span></div>`}
        <div>
          <strong>${e.label}</strong> ${Math.round((e.top_score ?? e.score ?? 0) * 100)} %
          <div><a href=${`#/camera/${encodeURIComponent(camera)}`}>${cam ? cam.name : camera}</a></div>
          <div>${e.start_time ? new Date(e.start_time * 1000).toLocaleString() : ""}
            ${e.end_time ? " (ended)" : " (ongoing)"}</div>
          ${e.zones && e.zones.length ? html`<div>zones: ${e.zones.join(", ")}</div>` : null}
          ${e.clip_url && clips ? html`<video class="clip" controls preload="none" src=${e.clip_url} data-clip-video=${e.id}
            aria-label=${`Clip of ${e.label} seen by ${cam ? cam.name : camera}`}></video>` : null}
          ${e.clip_url ? html`<div><a href=${e.clip_url} data-clip=${e.id}>clip (MP4)</a></div>` : null}
        </div>
      </li>`;
    })}
  </ul>`;
}

export function EventsPage() {
  useStore();
  const [camera, setCamera] = useState("");
  const [label, setLabel] = useState("");
  const all = newestFirst([...store.events.values()]);
  const labels = [...new Set(all.map((e) => e.event.label))].sort();
  const shown = all.filter((e) => (!camera || e.camera === camera) && (!label || e.event.label === label));
  return html`<section aria-labelledby="events-title">
    <h2 id="events-title">Detection events</h2>
    <div class="row">
      <div><label for="filter-camera">Camera</label>
        <select id="filter-camera" value=${camera} onChange=${(e) => setCamera(e.target.value)}>
          <option value="">all cameras</option>
          ${[...store.cameras.values()].map((c) => html`<option value=${c.id}>${c.name}</option>`)}
        </select></div>
      <div><label for="filter-label">Label</label>
        <select id="filter-label" value=${label} onChange=${(e) => setLabel(e.target.value)}>
          <option value="">all labels</option>
          ${labels.map((l) => html`<option value=${l}>${l}</option>`)}
        </select></div>
    </div>
    <p>${shown.length} event(s), newest first; new ones appear as they happen.</p>
    <${EventList} items=${shown.slice(0, 100)} />
  </section>`;
}

// --------------------------------------------------------------------------------------------
// Timelapses

const ACTIONS = {
  start: (t) => t.state === "created",
  pause: (t) => ["running", "degraded", "error"].includes(t.state),
  resume: (t) => t.state === "paused",
  stop: (t) => ["running", "paused", "degraded", "error", "created"].includes(t.state),
  // `render` is the last render (its `state`: running, done, failed, cancelled)
  render: (t) => t.frames > 0 && !(t.render && t.render.state === "running"),
  cancel: (t) => Boolean(t.render && t.render.state === "running"),
};

function Videos({ id, count }) {
  const [videos, setVideos] = useState([]);
  useEffect(() => {
    api("GET", `/api/timelapses/${encodeURIComponent(id)}/videos`).then((v) => setVideos(v.videos)).catch(() => {});
  }, [id, count]);
  if (!videos.length) return null;
  return html`<div class="videos">${videos.map((v) => html`<figure key=${v.id}>
    <video controls preload="metadata" src=${v.url} poster=${v.thumbnail_url} data-video=${v.id}
      aria-label=${`Timelapse video of ${v.frames} frames, ${v.duration} s`}></video>
    <figcaption>${when(v.created_at)}: ${v.frames} frames, ${v.duration} s, ${v.width}×${v.height}</figcaption>
  </figure>`)}</div>`;
}

function TimelapseCard({ t }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const progress = store.renders.get(t.id);
  const rendering = progress && (progress.state === "running" || progress.state === "done");
  async function act(action) {
    setBusy(action);
    setError(null);
    try {
      const answer = await api("POST", `/api/timelapses/${encodeURIComponent(t.id)}/actions/${action}`);
      if (action === "render") store.renders.set(t.id, { timelapse: t.id, state: "running", percent: 0 });
      if (answer && answer.id) store.timelapses.set(t.id, { ...t, ...answer });
      changed();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(null);
    }
  }
  const thumb = t.frames > 0 ? `/api/timelapses/${encodeURIComponent(t.id)}/thumbnail.jpg?t=${encodeURIComponent(t.last_capture_at || "")}` : null;
  return html`<article class="card" data-timelapse=${t.id} aria-labelledby=${`tl-${t.id}`}>
    <div class="picture">${thumb ? html`<img src=${thumb} alt=${`Latest frame of timelapse ${t.name}`} />` : html`<span>no frames yet</span>`}</div>
    <h3 id=${`tl-${t.id}`}>${t.name} <${Badge} state=${t.state} /></h3>
    <dl class="facts">
      <dt>camera</dt><dd>${t.camera}</dd>
      <dt>frames</dt><dd>${t.frames} kept, ${t.discarded} discarded</dd>
      <dt>last capture</dt><dd>${when(t.last_capture_at)}</dd>
      ${t.reason && html`<dt>reason</dt><dd>${t.reason}</dd>`}
    </dl>
    ${rendering && html`<div>
      <label for=${`progress-${t.id}`}>Render ${progress.state === "done" ? "done" : "progress"}: ${Math.round(progress.percent || 0)} %</label>
      <progress id=${`progress-${t.id}`} max="100" value=${progress.percent || 0}></progress></div>`}
    ${progress && progress.state === "failed" && html`<p class="error-text">Render failed: ${progress.error}</p>`}
    ${can("operator") && html`<div class="row">${Object.entries(ACTIONS).filter(([, ok]) => ok(t)).map(([action]) =>
      html`<button class=${action === "stop" || action === "cancel" ? "secondary" : ""} disabled=${busy !== null}
        onClick=${() => act(action)}>${action}</button>`)}</div>`}
    ${error && html`<p class="error-text" role="alert">${error}</p>`}
    <${Videos} id=${t.id} count=${t.videos} />
  </article>`;
}

export function TimelapsesPage() {
  useStore();
  useEffect(() => { loadTimelapses().catch(() => {}); }, []);
  const list = [...store.timelapses.values()];
  return html`<section aria-labelledby="tl-title">
    <h2 id="tl-title">Timelapses (${list.length})</h2>
    ${list.length === 0 && html`<p>No timelapses. They are defined in the configuration or with POST /api/timelapses.</p>`}
    <div class="grid">${list.map((t) => html`<${TimelapseCard} key=${t.id} t=${t} />`)}</div>
  </section>`;
}

// --------------------------------------------------------------------------------------------
// Set-up (admin): the camera registry

const FIELDS = [
  { key: "id", label: "Camera id (a-z, 0-9 and _; empty: made from the name)", type: "text", add: true },
  { key: "name", label: "Name", type: "text" },
  { key: "url", label: "URL (rtsp://user:password@host:554/path, http://…, lavfi:…)", type: "text" },
  { key: "transport", label: "RTSP transport", type: "select", options: ["tcp", "udp"] },
  { key: "snapshot.interval", label: "Snapshot every (seconds)", type: "number" },
  { key: "snapshot.max_width", label: "Snapshot width at most (pixels, empty: as the camera)", type: "number" },
];

function formBody(values, adding) {
  const body = {};
  for (const f of FIELDS) {
    const raw = values[f.key];
    if (raw === undefined || raw === "") continue;
    if (f.add && !adding) continue;
    const value = f.type === "number" ? Number(raw) : raw;
    if (f.key.startsWith("snapshot.")) {
      body.snapshot = { ...(body.snapshot || {}), [f.key.slice(9)]: value };
    } else {
      body[f.key] = value;
    }
  }
  return body;
}

/** `cameras.<id>.<key path>: message` -> {key path: message}; the rest under "". */
function fieldErrors(lines) {
  const found = {};
  for (const line of lines || []) {
    const m = /^cameras\.(?:[a-z0-9_]+\.)?([a-z_]+(?:\.[a-z_]+)?): (.*)$/.exec(line);
    let key = m ? m[1] : "";
    if (m && line.startsWith("cameras.id:")) key = "id";
    if (key && !FIELDS.some((f) => f.key === key)) key = "";
    found[key] = found[key] ? `${found[key]}; ${m ? m[2] : line}` : (m && key ? m[2] : line);
  }
  return found;
}

function CameraForm({ camera, done }) {
  const adding = !camera;
  const initial = {};
  if (camera) {
    for (const f of FIELDS) {
      const [a, b] = f.key.split(".");
      const v = b ? (camera[a] || {})[b] : camera[a];
      initial[f.key] = v === null || v === undefined ? "" : String(v);
    }
    initial.url = ""; // the bridge shows it masked: leave empty to keep it
  } else {
    initial.transport = "tcp";
  }
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [probe, setProbe] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (key) => (e) => setValues({ ...values, [key]: e.target.value });
  async function save(e) {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      const body = formBody(values, adding);
      if (adding) await api("POST", "/api/cameras", body);
      else await api("PATCH", `/api/cameras/${encodeURIComponent(camera.id)}`, body);
      await loadCameras();
      done();
    } catch (err) {
      setErrors(err.data && err.data.errors ? fieldErrors(err.data.errors) : { "": err.message });
    } finally {
      setBusy(false);
    }
  }
  async function test() {
    setBusy(true);
    setProbe({ running: true });
    setErrors({});
    try {
      const body = formBody(values, true);
      if (!adding && !body.url) body.url = undefined;
      setProbe(await api("POST", "/api/cameras/probe", body));
    } catch (err) {
      setProbe(null);
      setErrors(err.data && err.data.errors ? fieldErrors(err.data.errors) : { "": err.message });
    } finally {
      setBusy(false);
    }
  }
  const prefix = adding ? "add" : `edit-${camera.id}`;
  return html`<form class="card" onSubmit=${save} aria-labelledby=${`${prefix}-title`} noValidate>
    <h3 id=${`${prefix}-title`}>${adding ? "Add a camera" : `Change ${camera.name}`}</h3>
    ${FIELDS.filter((f) => adding || !f.add).map((f) => {
      const id = `${prefix}-${f.key.replace(".", "-")}`;
      const err = errors[f.key];
      return html`<div data-field=${f.key}>
        <label for=${id}>${f.label}</label>
        ${f.type === "select"
          ? html`<select id=${id} value=${values[f.key]} onChange=${set(f.key)}>${f.options.map((o) => html`<option value=${o}>${o}</option>`)}</select>`
          : html`<input id=${id} type=${f.type} value=${values[f.key] || ""} onInput=${set(f.key)}
              autocomplete="off" spellcheck="false"
              placeholder=${!adding && f.key === "url" ? "unchanged (the stored URL is kept)" : undefined}
              aria-invalid=${err ? "true" : "false"} aria-describedby=${err ? `${id}-error` : undefined} />`}
        ${err && html`<p id=${`${id}-error`} class="field-error" role="alert">${err}</p>`}
      </div>`;
    })}
    ${errors[""] && html`<p class="field-error" role="alert">${errors[""]}</p>`}
    ${probe && html`<p class=${`notice ${probe.ok === false ? "bad" : ""}`} role="status" data-probe=${probe.ok ? "ok" : probe.running ? "running" : "failed"}>
      ${probe.running ? "Testing the connection…" : probe.ok
        ? `The bridge sees ${probe.codec} ${probe.width}×${probe.height}${probe.fps ? ` at ${probe.fps} fps` : ""} (${probe.elapsed_s} s).`
        : `The bridge cannot read it: ${probe.error}`}</p>`}
    <div class="row actions">
      <button type="button" class="secondary" disabled=${busy} onClick=${test}>Test connection</button>
      <button type="submit" disabled=${busy}>${adding ? "Add camera" : "Save"}</button>
      ${!adding && html`<button type="button" class="secondary" onClick=${done}>Cancel</button>`}
    </div>
  </form>`;
}

export function SetupPage() {
  useStore();
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const cameras = [...store.cameras.values()];
  async function remove(c) {
    if (!confirm(`Remove camera ${c.name}?`)) return;
    try {
      await api("DELETE", `/api/cameras/${encodeURIComponent(c.id)}`);
      await loadCameras();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<section aria-labelledby="setup-title">
    <h2 id="setup-title">Set-up</h2>
    <table>
      <caption class="sr-only">Cameras and where they are defined</caption>
      <thead><tr><th scope="col">Camera</th><th scope="col">Source</th><th scope="col">URL</th><th scope="col">Actions</th></tr></thead>
      <tbody>${cameras.map((c) => html`<tr key=${c.id} data-camera=${c.id}>
        <td>${c.name} <code>${c.id}</code></td><td>${c.source}</td><td><code>${c.url || c.device || ""}</code></td>
        <td>${c.source === "api"
          ? html`<div class="row"><button class="secondary" onClick=${() => setEditing(c.id)}>Edit ${c.name}</button>
              <button class="danger" onClick=${() => remove(c)}>Remove ${c.name}</button></div>`
          : "in the configuration file (read-only)"}</td>
      </tr>`)}</tbody>
    </table>
    ${error && html`<p class="error-text" role="alert">${error}</p>`}
    ${editing && store.cameras.get(editing)
      ? html`<${CameraForm} key=${editing} camera=${store.cameras.get(editing)} done=${() => setEditing(null)} />`
      : html`<${CameraForm} key="add" done=${() => {}} />`}
  </section>`;
}

// --------------------------------------------------------------------------------------------
// Bridge

export function BridgePage() {
  useStore();
  const [info, setInfo] = useState(null);
  const [usb, setUsb] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const load = () => {
      api("GET", "/api/bridge").then(setInfo).catch((e) => setError(e.message));
      api("GET", "/api/usb").then(setUsb).catch(() => {});
    };
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  if (error) return html`<p class="error-text">${error}</p>`;
  if (!info) return html`<p>Loading…</p>`;
  const up = info.uptime_s;
  const media = info.mediamtx;
  const rejected = info.config_error && info.config_error.length ? info.config_error : null;
  return html`<section aria-labelledby="bridge-title">
    <h2 id="bridge-title">Bridge</h2>
    ${rejected && html`<div class="card" role="alert" data-fact="config-error">
      <h3 class="error-text">The configuration file was rejected</h3>
      <p>The bridge keeps running its previous configuration. Fix these lines of the file and save it
        (the bridge reloads it by itself), or run <code>camera-bridge reload</code>:</p>
      <ul>${rejected.map((line) => html`<li><code>${line}</code></li>`)}</ul>
    </div>`}
    <div class="card"><dl class="facts">
      <dt>version</dt><dd data-fact="version">${info.version}</dd>
      <dt>id</dt><dd><code>${info.id}</code></dd>
      <dt>uptime</dt><dd data-fact="uptime">${Math.floor(up / 3600)} h ${Math.floor((up % 3600) / 60)} min ${up % 60} s</dd>
      <dt>MQTT</dt><dd data-fact="mqtt">${info.mqtt.connected ? "connected" : "not connected"} (base topic <code>${info.mqtt.base_topic}</code>,
        Home Assistant discovery ${info.mqtt.discovery ? "on" : "off"})</dd>
      <dt>MediaMTX</dt><dd data-fact="mediamtx">${media ? `${media.available ? "available" : "unavailable"}${media.version ? ` (${media.version})` : ""}` : "not enabled"}</dd>
      <dt>cameras</dt><dd>${Object.entries(info.cameras).map(([id, state]) => `${id}: ${state}`).join(", ") || "none"}</dd>
    </dl></div>
    <h3>USB capture devices</h3>
    ${usb && usb.devices.length
      ? html`<table><thead><tr><th scope="col">Device</th><th scope="col">Name</th><th scope="col">Camera</th></tr></thead>
          <tbody>${usb.devices.map((d) => html`<tr key=${d.id}><td><code>${d.node}</code></td><td>${d.name}</td><td>${d.camera || "—"}</td></tr>`)}</tbody></table>`
      : html`<p>${usb ? `No USB capture devices (discovery ${usb.discovery}).` : "…"}</p>`}
  </section>`;
}
