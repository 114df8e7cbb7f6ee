//! Where the history lives: one SQLite file (the default, nothing to install) or a PostgreSQL
//! database a team's CI runners share (`--history postgres://…`), through one sqlx API.
//!
//! The schema is versioned (sqlx's migrator, the SQL in `migrations/`, written once for both
//! engines). Concurrent writers are safe: each session is one transaction; SQLite writers wait
//! for each other (a 30 s busy timeout), PostgreSQL's migrations hold an advisory lock, and two
//! SQLite processes migrating a new file at once retry the loser once it sees the winner's work.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

use super::{Measurement, Session};

/// Why the history could not be used, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the history at {location}: {reason} (check the path, or that the PostgreSQL server is up and the address right)")]
    Open { location: String, reason: String },
    #[error("the history at {location} cannot be brought to this clipbench's schema: {reason} (a newer clipbench wrote it? use that one, or another --history)")]
    Schema { location: String, reason: String },
    #[error("cannot write to the history at {location}: {reason}")]
    Write { location: String, reason: String },
    #[error("cannot read the history at {location}: {reason}")]
    Read { location: String, reason: String },
}

/// The schema's migrations, embedded in the binary.
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    #[allow(clippy::type_complexity)]
    fn resolve(
        self,
    ) -> Pin<
        Box<
            dyn Future<Output = Result<Vec<Migration>, Box<dyn std::error::Error + Send + Sync>>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async {
            Ok(vec![Migration::new(
                1,
                Cow::Borrowed("measurements"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("migrations/0001_measurements.sql")),
                false,
            )])
        })
    }
}

/// A measurement read back, with its session's machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub measurement: Measurement,
    pub machine_id: String,
    pub machine: String,
    pub command: String,
}

/// What to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub target: Option<String>,
    pub sample: Option<String>,
    /// RFC 3339 (or a prefix such as 2026-12-01): measurements from then on.
    pub since: Option<String>,
}

/// `count` numbered placeholders from `$first`, as one row of values: `($1, $2, …)`. Written
/// out, since sqlx's query builder writes `?` for its Any driver, which PostgreSQL refuses.
fn placeholders(first: usize, count: usize) -> String {
    let each: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    format!("({})", each.join(", "))
}

/// An open history.
pub struct Store {
    runtime: tokio::runtime::Runtime,
    pool: AnyPool,
    location: String,
}

/// `location` with any password replaced, fit for a message.
fn redacted(location: &str) -> String {
    match reqwest::Url::parse(location) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(_) => location.to_owned(),
        // Not a URL that parses: hide whatever stands before an `@` after the scheme.
        Err(_) => match location.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://***@{host}")
            }
            _ => location.to_owned(),
        },
    }
}

/// The sqlx address of `location`: a `postgres://`/`postgresql://`/`sqlite:` address as given,
/// anything else a SQLite file (created, with its folder, when missing).
fn address(location: &str) -> Result<String, String> {
    let known = ["postgres://", "postgresql://", "sqlite:"];
    if known.iter().any(|p| location.starts_with(p)) {
        return Ok(location.to_owned());
    }
    if location.contains("://") {
        return Err("write a file path, sqlite://PATH or postgres://USER@HOST/DB".into());
    }
    if let Some(parent) = Path::new(location).parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let escaped = location
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    Ok(format!("sqlite://{escaped}?mode=rwc"))
}

