// Camera Bridge web page: login, navigation and the pages (pages.js), over core.js.
import { render } from "./vendor/preact-10.29.8.module.js";
import { useEffect, useState } from "./vendor/preact-hooks-10.29.8.module.js";
import { api, can, changed, closeStream, html, loadCameras, loadTimelapses, openStream, session, setCsrf, store, useStore } from "./core.js";
import { CamerasPage, CameraPage, EventsPage, TimelapsesPage, SetupPage, BridgePage } from "./pages.js";

// --------------------------------------------------------------------------------------------
// routing (#/cameras, #/camera/ID, #/events, #/timelapses, #/setup, #/bridge)

function currentRoute() {
  const parts = (location.hash.replace(/^#\/?/, "") || "cameras").split("/");
  return { page: parts[0], arg: parts.slice(1).map(decodeURIComponent).join("/") };
}

function useRoute() {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const fn = () => setRoute(currentRoute());
    addEventListener("hashchange", fn);
    return () => removeEventListener("hashchange", fn);
  }, []);
  return route;
}

const PAGES = [
  { id: "cameras", title: "Cameras" },
  { id: "events", title: "Events" },
  { id: "timelapses", title: "Timelapses" },
  { id: "setup", title: "Set-up", role: "admin" },
  { id: "bridge", title: "Bridge" },
];

// --------------------------------------------------------------------------------------------
// login

function Login() {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await startSession(await api("POST", "/api/session", { key }));
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  }
  return html`<main class="login">
    <h1>Camera Bridge</h1>
    <form onSubmit=${submit} class="card">
      <p>This bridge needs an API key (made with <code>camera-bridge api-key</code>). It is sent once; the
        bridge then keeps you logged in with a session cookie.</p>
      <label for="login-key">API key</label>
      <input id="login-key" type="password" autocomplete="off" required value=${key}
        aria-invalid=${error ? "true" : "false"} aria-describedby=${error ? "login-error" : undefined}
        onInput=${(e) => setKey(e.target.value)} />
      ${error && html`<p id="login-error" class="field-error" role="alert">${error}</p>`}
      <p><button type="submit" disabled=${busy}>Log in</button></p>
    </form>
  </main>`;
}

async function startSession(info) {
  session.loaded = true;
  session.role = info.role;
  session.name = info.name;
  session.method = info.method;
  session.authRequired = info.auth_required;
  setCsrf(info.csrf_token);
  if (session.role) {
    await Promise.all([loadCameras(), loadTimelapses()]).catch((err) => console.warn(err.message));
    openStream();
  } else {
    closeStream();
  }
  changed();
}

async function logout() {
  await api("DELETE", "/api/session").catch(() => {});
  setCsrf(null);
  closeStream();
  session.role = null;
  store.cameras.clear();
  store.events.clear();
  changed();
}

// --------------------------------------------------------------------------------------------
// the page

function App() {
  useStore();
  const route = useRoute();
  useEffect(() => {
    const page = PAGES.find((p) => p.id === route.page);
    document.title = `${page ? page.title : "Camera"} · Camera Bridge`;
  }, [route.page]);
  if (!session.loaded) return html`<p class="loading">Loading Camera Bridge…</p>`;
  if (!session.role) return html`<${Login} />`;
  const pages = PAGES.filter((p) => !p.role || can(p.role));
  let body;
  switch (route.page) {
    case "camera": body = html`<${CameraPage} id=${route.arg} />`; break;
    case "events": body = html`<${EventsPage} />`; break;
    case "timelapses": body = html`<${TimelapsesPage} />`; break;
    case "setup": body = can("admin") ? html`<${SetupPage} />` : html`<p>Set-up needs the admin role.</p>`; break;
    case "bridge": body = html`<${BridgePage} />`; break;
    default: body = html`<${CamerasPage} />`;
  }
  const active = route.page === "camera" ? "cameras" : route.page;
  return html`
    <header>
      <h1>Camera Bridge</h1>
      <nav aria-label="Pages"><ul>
        ${pages.map((p) => html`<li><a href=${`#/${p.id}`} aria-current=${active === p.id ? "page" : undefined}>${p.title}</a></li>`)}
      </ul></nav>
      <div class="who">
        <span>${session.name} (${session.role})</span>
        <span aria-live="polite">${store.streamOpen ? "live" : "reconnecting…"}</span>
        ${session.method === "session" && html`<button class="secondary" onClick=${logout}>Log out</button>`}
      </div>
    </header>
    <main id="main">${body}</main>`;
}

async function boot() {
  const root = document.getElementById("app");
  root.textContent = "";
  render(html`<${App} />`, root);
  try {
    await startSession(await api("GET", "/api/session"));
  } catch (err) {
    root.textContent = `The bridge did not answer: ${err.message}`;
  }
}

boot();
