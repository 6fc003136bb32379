// The login session. The access token lives only in this module's memory;
// the refresh token is an HttpOnly cookie (Path=/api/auth) that only
// auth-service reads. On load and shortly before the access token expires we
// POST /api/auth/refresh with `{}`; the server rotates the cookie.
//
// Refresh tokens are single use and reuse revokes the whole family, so two
// refreshes must never race: one in flight per tab (a shared promise) and,
// where the browser has Web Locks, one at a time across tabs.

import { ApiError, errorOf, fetchOrThrow } from "./api/http";
import type { TokenResponse, User } from "./api/types";

let accessToken: string | null = null;
let user: User | null = null;
let refreshTimer: number | undefined;
let inFlight: Promise<boolean> | null = null;

type Listener = (user: User | null, reason: "login" | "logout" | "expired") => void;
const listeners = new Set<Listener>();

/** The access token for `Authorization: Bearer`, if logged in. */
export function token(): string | null {
  return accessToken;
}

/** The logged-in user, if any. */
export function currentUser(): User | null {
  return user;
}

/** Calls `listener` whenever the user logs in, out, or the session ends. */
export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function start(session: TokenResponse): void {
  const wasLoggedIn = user !== null;
  accessToken = session.access_token;
  user = session.user;
  window.clearTimeout(refreshTimer);
  // Refresh a minute early (or at 80 % of a short lifetime).
  const lead = Math.min(60, session.expires_in * 0.2);
  const delay = Math.max(5, session.expires_in - lead) * 1000;
  refreshTimer = window.setTimeout(() => void scheduledRefresh(), delay);
  if (!wasLoggedIn) for (const listener of listeners) listener(user, "login");
}

function end(reason: "logout" | "expired"): void {
  const wasLoggedIn = user !== null;
  accessToken = null;
  user = null;
  window.clearTimeout(refreshTimer);
  if (wasLoggedIn) for (const listener of listeners) listener(null, reason);
}

async function scheduledRefresh(): Promise<void> {
  try {
    if (!(await refresh())) end("expired");
  } catch {
    // The server is unreachable: keep the session and try again soon; a
    // request that meets a 401 meanwhile refreshes on its own.
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(() => void scheduledRefresh(), 30_000);
  }
}

async function postSession(path: string, body: unknown): Promise<TokenResponse> {
  const response = await fetchOrThrow(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as TokenResponse;
}

/** Logs in; throws `ApiError` (e.g. 401 `invalid_credentials`). */
export async function login(email: string, password: string): Promise<User> {
  start(await postSession("/api/auth/login", { email, password }));
  return user as User;
}

/**
 * Registers a new household (with the browser's time zone), or joins one
 * as a viewer with an invite token; logs in either way.
 */
export async function register(email: string, password: string, inviteToken?: string): Promise<User> {
  const body: Record<string, string> = { email, password, time_zone: browserTimeZone() };
  if (inviteToken) body.invite_token = inviteToken;
  start(await postSession("/api/auth/register", body));
  return user as User;
}

/** The browser's IANA time zone, e.g. "Europe/Berlin". */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/**
 * Exchanges the refresh cookie for a new session. Resolves false when the
 * server refuses (no cookie, expired, revoked); throws `ApiError` when it
 * cannot be reached or fails.
 */
export function refresh(): Promise<boolean> {
  if (!inFlight) {
    const attempt = () => refreshOnce();
    const locked = navigator.locks
      ? navigator.locks.request("wattline-refresh", attempt)
      : attempt();
    inFlight = locked.finally(() => {
      inFlight = null;
    });
  }
  return inFlight;
}

async function refreshOnce(): Promise<boolean> {
  try {
    start(await postSession("/api/auth/refresh", {}));
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 400 || error.status === 401)) return false;
    throw error;
  }
}

/** Restores the session on page load; false when the visitor must log in. */
export async function restore(): Promise<boolean> {
  return refresh();
}

/** Called when a request was refused even after a refresh. */
export function expire(): void {
  end("expired");
}

/** Revokes the refresh token (and its cookie) and forgets the session. */
export async function logout(): Promise<void> {
  try {
    await fetchOrThrow("/api/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
  } finally {
    end("logout");
  }
}
