// The JSON the APIs speak (see docs in auth-service/src/api and
// notes/issue4-contract.md). Only what the dashboard reads is typed.

export type Role = "owner" | "viewer";

/** The logged-in user (`/api/auth/me`, and in every token response). */
export interface User {
  user_id: string;
  email: string;
  household_id: string;
  role: Role;
  created_at: number;
}

/** A new session from register, login or refresh. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_expires_in: number;
  user: User;
}

export interface Band {
  from: string;
  to: string;
  price_per_kwh: number;
}

export interface Tariff {
  currency: string;
  price_per_kwh: number;
  daily_charge: number;
  bands: Band[];
}

export interface Household {
  id: string;
  time_zone: string;
  tariff: Tariff | null;
  role: Role;
}

export interface Member {
  user_id: string;
  email: string;
  role: Role;
  created_at: number;
}

export interface Invite {
  email: string;
  invite_token: string;
  role: Role;
  expires_at: number;
}

export interface SocketName {
  socket_id: string;
  name: string;
}

export interface Device {
  id: string;
  name: string;
  created_at: number;
  sockets: SocketName[];
}

/** A device's credentials, shown once (create, rotate). */
export interface DeviceCredentials {
  device: Device;
  secret: string;
  routing_key: string;
}

/** A socket as read-service sees it. */
export interface SocketReading {
  device: string;
  socket: string;
  watts: number | null;
  energy_wh: number | null;
  last_seen: string | null;
  reporting: boolean;
}

export interface SocketsResponse {
  sockets: SocketReading[];
  total_watts: number | null;
}

export interface PowerSeries {
  from: string;
  to: string;
  step_s: number;
  resolution: "raw" | "1m" | "1h";
  t: number[];
  watts: (number | null)[];
  watts_max: (number | null)[];
}

export type Bucket = "hour" | "day" | "week" | "month";

export interface EnergyBucket {
  start: string;
  end: string;
  energy_kwh: number;
  energy_cost: number | null;
  fixed_cost: number | null;
  cost: number | null;
}

export interface SocketEnergy {
  device: string;
  socket: string;
  energy_kwh: number;
  cost: number | null;
}

export interface EnergyResponse {
  time_zone: string;
  currency: string | null;
  bucket: Bucket;
  buckets: EnergyBucket[];
  total_kwh: number;
  total_cost: number | null;
  by_socket: SocketEnergy[];
}

/** One `event: power` of `/api/live`. */
export interface LiveEvent {
  t: number;
  total_watts: number | null;
  sockets: { device: string; socket: string; watts: number | null; t: number }[];
}

/** A socket's identity; absent for the household total. */
export interface SocketKey {
  device: string;
  socket: string;
}
