// The logged-in household's settings (time zone, tariff, the caller's
// role), loaded once per session before any page renders, and the display
// names of devices and sockets, which several pages share.

import * as api from "./api/endpoints";
import type { Device, Household, SocketKey } from "./api/types";
import { useTimeZone } from "./format";
import { currentUser } from "./session";

let current: Household | null = null;
let loading: Promise<Household> | null = null;

/** Loads the household once per session (again after `forgetHousehold`). */
export function loadHousehold(): Promise<Household> {
  if (current) return Promise.resolve(current);
  loading ??= api.household().then(
    (loaded) => {
      setHousehold(loaded);
      return loaded;
    },
    (error: unknown) => {
      loading = null;
      throw error;
    },
  );
  return loading;
}

/**
 * The household. Pages render after `loadHousehold`; should that have
 * failed, UTC, no tariff and the role from the token stand in.
 */
export function household(): Household {
  if (current) return current;
  const user = currentUser();
  return { id: user?.household_id ?? "", time_zone: "UTC", tariff: null, role: user?.role ?? "viewer" };
}

/** Records settings just saved (or loaded) and shows times in their zone. */
export function setHousehold(next: Household): void {
  current = next;
  useTimeZone(next.time_zone);
}

/** Drops everything cached for the session (logout). */
export function forgetHousehold(): void {
  current = null;
  loading = null;
  names = null;
}

/** True when the caller may change things (devices, settings, members). */
export function isOwner(): boolean {
  return household().role === "owner";
}

/** Display names of devices and sockets. */
export class Names {
  private readonly devices = new Map<string, string>();
  private readonly sockets = new Map<string, string>();

  constructor(list: Device[]) {
    for (const device of list) {
      this.devices.set(device.id, device.name);
      for (const socket of device.sockets) this.sockets.set(socketId(device.id, socket.socket_id), socket.name);
    }
  }

  /** The device's name, or its id when unknown (deleted, or not loaded). */
  device(id: string): string {
    return this.devices.get(id) ?? id;
  }

  /** The socket's given name, or its id. */
  socket(key: SocketKey): string {
    return this.sockets.get(socketId(key.device, key.socket)) ?? key.socket;
  }

  /** Whether the owner named it. */
  hasName(key: SocketKey): boolean {
    return this.sockets.has(socketId(key.device, key.socket));
  }
}

/** A map key for a (device, socket) pair; ids cannot hold control characters. */
export function socketId(device: string, socket: string): string {
  return `${device}\u0000${socket}`;
}

let names: Promise<Names> | null = null;

/**
 * The names, loaded once and shared; `fresh` reloads them (after a rename).
 * When auth-service cannot list devices, ids stand in for names.
 */
export function loadNames(fresh = false): Promise<Names> {
  if (fresh || !names) {
    names = api.devices().then(
      (list) => new Names(list),
      () => {
        names = null;
        return new Names([]);
      },
    );
  }
  return names;
}
