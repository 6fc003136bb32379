// A small history-API router: routes like `/sockets/:device/:socket`,
// same-origin link clicks handled without a reload, and one AbortSignal per
// rendered page, aborted when the user leaves it, which is how pages stop
// their fetches, live subscriptions and charts.

/** What a page gets when it renders. */
export interface PageContext {
  /** Decoded `:name` segments of the path. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the page is left. */
  signal: AbortSignal;
}

/** Renders a page into `root`. */
export type Page = (root: HTMLElement, context: PageContext) => void | Promise<void>;

export interface Route {
  /** e.g. `/sockets/:device/:socket`. */
  path: string;
  /** The document title (before " · Wattline"). */
  title: string;
  /** Lazily loads the page module, so each page is its own chunk. */
  page: () => Promise<{ render: Page }>;
  /** Reachable without logging in. */
  public?: boolean;
}

/** Decides, before a route renders, whether to go elsewhere instead (returns that path). */
export type Guard = (route: Route, path: string) => Promise<string | null>;

interface Match {
  route: Route;
  params: Record<string, string>;
}

let routes: Route[] = [];
let outlet: HTMLElement;
let guard: Guard = async () => null;
let notFound: Route;
let current: AbortController | null = null;
let rendered = false;
const listeners = new Set<(path: string) => void>();

function match(path: string): Match | null {
  const parts = path.split("/").filter(Boolean);
  for (const route of routes) {
    const pattern = route.path.split("/").filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    pattern.forEach((segment, i) => {
      const part = parts[i] ?? "";
      if (segment.startsWith(":")) {
        try {
          params[segment.slice(1)] = decodeURIComponent(part);
        } catch {
          ok = false;
        }
      } else if (segment !== part) {
        ok = false;
      }
    });
    if (ok) return { route, params };
  }
  return null;
}

/** Starts routing: renders the current URL and follows link clicks and history. */
export function startRouter(options: { routes: Route[]; outlet: HTMLElement; guard: Guard; notFound: Route }): void {
  routes = options.routes;
  outlet = options.outlet;
  guard = options.guard;
  notFound = options.notFound;
  window.addEventListener("popstate", () => void render());
  document.addEventListener("click", onLinkClick);
  void render();
}

function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element | null)?.closest?.("a");
  if (!link || link.target || link.hasAttribute("download")) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}

/** Goes to `path` (pushing a history entry unless `replace`). */
export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, "", path);
  else if (path !== location.pathname + location.search) history.pushState(null, "", path);
  void render();
}

/** Calls `listener` with the path after each navigation (the nav marks the current page). */
export function onNavigate(listener: (path: string) => void): void {
  listeners.add(listener);
}

/** Renders the current URL again (after login, logout, or a settings change). */
export async function render(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const path = location.pathname;
  const found = match(path) ?? { route: notFound, params: {} };
  const redirect = await guard(found.route, path + location.search);
  if (controller.signal.aborted) return;
  if (redirect !== null) {
    navigate(redirect, { replace: true });
    return;
  }
  const root = document.createElement("div");
  root.className = "page";
  outlet.setAttribute("aria-busy", "true");
  try {
    const module = await found.route.page();
    if (controller.signal.aborted) return;
    outlet.replaceChildren(root);
    document.title = `${found.route.title} · Wattline`;
    for (const listener of listeners) listener(path);
    const context = { params: found.params, query: new URLSearchParams(location.search), signal: controller.signal };
    const done = module.render(root, context);
    // Focus the new page's heading so screen readers announce it (not on first load).
    const heading = root.querySelector<HTMLElement>("h1");
    if (heading) heading.tabIndex = -1;
    if (rendered) heading?.focus();
    rendered = true;
    await done;
  } catch (error) {
    if (controller.signal.aborted) return;
    const message = error instanceof Error ? error.message : String(error);
    outlet.replaceChildren(
      Object.assign(document.createElement("p"), { className: "error", role: "alert", textContent: `This page failed to load: ${message}` }),
    );
  } finally {
    if (current === controller) outlet.removeAttribute("aria-busy");
  }
}
