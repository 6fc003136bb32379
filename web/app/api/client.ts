// Authorised requests: adds the access token, and on a 401 refreshes the
// session once and retries; if that fails too the session has ended (the
// app then shows the login page) and the call throws.

import * as session from "../session";
import { ApiError, errorOf, fetchOrThrow, withQuery } from "./http";

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Extra headers, e.g. `Accept`. */
  headers?: Record<string, string>;
}

function init(method: string, options: RequestOptions): RequestInit {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  const bearer = session.token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const request: RequestInit = { method, headers, signal: options.signal ?? null };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    request.body = JSON.stringify(options.body);
  }
  return request;
}

/** Sends a request and returns the OK response; throws `ApiError` otherwise. */
export async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const url = withQuery(path, options.query);
  let response = await fetchOrThrow(url, init(method, options));
  if (response.status === 401) {
    let refreshed = false;
    try {
      refreshed = await session.refresh();
    } catch {
      throw await errorOf(response);
    }
    if (refreshed) response = await fetchOrThrow(url, init(method, options));
    if (!refreshed || response.status === 401) {
      session.expire();
      throw new ApiError(401, "session_expired", "Your session has ended. Log in again.");
    }
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function json<T>(method: string, path: string, options: RequestOptions): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string, options: RequestOptions = {}) => json<T>("GET", path, options);
export const post = <T>(path: string, body: unknown = {}, options: RequestOptions = {}) =>
  json<T>("POST", path, { ...options, body });
export const put = <T>(path: string, body: unknown, options: RequestOptions = {}) =>
  json<T>("PUT", path, { ...options, body });
export const patch = <T>(path: string, body: unknown, options: RequestOptions = {}) =>
  json<T>("PATCH", path, { ...options, body });
export const del = (path: string, options: RequestOptions = {}) => json<void>("DELETE", path, options);
