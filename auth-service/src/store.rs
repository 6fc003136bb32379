//! Everything the service keeps, in SQLite or PostgreSQL through one code
//! path (sqlx's `Any` driver): the same SQL, `$n` placeholders (which both
//! understand), TEXT and BIGINT columns only, times as Unix seconds.
//!
//! Each method is one statement or one transaction; the HTTP handlers decide
//! who may call what (households are always part of the `WHERE`, so a
//! handler cannot reach another household's rows by passing the wrong id).

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use wattline_tariff::Tariff;

use crate::access_token::Role;
use crate::time_zone::TimeZoneName;
use crate::unix_now;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (an email already registered).
    #[error("already exists")]
    Conflict,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub household_id: String,
    pub role: Role,
    pub created_at: i64,
}

/// A household's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    pub id: String,
    /// IANA name, as stored (checked on the way in).
    pub time_zone: String,
    pub tariff: Option<Tariff>,
}

/// A registered device (agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub created_at: i64,
}

/// A socket's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketName {
    pub device_id: String,
    pub socket_id: String,
    pub name: String,
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub family_id: String,
    pub user_id: String,
    pub expires_at: i64,
    /// When it was exchanged for the next one (Unix seconds), if it was.
    pub used_at: Option<i64>,
    /// Revoked (logout, reuse, password change): never valid again.
    pub revoked: bool,
}

