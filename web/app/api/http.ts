// The lowest layer of API access: a fetch whose failures become `ApiError`s
// carrying the API's `{"error":{"code","message"}}`, so every page shows
// the server's own words. Used by `session` (no token) and `client` (token).

/** An API failure: HTTP status (0 when the server was not reached), code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/** The `ApiError` of a response that is not OK. */
export async function errorOf(response: Response): Promise<ApiError> {
  let body: ErrorBody | null = null;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    // Not JSON: a proxy's error page, or an empty body.
  }
  const code = body?.error?.code ?? `http_${response.status}`;
  const message =
    body?.error?.message ??
    (response.status >= 500
      ? `The server failed (${response.status}). Try again in a moment.`
      : `The request failed (${response.status} ${response.statusText}).`);
  return new ApiError(response.status, code, message);
}

/** fetch, with a network failure turned into an `ApiError` (status 0). Aborts are rethrown as is. */
export async function fetchOrThrow(input: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(input, { credentials: "same-origin", ...init });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, "network", "Cannot reach Wattline. Check your connection; retrying may help.");
  }
}

/** True for the error an aborted fetch or stream read throws. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** A path with its query string; undefined values are left out. */
export function withQuery(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
