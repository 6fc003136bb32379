// One typed function per API endpoint the dashboard calls. Auth-service
// owns accounts, the household and devices; read-service owns readings.

import { del, get, patch, post, put, send } from "./client";
import { rfc3339 } from "../time";
import type {
  Bucket,
  Device,
  DeviceCredentials,
  EnergyResponse,
  Household,
  Invite,
  Member,
  PowerSeries,
  SocketKey,
  SocketName,
  SocketsResponse,
  Tariff,
} from "./types";

const seg = encodeURIComponent;

function socketQuery(key?: SocketKey | null): Record<string, string | undefined> {
  return key ? { device: key.device, socket: key.socket } : {};
}

function rangeQuery(fromMs: number, toMs: number): Record<string, string> {
  return { from: rfc3339(fromMs), to: rfc3339(toMs) };
}

// --- household (auth-service) ---

export const household = (signal?: AbortSignal) => get<Household>("/api/household", { signal });

export const saveSettings = (settings: { time_zone: string; tariff: Tariff | null }) =>
  put<Household>("/api/household/settings", settings);

export const members = (signal?: AbortSignal) => get<Member[]>("/api/household/members", { signal });

export const invite = (email: string) => post<Invite>("/api/household/invites", { email });

export const removeMember = (userId: string) => del(`/api/household/members/${seg(userId)}`);

// --- devices (auth-service) ---

export const devices = (signal?: AbortSignal) => get<Device[]>("/api/devices", { signal });

export const createDevice = (name: string) => post<DeviceCredentials>("/api/devices", { name });

export const renameDevice = (id: string, name: string) => patch<Device>(`/api/devices/${seg(id)}`, { name });

export const rotateSecret = (id: string) => post<DeviceCredentials>(`/api/devices/${seg(id)}/secret`);

export const deleteDevice = (id: string) => del(`/api/devices/${seg(id)}`);

export const nameSocket = (device: string, socket: string, name: string) =>
  put<SocketName>(`/api/devices/${seg(device)}/sockets/${seg(socket)}`, { name });

// --- readings (read-service) ---

export const sockets = (signal?: AbortSignal) => get<SocketsResponse>("/api/sockets", { signal });

export const power = (fromMs: number, toMs: number, key: SocketKey | null, signal?: AbortSignal) =>
  get<PowerSeries>("/api/power", { query: { ...rangeQuery(fromMs, toMs), ...socketQuery(key) }, signal });

export const energy = (fromMs: number, toMs: number, bucket: Bucket, key: SocketKey | null, signal?: AbortSignal) =>
  get<EnergyResponse>("/api/energy", {
    query: { ...rangeQuery(fromMs, toMs), bucket, ...socketQuery(key) },
    signal,
  });

/** The raw readings as CSV (the response, to be saved as a file). */
export const exportCsv = (fromMs: number, toMs: number, key: SocketKey | null) =>
  send("GET", "/api/export.csv", { query: { ...rangeQuery(fromMs, toMs), ...socketQuery(key) }, headers: { Accept: "text/csv" } });
