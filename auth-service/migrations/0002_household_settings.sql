-- A household's settings: the IANA time zone its days and hours are counted
-- in, and its tariff (wattline-tariff JSON, NULL = no prices). Plain ADD
-- COLUMNs with a constant default, which SQLite and PostgreSQL both take
-- and which fill in the existing rows.

ALTER TABLE households ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE households ADD COLUMN tariff TEXT;