impl Store {
    /// Opens (creating when missing) the history at `location` and brings its schema up to
    /// date.
    pub fn open(location: &str) -> Result<Store, HistoryError> {
        let shown = redacted(location);
        let open_error = |reason: String| HistoryError::Open {
            location: shown.clone(),
            reason,
        };
        sqlx::any::install_default_drivers();
        let address = address(location).map_err(open_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| open_error(e.to_string()))?;
        let pool = runtime
            .block_on(
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            if conn.backend_name() == "SQLite" {
                                sqlx::query("PRAGMA busy_timeout = 30000")
                                    .execute(&mut *conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&address),
            )
            .map_err(|e| open_error(e.to_string()))?;
        let store = Store {
            runtime,
            pool,
            location: shown,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Applies the migrations not yet applied (retrying when another process applied the same
    /// one a moment earlier).
    fn migrate(&self) -> Result<(), HistoryError> {
        let mut last = String::new();
        for _ in 0..3 {
            let result = self.runtime.block_on(async {
                let migrator = Migrator::new(Embedded).await?;
                migrator.run(&self.pool).await
            });
            match result {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(HistoryError::Schema {
            location: self.location.clone(),
            reason: last,
        })
    }

    /// The location as shown in messages (password hidden).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Adds `session` in one transaction; `false` when it was already there.
    pub fn append(&self, session: &Session) -> Result<bool, HistoryError> {
        self.runtime
            .block_on(self.insert(session))
            .map_err(|e| HistoryError::Write {
                location: self.location.clone(),
                reason: e.to_string(),
            })
    }

    async fn insert(&self, session: &Session) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO machines (id, description, machine) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&session.machine.id)
        .bind(&session.machine.description)
        .bind(&session.machine.json)
        .execute(&mut *tx)
        .await?;
        let added = sqlx::query(
            "INSERT INTO sessions (id, command, created_at, clipbench_version, machine_id, \
             source, interrupted) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&session.id)
        .bind(&session.command)
        .bind(&session.created_at)
        .bind(&session.clipbench_version)
        .bind(&session.machine.id)
        .bind(&session.source)
        .bind(i64::from(session.interrupted))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // Rows in batches, each well under both engines' limit on bound values.
        const COLUMNS: usize = 12;
        for chunk in session.measurements.chunks(50) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| placeholders(r * COLUMNS + 1, COLUMNS))
                .collect();
            let sql = format!(
                "INSERT INTO measurements (session_id, target, sample, run, commit_sha, dirty, \
                 config_hash, status, measured_at, wall_s, work_cpu_s, figures) VALUES {}",
                rows.join(", ")
            );
            let mut insert = sqlx::query(&sql);
            for m in chunk {
                insert = insert
                    .bind(&session.id)
                    .bind(&m.target)
                    .bind(&m.sample)
                    .bind(m.run)
                    .bind(&m.commit)
                    .bind(i64::from(m.dirty))
                    .bind(&m.config_hash)
                    .bind(&m.status)
                    .bind(&m.measured_at)
                    .bind(m.wall_s)
                    .bind(m.work_cpu_s)
                    .bind(&m.figures);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The measurements `filter` selects, oldest first.
    pub fn read(&self, filter: &Filter) -> Result<Vec<Stored>, HistoryError> {
        self.runtime
            .block_on(self.select(filter))
            .map_err(|e| HistoryError::Read {
                location: self.location.clone(),
                reason: e.to_string(),
            })
    }

    async fn select(&self, filter: &Filter) -> Result<Vec<Stored>, sqlx::Error> {
        let mut sql = String::from(
            "SELECT m.target, m.sample, m.run, m.commit_sha, m.dirty, m.config_hash, m.status, \
             m.measured_at, m.wall_s, m.work_cpu_s, m.figures, s.machine_id, s.command, \
             mc.description FROM measurements m JOIN sessions s ON s.id = m.session_id \
             JOIN machines mc ON mc.id = s.machine_id WHERE 1 = 1",
        );
        let conditions = [
            ("m.target =", &filter.target),
            ("m.sample =", &filter.sample),
            ("m.measured_at >=", &filter.since),
        ];
        let mut values = Vec::new();
        for (condition, value) in conditions {
            if let Some(value) = value {
                values.push(value);
                sql.push_str(&format!(" AND {condition} ${}", values.len()));
            }
        }
        sql.push_str(" ORDER BY m.measured_at, m.target, m.sample, m.run");
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(Stored {
                    measurement: Measurement {
                        target: row.try_get("target")?,
                        sample: row.try_get("sample")?,
                        run: row.try_get("run")?,
                        commit: row.try_get("commit_sha")?,
                        dirty: row.try_get::<i64, _>("dirty")? != 0,
                        config_hash: row.try_get("config_hash")?,
                        status: row.try_get("status")?,
                        measured_at: row.try_get("measured_at")?,
                        wall_s: row.try_get("wall_s")?,
                        work_cpu_s: row.try_get("work_cpu_s")?,
                        figures: row.try_get("figures")?,
                    },
                    machine_id: row.try_get("machine_id")?,
                    command: row.try_get("command")?,
                    machine: row.try_get("description")?,
                })
            })
            .collect()
    }
}