/// A refresh token to store.
#[derive(Debug, Clone, Copy)]
pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub user_id: &'a str,
    pub expires_at: i64,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// Connects (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") {
            // Create the file on first start.
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}mode=rwc")
        } else {
            url.to_owned()
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            // SQLite serialises writers anyway; one connection avoids SQLITE_BUSY
            // between our own connections.
            .max_connections(if is_sqlite { 1 } else { 10 })
            .connect_with(options)
            .await?;
        if is_sqlite {
            restrict_to_owner(&url)?;
            // Durable, and readers don't wait for the writer. foreign_keys is on
            // by default in sqlx's SQLite driver.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&pool)
                .await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // --- accounts -------------------------------------------------------

    /// Creates a household in `time_zone` (no tariff) and its owner.
    /// `Conflict` if the email is taken.
    pub async fn create_owner(
        &self,
        user: &User,
        password_hash: &str,
        time_zone: &TimeZoneName,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO households (id, created_at, time_zone) VALUES ($1, $2, $3)")
            .bind(&user.household_id)
            .bind(user.created_at)
            .bind(time_zone.as_str())
            .execute(&mut *tx)
            .await?;
        insert_user(&mut tx, user, password_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a viewer in the household that invited `email` with the
    /// unexpired invite `token_hash`, and spends the invite. `Ok(None)` if
    /// there is no such invite for this email.
    pub async fn accept_invite(
        &self,
        token_hash: &str,
        user: User,
        password_hash: &str,
    ) -> Result<Option<User>> {
        let mut tx = self.pool.begin().await?;
        let household: Option<(String,)> = sqlx::query_as(
            "DELETE FROM invites WHERE token_hash = $1 AND email = $2 AND expires_at > $3 \
             RETURNING household_id",
        )
        .bind(token_hash)
        .bind(&user.email)
        .bind(unix_now())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((household_id,)) = household else {
            return Ok(None);
        };
        let user = User {
            household_id,
            role: Role::Viewer,
            ..user
        };
        insert_user(&mut tx, &user, password_hash).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    /// The user with this (normalised) email and their password hash.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!("{SELECT_USER} WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// The user with this id and their password hash.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!("{SELECT_USER} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// Sets a new password hash and revokes the user's refresh tokens.
    pub async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(unix_now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a viewer's login with its tokens; `false` (and nothing
    /// deleted) unless `user_id` is a viewer of `household_id`.
    pub async fn delete_viewer(&self, household_id: &str, user_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // The same condition as the user's own row: an owner naming another
        // household's user, or themselves, must not end that user's sessions.
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE user_id IN \
             (SELECT id FROM users WHERE id = $1 AND household_id = $2 AND role = 'viewer')",
        )
        .bind(user_id)
        .bind(household_id)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(
            "DELETE FROM users WHERE id = $1 AND household_id = $2 AND role = 'viewer'",
        )
        .bind(user_id)
        .bind(household_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// Deletes a household with everything in it: its devices (so they can no
    /// longer log in to the broker), socket names, invites, every member's
    /// login and tokens.
    pub async fn delete_household(&self, household_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "DELETE FROM sockets WHERE device_id IN (SELECT id FROM devices WHERE household_id = $1)",
            "DELETE FROM devices WHERE household_id = $1",
            "DELETE FROM invites WHERE household_id = $1",
            "DELETE FROM refresh_tokens WHERE user_id IN (SELECT id FROM users WHERE household_id = $1)",
            "DELETE FROM users WHERE household_id = $1",
            "DELETE FROM households WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(household_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A household's settings.
    pub async fn household(&self, household_id: &str) -> Result<Option<Household>> {
        let row: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, time_zone, tariff FROM households WHERE id = $1")
                .bind(household_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(id, time_zone, tariff)| {
            let tariff = tariff
                .map(|json| serde_json::from_str(&json))
                .transpose()
                .map_err(|error| {
                    sqlx::Error::Decode(
                        format!("household {id}: stored tariff unreadable: {error}").into(),
                    )
                })?;
            Ok(Household {
                id,
                time_zone,
                tariff,
            })
        })
        .transpose()
    }

    /// Replaces a household's time zone and tariff; `false` if there is no
    /// such household.
    pub async fn set_household_settings(
        &self,
        household_id: &str,
        time_zone: &TimeZoneName,
        tariff: Option<&Tariff>,
    ) -> Result<bool> {
        let tariff = tariff
            .map(serde_json::to_string)
            .transpose()
            .map_err(|error| sqlx::Error::Encode(error.into()))?;
        let updated =
            sqlx::query("UPDATE households SET time_zone = $1, tariff = $2 WHERE id = $3")
                .bind(time_zone.as_str())
                .bind(tariff)
                .bind(household_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(updated == 1)
    }

    /// The household's members, oldest first.
    pub async fn members(&self, household_id: &str) -> Result<Vec<User>> {
        sqlx::query(&format!(
            "{SELECT_USER} WHERE household_id = $1 ORDER BY created_at, email"
        ))
        .bind(household_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    /// Stores an invite for `email` to join `household_id` as a viewer.
    pub async fn create_invite(
        &self,
        household_id: &str,
        email: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO invites (token_hash, household_id, email, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(household_id)
        .bind(email)
        .bind(expires_at)
        .bind(unix_now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- refresh tokens -------------------------------------------------

    /// Stores a new refresh token (the first of a new family).
    pub async fn insert_refresh_token(&self, token: &NewRefreshToken<'_>) -> Result<()> {
        insert_refresh_token(&mut *self.pool.acquire().await?, token).await
    }

    /// Spends the token `spent_hash` (unused, or used no earlier than
    /// `used_since`: the reuse grace) and stores its successor, in one
    /// transaction; `false` (nothing stored) if it was revoked or spent
    /// before `used_since` meanwhile. The first use's time is kept, so the
    /// grace does not stretch with each use.
    ///
    /// One transaction, so that a concurrent use of the same token, which
    /// finds it spent and revokes the family, also revokes the successor:
    /// it is either committed before that revocation or never stored.
    pub async fn rotate_refresh_token(
        &self,
        spent_hash: &str,
        used_since: i64,
        next: &NewRefreshToken<'_>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = COALESCE(used_at, $1) \
             WHERE token_hash = $2 AND revoked_at IS NULL \
             AND (used_at IS NULL OR used_at >= $3)",
        )
        .bind(unix_now())
        .bind(spent_hash)
        .bind(used_since)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            return Ok(false);
        }
        insert_refresh_token(&mut tx, next).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The refresh token with this hash.
    pub async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
        let row = sqlx::query(
            "SELECT family_id, user_id, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let revoked: Option<i64> = row.try_get("revoked_at")?;
            Ok(RefreshToken {
                family_id: row.try_get("family_id")?,
                user_id: row.try_get("user_id")?,
                expires_at: row.try_get("expires_at")?,
                used_at: row.try_get("used_at")?,
                revoked: revoked.is_some(),
            })
        })
        .transpose()
    }

    /// Revokes every token of a family (logout, or reuse detected).
    pub async fn revoke_family(&self, family_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(unix_now())
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- devices --------------------------------------------------------

    /// Registers a device with the hash of its secret.
    pub async fn create_device(&self, device: &Device, secret_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO devices (id, household_id, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&device.id)
        .bind(&device.household_id)
        .bind(&device.name)
        .bind(secret_hash)
        .bind(device.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The household's devices, oldest first.
    pub async fn devices(&self, household_id: &str) -> Result<Vec<Device>> {
        sqlx::query(&format!(
            "{SELECT_DEVICE} WHERE household_id = $1 ORDER BY created_at, id"
        ))
        .bind(household_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(device_from_row)
        .collect()
    }

    /// One of the household's devices.
    pub async fn device(&self, household_id: &str, device_id: &str) -> Result<Option<Device>> {
        sqlx::query(&format!(
            "{SELECT_DEVICE} WHERE household_id = $1 AND id = $2"
        ))
        .bind(household_id)
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device_from_row)
        .transpose()
    }

    /// Renames one of the household's devices; `false` if there is none.
    pub async fn rename_device(
        &self,
        household_id: &str,
        device_id: &str,
        name: &str,
    ) -> Result<bool> {
        let updated =
            sqlx::query("UPDATE devices SET name = $1 WHERE household_id = $2 AND id = $3")
                .bind(name)
                .bind(household_id)
                .bind(device_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(updated == 1)
    }

    /// Replaces the secret hash of one of the household's devices.
    pub async fn set_device_secret(
        &self,
        household_id: &str,
        device_id: &str,
        secret_hash: &str,
    ) -> Result<bool> {
        let updated =
            sqlx::query("UPDATE devices SET secret_hash = $1 WHERE household_id = $2 AND id = $3")
                .bind(secret_hash)
                .bind(household_id)
                .bind(device_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(updated == 1)
    }

    /// Deletes one of the household's devices and its socket names.
    pub async fn delete_device(&self, household_id: &str, device_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM sockets WHERE device_id IN \
             (SELECT id FROM devices WHERE household_id = $1 AND id = $2)",
        )
        .bind(household_id)
        .bind(device_id)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM devices WHERE household_id = $1 AND id = $2")
            .bind(household_id)
            .bind(device_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }

    /// A device's household and secret hash, for broker logins and the
    /// write service's registry.
    pub async fn device_credentials(&self, device_id: &str) -> Result<Option<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT household_id, secret_hash FROM devices WHERE id = $1")
                .bind(device_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Names a socket of one of the household's devices; `false` if the
    /// household has no such device.
    pub async fn name_socket(
        &self,
        household_id: &str,
        device_id: &str,
        socket_id: &str,
        name: &str,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO sockets (device_id, socket_id, name) \
             SELECT id, $1, $2 FROM devices WHERE household_id = $3 AND id = $4 \
             ON CONFLICT (device_id, socket_id) DO UPDATE SET name = excluded.name",
        )
        .bind(socket_id)
        .bind(name)
        .bind(household_id)
        .bind(device_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The socket names of the household's devices.
    pub async fn socket_names(&self, household_id: &str) -> Result<Vec<SocketName>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT s.device_id, s.socket_id, s.name FROM sockets s \
             JOIN devices d ON d.id = s.device_id \
             WHERE d.household_id = $1 ORDER BY s.device_id, s.socket_id",
        )
        .bind(household_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(device_id, socket_id, name)| SocketName {
                device_id,
                socket_id,
                name,
            })
            .collect())
    }
}

/// Makes a SQLite database file readable by its owner only: it holds
/// password hashes. Done before WAL mode is set, as SQLite gives the `-wal`
/// and `-shm` files the database file's permissions.
fn restrict_to_owner(url: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
}

const SELECT_USER: &str =
    "SELECT id, email, household_id, role, created_at, password_hash FROM users";
const SELECT_DEVICE: &str = "SELECT id, household_id, name, created_at FROM devices";

async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: &User,
    password_hash: &str,
) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, household_id, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(password_hash)
    .bind(&user.household_id)
    .bind(user.role.as_str())
    .bind(user.created_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

async fn insert_refresh_token(
    connection: &mut sqlx::AnyConnection,
    token: &NewRefreshToken<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.token_hash)
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(token.expires_at)
    .bind(unix_now())
    .execute(connection)
    .await?;
    Ok(())
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        household_id: row.try_get("household_id")?,
        role: Role::parse(&role).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown role {role:?} in the users table").into())
        })?,
        created_at: row.try_get("created_at")?,
    })
}

fn device_from_row(row: &sqlx::any::AnyRow) -> Result<Device> {
    Ok(Device {
        id: row.try_get("id")?,
        household_id: row.try_get("household_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}
