// Saves a response as a file. The CSV export needs the Authorization
// header, so a plain <a download> link cannot fetch it; we fetch, then hand
// the browser a Blob under the server's filename.

/** The filename of `Content-Disposition: attachment; filename="…"` (or `filename*=`), else `fallback`. */
export function filenameOf(disposition: string | null, fallback: string): string {
  if (!disposition) return fallback;
  const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition);
  if (extended?.[1]) {
    try {
      return sanitize(decodeURIComponent(extended[1].trim()), fallback);
    } catch {
      // Malformed percent-encoding: try the plain parameter.
    }
  }
  const plain = /filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)/.exec(disposition);
  const value = plain?.[2] !== undefined ? plain[2].replace(/\\(.)/g, "$1") : plain?.[1]?.trim();
  return value ? sanitize(value, fallback) : fallback;
}

function sanitize(name: string, fallback: string): string {
  const base = name.split(/[/\\]/).pop()?.trim() ?? "";
  return base && base !== "." && base !== ".." ? base : fallback;
}

/** Downloads `response`'s body as a file. */
export async function saveResponse(response: Response, fallbackName: string): Promise<string> {
  const name = filenameOf(response.headers.get("Content-Disposition"), fallbackName);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cancel the download in some browsers.
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}
