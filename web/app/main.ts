// Wattline's dashboard. Module map:
//   main.ts          boot: restore the session, load the household, start the router
//   session.ts       login/register/refresh/logout; access token in memory only
//   household.ts     the household's zone, tariff and role; device/socket names
//   router.ts        history routing, one AbortSignal per page
//   shell.ts         header, navigation, "Log out"
//   api/             http (errors), client (auth + retry), endpoints, live feed (SSE)
//   pages/           one module per page
//   charts/          uPlot power charts, energy bars
//   components/      small shared widgets (errors, confirm dialog, range picker…)
//   format.ts, time.ts  Intl formatting; calendar maths in the household's zone
//   dom.ts, links.ts, download.ts  element builder; page paths; saving a fetched file

import "./styles.css";
import * as session from "./session";
import { forgetHousehold, loadHousehold } from "./household";
import { stopLive } from "./api/live";
import { navigate, onNavigate, startRouter, type Route } from "./router";
import { createShell } from "./shell";
import { messageOf } from "./components/feedback";
import * as login from "./pages/login";
import * as register from "./pages/register";
import * as overview from "./pages/overview";
import * as sockets from "./pages/sockets";
import * as energy from "./pages/energy";
import * as devices from "./pages/devices";
import * as settings from "./pages/settings";
import * as notFoundPage from "./pages/not-found";

// Pages are bundled with the app, so following a link renders at once;
// only the charts page (with uPlot, most of the weight) loads on demand.
const chartsPage = () => import("./pages/socket-detail");
const routes: Route[] = [
  { path: "/login", title: "Log in", public: true, page: async () => login },
  { path: "/register", title: "Create an account", public: true, page: async () => register },
  { path: "/", title: "Overview", page: async () => overview },
  { path: "/sockets", title: "Sockets", page: async () => sockets },
  { path: "/sockets/total", title: "Household total", page: chartsPage },
  { path: "/sockets/:device/:socket", title: "Socket", page: chartsPage },
  { path: "/energy", title: "Energy", page: async () => energy },
  { path: "/devices", title: "Devices", page: async () => devices },
  { path: "/settings", title: "Settings", page: async () => settings },
];

const notFound: Route = { path: "", title: "Not found", public: true, page: async () => notFoundPage };

const app = document.getElementById("app") as HTMLElement;
const shell = createShell(app, () => {
  void session.logout().catch(() => undefined);
});
onNavigate((path) => shell.setPath(path));

session.onSessionChange((user, reason) => {
  shell.setUser(user);
  if (user) return;
  stopLive();
  forgetHousehold();
  const here = location.pathname + location.search;
  const next = reason === "expired" && !here.startsWith("/login") ? `?next=${encodeURIComponent(here)}` : "";
  navigate(`/login${next}`, { replace: true });
});

/** Sends visitors who are not logged in to /login, and logged-in ones away from it. */
async function guard(route: Route, path: string): Promise<string | null> {
  const user = session.currentUser();
  if (route.public) {
    if (user && (route.path === "/login" || route.path === "/register")) {
      return new URLSearchParams(location.search).get("next") ?? "/";
    }
    return null;
  }
  if (!user) return `/login?next=${encodeURIComponent(path)}`;
  try {
    await loadHousehold();
  } catch (error) {
    // Pages fall back to UTC and no tariff; the banner says why.
    showBootError(`Could not load your household's settings: ${messageOf(error)}`);
  }
  return null;
}

function showBootError(message: string): void {
  const banner = document.createElement("p");
  banner.className = "error banner";
  banner.setAttribute("role", "alert");
  banner.textContent = message;
  shell.main.before(banner);
  window.setTimeout(() => banner.remove(), 15_000);
}

async function boot(): Promise<void> {
  shell.main.replaceChildren(Object.assign(document.createElement("p"), { className: "loading", textContent: "Loading…" }));
  try {
    await session.restore();
  } catch (error) {
    showBootError(messageOf(error));
  }
  shell.setUser(session.currentUser());
  startRouter({ routes, outlet: shell.main, guard, notFound });
}

void boot();
