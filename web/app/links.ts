// Paths of the dashboard's own pages that several pages link to.

import type { SocketKey } from "./api/types";

/** The charts page of one socket. */
export function socketHref(key: SocketKey): string {
  return `/sockets/${encodeURIComponent(key.device)}/${encodeURIComponent(key.socket)}`;
}
