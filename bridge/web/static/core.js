// Camera Bridge web page, its core: a client of the bridge's own API (REST, Server-Sent Events, MJPEG).
// Preact + htm (vendor/, see vendor/README.md); no build step. The state kept here is what the
// API answered and what the event stream (GET /api/events) has said since.
import { h, render } from "./vendor/preact-10.29.8.module.js";
import { useEffect, useState } from "./vendor/preact-hooks-10.29.8.module.js";
import htm from "./vendor/htm-3.1.1.module.js";

export const html = htm.bind(h);

// --------------------------------------------------------------------------------------------
// API

let csrfToken = null;

/** Keep the CSRF token of the session (null: none). */
export function setCsrf(token) { csrfToken = token; }

/** An API error: `status`, the JSON `data` ({error, message, errors?}). */
export class ApiError extends Error {
  constructor(status, data) {
    super((data && data.message) || `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

/** Call the API: `method`, `path`, optional JSON `body`; resolves to the JSON answer (null for
 * 204), rejects with ApiError. The session cookie goes along by itself; changing requests carry
 * the session's CSRF token. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrfToken && method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch { data = null; }
  }
  if (!response.ok) {
    if (response.status === 401 && session.role && path !== "/api/session") {
      session.role = null; // the session ended (expired, or the bridge restarted)
      changed();
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

// --------------------------------------------------------------------------------------------
// state: one store, re-rendered on every change

export const session = { loaded: false, role: null, name: null, method: null, authRequired: false };
export const store = {
  cameras: new Map(),      // id -> camera object (GET /api/cameras, then camera.status events)
  snapshots: new Map(),    // id -> {taken_at, width, height} of its latest snapshot
  detection: new Map(),    // id -> {enabled, motion, counts} (GET .../detection, detection.* events)
  events: new Map(),       // detection event id -> {camera, event, seq} (detection.event)
  timelapses: new Map(),   // id -> timelapse (GET /api/timelapses, timelapse.status events)
  renders: new Map(),      // timelapse id -> last timelapse.render event
  bridge: null,
  streamOpen: false,
  seq: 0,
};
const listeners = new Set();
let pending = false;

/** Tell the page that the store changed (renders once per animation frame at most). */
export function changed() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; for (const fn of listeners) fn(); });
}

/** Re-render the calling component whenever the store changes. */
export function useStore() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = () => setTick((n) => n + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return store;
}

/** Whether the logged-in caller has `role` or a higher one. */
export function can(role) {
  const rank = { viewer: 0, operator: 1, admin: 2 };
  return session.role !== null && rank[session.role] >= rank[role];
}

export async function loadCameras() {
  const { cameras } = await api("GET", "/api/cameras");
  store.cameras = new Map(cameras.map((c) => [c.id, c]));
  for (const c of cameras) snapshotKnown(c.id, isoSeconds(c.taken_at), c, Infinity);
  changed();
}

function isoSeconds(iso) {
  return iso === null || iso === undefined ? iso : Date.parse(iso) / 1000;
}

/** What the bridge said at `saidAt` (its epoch seconds) about a camera's latest snapshot: its
 * capture time `takenAt` (epoch seconds; null: the camera has none, e.g. it just started).
 * Pictures are only asked for when the bridge has one (else `snapshot.jpg` answers 503), and
 * an older word (an event replayed from the stream's buffer) never replaces a newer one. */
function snapshotKnown(cam, takenAt, size, saidAt) {
  if (takenAt === undefined) return;
  const known = store.snapshots.get(cam);
  if (takenAt === null || Number.isNaN(takenAt)) {
    if (known && saidAt > known.taken_at) store.snapshots.delete(cam);
    return;
  }
  if (!known || takenAt > known.taken_at) {
    store.snapshots.set(cam, { taken_at: takenAt, width: size.width, height: size.height });
  }
}

export async function loadTimelapses() {
  const { timelapses } = await api("GET", "/api/timelapses");
  store.timelapses = new Map(timelapses.map((t) => [t.id, t]));
  changed();
}

// --------------------------------------------------------------------------------------------
// the event stream: one EventSource for the whole page (the cookie authenticates it)

let source = null;

function onEvent(type, data) {
  const cam = data.camera;
  switch (type) {
    case "camera.status": {
      const known = store.cameras.get(cam);
      if (known) {
        store.cameras.set(cam, { ...known, ...data });
        snapshotKnown(cam, isoSeconds(data.taken_at), data, data.time);
      } else loadCameras().catch(() => {});
      break;
    }
    case "camera.snapshot":
      if (store.cameras.has(cam)) snapshotKnown(cam, data.taken_at, data, data.time);
      break;
    case "camera.removed":
      store.cameras.delete(cam);
      store.snapshots.delete(cam);
      break;
    case "camera.enabled": {
      const known = store.cameras.get(cam);
      if (known) store.cameras.set(cam, { ...known, enabled: data.enabled });
      break;
    }
    case "camera.recording": {
      const known = store.cameras.get(cam);
      if (known && known.mediamtx) store.cameras.set(cam, { ...known, mediamtx: { ...known.mediamtx, recording: data.recording } });
      break;
    }
    case "detection.event": {
      const ev = data.event;
      const old = store.events.get(ev.id);
      store.events.set(ev.id, { camera: cam, event: { ...(old ? old.event : {}), ...ev }, seq: old ? old.seq : ++store.seq });
      if (store.events.size > 300) store.events.delete(store.events.keys().next().value);
      break;
    }
    case "detection.state":
      store.detection.set(cam, { ...(store.detection.get(cam) || {}), enabled: data.enabled });
      break;
    case "detection.motion":
      store.detection.set(cam, { ...(store.detection.get(cam) || {}), motion: data.motion });
      break;
    case "timelapse.status": {
      const known = store.timelapses.get(data.id);
      if (known) store.timelapses.set(data.id, { ...known, ...data });
      break;
    }
    case "timelapse.render":
      store.renders.set(data.timelapse, data);
      if (data.state === "done") loadTimelapses().catch(() => {});
      break;
    case "timelapse.added": case "timelapse.updated": case "timelapse.removed":
      loadTimelapses().catch(() => {});
      break;
    case "reset":
      loadCameras().catch(() => {});
      loadTimelapses().catch(() => {});
      break;
    default:
      return;
  }
  changed();
}

const EVENT_TYPES = ["camera.status", "camera.snapshot", "camera.removed", "camera.enabled", "camera.recording",
  "detection.event", "detection.state", "detection.motion", "timelapse.status", "timelapse.render",
  "timelapse.added", "timelapse.updated", "timelapse.removed", "reset"];

export function openStream() {
  if (source) return;
  // last_event_id=0: the bridge's buffered events first (recent detections), then live ones
  source = new EventSource("/api/events?last_event_id=0");
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (msg) => {
      try { onEvent(type, JSON.parse(msg.data)); } catch (err) { console.warn("bad event", type, err); }
    });
  }
  source.onopen = () => { store.streamOpen = true; changed(); };
  source.onerror = () => {
    store.streamOpen = false;
    changed();
    if (source && source.readyState === EventSource.CLOSED) {
      // refused (401: the session ended, e.g. the bridge restarted): ask who we are, then retry
      source = null;
      setTimeout(() => {
        api("GET", "/api/session").then((who) => {
          if (who.role) openStream();
          else { session.role = null; changed(); }
        }).catch(() => setTimeout(openStream, 5000));
      }, 2000);
    }
  };
}

export function closeStream() {
  if (source) source.close();
  source = null;
}

