//! Connecting, migrating and the few places where SQLite and PostgreSQL must be told apart.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};
use std::{str::FromStr, time::Duration};

use crate::write_lane::{Turn, Urgency, WriteLane};
use crate::Result;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// Where writes go: on SQLite one connection behind a [`WriteLane`], on PostgreSQL the pool.
    lane: WriteLane,
    pub(crate) events: crate::events::Events,
    backend: Backend,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating the SQLite file and its
    /// directory when missing, and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(crate::StoreError::invalid(
                "database.url",
                "unsupported_database",
                format!("`{url}` is neither sqlite:// nor postgres://"),
            ));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let pool_of = |connections: u32| {
            AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL lets readers run beside the writer; busy_timeout covers another process writing.
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;").await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        let pool = pool_of(max_connections.max(1)).await?;
        let lane = match backend {
            Backend::Sqlite => WriteLane::serialised(pool_of(1).await?),
            Backend::Postgres => WriteLane::concurrent(pool.clone()),
        };
        let events = crate::events::Events::new(backend, &url);
        let store = Self { pool, lane, events, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(self.lane.pool()).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(self.lane.pool()).await?,
        }
        Ok(())
    }

    /// This writer's turn at the database (see [`WriteLane`]); every write of the store takes one.
    pub(crate) async fn writes(&self) -> Result<Turn> {
        Ok(self.lane.turn(Urgency::Normal).await?)
    }

    /// A turn ahead of the writers already waiting: for what a caller is waiting on (webhooks).
    pub(crate) async fn urgent_writes(&self) -> Result<Turn> {
        Ok(self.lane.turn(Urgency::Urgent).await?)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database accepts a query (used by `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.lane.pool().close().await;
        self.pool.close().await;
    }

    /// Brings PostgreSQL's planner statistics up to date after a bulk write. Without it, a table
    /// analysed while small keeps being scanned sequentially as an import grows it (each lookup of a
    /// batch's e-mails then costs 300 ms at 20,000 contacts instead of a few index probes).
    /// SQLite gets the same, sampled, so its planner learns that `workspace_id` is not selective.
    pub(crate) async fn refresh_statistics(&self) -> Result<()> {
        let statements: &[&str] = match self.backend {
            Backend::Postgres => &["ANALYZE contacts", "ANALYZE contact_values", "ANALYZE contact_labels"],
            Backend::Sqlite => &["PRAGMA analysis_limit = 1000", "ANALYZE contacts", "ANALYZE contact_values", "ANALYZE contact_labels"],
        };
        let turn = self.writes().await?;
        let mut conn = turn.acquire().await?;
        for statement in statements {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Deletes row `id` of `table` in workspace `ws` (rows it owns go with it, by cascade);
    /// `NotFound(what)` when the workspace has no such row.
    pub(crate) async fn delete_scoped(
        &self,
        table: &'static str,
        ws: tandem_core::WorkspaceId,
        id: &str,
        what: &'static str,
    ) -> Result<()> {
        let mut sql = self.sql(&format!("DELETE FROM {table} WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        let (text, args) = sql.into_parts()?;
        if sqlx::query_with(&text, args).execute(&*self.writes().await?).await?.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound(what));
        }
        Ok(())
    }

    /// A statement builder with this database's placeholders.
    pub(crate) fn sql(&self, text: &str) -> crate::sql::Sql {
        crate::sql::Sql::new(self.backend, text)
    }

    /// `FOR UPDATE SKIP LOCKED` where the database has it; SQLite serialises writers anyway.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }
}

/// Creates an empty database `name` on the PostgreSQL server at `admin_url` (any database of that
/// server) and returns its URL. For tests and benchmarks, which need a database of their own.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(crate::StoreError::invalid("name", "invalid_name", "database names here are letters, digits and _"));
    }
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    // Concurrent CREATE DATABASE statements fight over template1: take turns, across processes.
    conn.execute("SELECT pg_advisory_lock(7471)").await?;
    let created = conn
        .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .and(conn.execute(format!("CREATE DATABASE {name}").as_str()).await);
    conn.execute("SELECT pg_advisory_unlock(7471)").await?;
    created?;
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    Ok(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}

/// Makes sure the SQLite file can be created: its directory exists and `mode=rwc` is set.
fn sqlite_url(url: &str) -> Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                crate::StoreError::invalid("database.url", "unwritable_database", format!("cannot create {}: {e}", dir.display()))
            })?;
        }
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".into()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}
