//! The SQLite store: one file in write-ahead-log mode, versioned
//! migrations, one writer connection and a few readers, every call off the
//! async threads. Records are JSON bodies with the columns queries need.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coderun_core::error::PortError;
use coderun_core::ports::*;
use coderun_core::{
    Job, JobCounts, JobQuery, Millis, Page, Problem, ProblemStats, Session, Status,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tracing::instrument;

/// Readers: enough for status polling on a few cores; SQLite in WAL mode
/// lets them all read while the writer writes.
const READERS: usize = 4;

/// Schema versions, applied in order once each (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    problem_id TEXT,
    verdict TEXT,
    outcome TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX jobs_by_user ON jobs (user, kind, id DESC);
CREATE INDEX jobs_unfinished ON jobs (status, created_at)
    WHERE status NOT IN ('COMPLETED', 'FAILED');
CREATE INDEX jobs_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE idempotency (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user, key)
);
CREATE INDEX idempotency_by_job ON idempotency (job_id);
CREATE TABLE problems (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE attempts (
    job_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    problem_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score REAL,
    at INTEGER NOT NULL
);
CREATE INDEX attempts_by_user ON attempts (user, problem_id);
CREATE TABLE queue (
    job_id TEXT PRIMARY KEY,
    enqueued_at INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    receives INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_by_time ON queue (available_at, enqueued_at);
"#];

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("migrating the schema to version {version}")]
    Migrate {
        version: usize,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the database has schema version {0}, newer than this coderun knows ({1})")]
    TooNew(usize, usize),
}

/// The database: records and the local queue.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn connect(path: &Path) -> Result<Connection, OpenError> {
    let open = |source| OpenError::Open {
        path: path.display().to_string(),
        source,
    };
    let c = Connection::open(path).map_err(open)?;
    // WAL: readers never block the writer. NORMAL sync: a crash of the
    // process loses nothing (the OS has the pages); only a power cut can
    // lose the last commits.
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
    )
    .map_err(open)?;
    Ok(c)
}

fn storage(e: rusqlite::Error) -> PortError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            PortError::Throttled(Box::new(e))
        }
        _ => PortError::internal(e),
    }
}

fn corrupt(e: serde_json::Error) -> PortError {
    PortError::internal(e)
}

impl Db {
    /// Opens (creating and migrating) the database file.
    pub fn open(path: &Path) -> Result<Db, OpenError> {
        let mut writer = connect(path)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| connect(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Db {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Runs `f` with the writer connection on a blocking thread.
    pub async fn write<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(PortError::internal)?
    }

    /// Runs `f` with a reader connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, PortError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let c = inner.readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&c)
        })
        .await
        .map_err(PortError::internal)?
    }
}

fn migrate(c: &mut Connection) -> Result<(), OpenError> {
    let version: usize = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| OpenError::Migrate { version: 0, source })?;
    if version > MIGRATIONS.len() {
        return Err(OpenError::TooNew(version, MIGRATIONS.len()));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let err = |source| OpenError::Migrate {
            version: i + 1,
            source,
        };
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

fn job_from(body: String) -> Result<Job, PortError> {
    serde_json::from_str(&body).map_err(corrupt)
}

fn verdict_str(job: &Job) -> Option<String> {
    job.verdict.map(|v| v.to_string())
}

#[async_trait]
impl JobStore for Db {
    #[instrument(skip_all, fields(job_id = %job.id))]
    async fn insert_job(&self, job: &Job, key: Option<&IdempotencyKey>) -> PortResult<Inserted> {
        let job = job.clone();
        let key = key.cloned();
        let body = serde_json::to_string(&job).map_err(corrupt)?;
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            if let Some(k) = &key {
                let existing: Option<(String, String)> = tx
                    .query_row(
                        "SELECT job_id, request_hash FROM idempotency WHERE user = ?1 AND key = ?2",
                        params![k.user, k.key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(storage)?;
                if let Some((job_id, request_hash)) = existing {
                    return Ok(Inserted::Existing {
                        job_id,
                        request_hash,
                    });
                }
                tx.execute(
                    "INSERT INTO idempotency (user, key, request_hash, job_id, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![k.user, k.key, k.request_hash, job.id, job.created_at],
                )
                .map_err(storage)?;
            }
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO jobs (id, kind, user, status, attempts, problem_id, \
                     verdict, outcome, created_at, expires_at, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        job.id,
                        job.kind.as_str(),
                        job.user,
                        job.status.as_str(),
                        job.attempts,
                        job.problem_id,
                        verdict_str(&job),
                        job.outcome,
                        job.created_at,
                        job.expires_at,
                        body
                    ],
                )
                .map_err(storage)?;
            if n == 0 {
                return Err(PortError::Conflict(format!("job {} exists", job.id)));
            }
            tx.commit().map_err(storage)?;
            Ok(Inserted::New)
        })
        .await
    }

    #[instrument(skip_all, fields(job_id = %id))]
    async fn get_job(&self, id: &str) -> PortResult<Option<Job>> {
        let id = id.to_string();
        self.read(move |c| {
            let body: Option<String> = c
                .prepare_cached("SELECT body FROM jobs WHERE id = ?1")
                .map_err(storage)?
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(storage)?;
            body.map(job_from).transpose()
        })
        .await
    }

    #[instrument(skip_all, fields(job_id = %job.id))]
    async fn replace_job(&self, job: &Job, expected: (Status, u32)) -> PortResult<()> {
        let job = job.clone();
        let body = serde_json::to_string(&job).map_err(corrupt)?;
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE jobs SET status = ?1, attempts = ?2, verdict = ?3, outcome = ?4, \
                     expires_at = ?5, body = ?6 WHERE id = ?7 AND status = ?8 AND attempts = ?9",
                )
                .map_err(storage)?
                .execute(params![
                    job.status.as_str(),
                    job.attempts,
                    verdict_str(&job),
                    job.outcome,
                    job.expires_at,
                    body,
                    job.id,
                    expected.0.as_str(),
                    expected.1
                ])
                .map_err(storage)?;
            if n == 0 {
                return Err(PortError::Conflict(format!(
                    "job {} is no longer {} (attempt {})",
                    job.id, expected.0, expected.1
                )));
            }
            Ok(())
        })
        .await
    }

    async fn list_jobs(&self, q: &JobQuery) -> PortResult<Page<Job>> {
        let q = q.clone();
        self.read(move |c| {
            let mut sql = String::from("SELECT body FROM jobs WHERE user = ?1");
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(q.user.clone())];
            if let Some(k) = q.kind {
                args.push(Box::new(k.as_str()));
                sql += &format!(" AND kind = ?{}", args.len());
            }
            if let Some(p) = &q.problem_id {
                args.push(Box::new(p.clone()));
                sql += &format!(" AND problem_id = ?{}", args.len());
            }
            if let Some(v) = q.verdict {
                args.push(Box::new(v.to_string()));
                sql += &format!(" AND verdict = ?{}", args.len());
            }
            if let Some(cursor) = &q.cursor {
                args.push(Box::new(cursor.clone()));
                sql += &format!(" AND id < ?{}", args.len());
            }
            sql += &format!(" ORDER BY id DESC LIMIT {}", q.limit + 1);
            let mut stmt = c.prepare_cached(&sql).map_err(storage)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    r.get::<_, String>(0)
                })
                .map_err(storage)?;
            let mut items = Vec::new();
            for body in rows {
                items.push(job_from(body.map_err(storage)?)?);
            }
            let next = if items.len() > q.limit as usize {
                items.truncate(q.limit as usize);
                items.last().map(|j| j.id.clone())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn unfinished_jobs(&self, limit: u32) -> PortResult<Vec<Job>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body FROM jobs WHERE status NOT IN ('COMPLETED', 'FAILED') \
                     ORDER BY created_at LIMIT ?1",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map([limit], |r| r.get::<_, String>(0))
                .map_err(storage)?;
            rows.map(|b| job_from(b.map_err(storage)?)).collect()
        })
        .await
    }

    async fn job_counts(&self, now: Millis) -> PortResult<JobCounts> {
        self.read(move |c| {
            let mut counts = JobCounts::default();
            let mut stmt = c
                .prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .map_err(storage)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                .map_err(storage)?;
            for row in rows {
                let (status, n) = row.map_err(storage)?;
                match Status::parse(&status) {
                    Some(Status::Queued) => counts.queued = n,
                    Some(Status::Starting) => counts.starting = n,
                    Some(Status::Running) => counts.running = n,
                    Some(Status::Completed) => counts.completed = n,
                    Some(Status::Failed) => counts.failed = n,
                    None => {}
                }
            }
            counts.oldest_unfinished_ms = c
                .query_row(
                    "SELECT MIN(created_at) FROM jobs WHERE status NOT IN ('COMPLETED', 'FAILED')",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .map_err(storage)?
                .map(|t| (now - t).max(0));
            for (column, kind, map) in [
                ("verdict", "submission", &mut counts.verdicts),
                ("outcome", "run", &mut counts.outcomes),
            ] {
                let sql = format!(
                    "SELECT {column}, COUNT(*) FROM jobs WHERE kind = ?1 AND status = 'COMPLETED' \
                     AND {column} IS NOT NULL GROUP BY {column}"
                );
                let mut stmt = c.prepare_cached(&sql).map_err(storage)?;
                let rows = stmt
                    .query_map([kind], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))
                    })
                    .map_err(storage)?;
                for row in rows {
                    let (k, n) = row.map_err(storage)?;
                    map.insert(k, n);
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn expired_jobs(&self, now: Millis, limit: u32) -> PortResult<Vec<Job>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body FROM jobs WHERE expires_at IS NOT NULL AND expires_at < ?1 \
                     AND status IN ('COMPLETED', 'FAILED') LIMIT ?2",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![now, limit], |r| r.get::<_, String>(0))
                .map_err(storage)?;
            rows.map(|b| job_from(b.map_err(storage)?)).collect()
        })
        .await
    }

    #[instrument(skip_all, fields(job_id = %id))]
    async fn delete_job(&self, id: &str) -> PortResult<()> {
        let id = id.to_string();
        self.write(move |c| {
            let tx = c.transaction().map_err(storage)?;
            tx.execute("DELETE FROM idempotency WHERE job_id = ?1", [&id])
                .map_err(storage)?;
            tx.execute("DELETE FROM jobs WHERE id = ?1", [&id])
                .map_err(storage)?;
            tx.commit().map_err(storage)
        })
        .await
    }
}

#[async_trait]
impl ProblemStore for Db {
    async fn put_problem(&self, p: &Problem, expected: Option<u64>) -> PortResult<()> {
        let (id, version) = (p.id.clone(), p.version);
        let body = serde_json::to_string(p).map_err(corrupt)?;
        self.write(move |c| {
            let n = match expected {
                None => c
                    .execute(
                        "INSERT OR IGNORE INTO problems (id, version, body) VALUES (?1, ?2, ?3)",
                        params![id, version, body],
                    )
                    .map_err(storage)?,
                Some(old) => c
                    .execute(
                        "UPDATE problems SET version = ?2, body = ?3 WHERE id = ?1 AND version = ?4",
                        params![id, version, body, old],
                    )
                    .map_err(storage)?,
            };
            if n == 0 {
                return Err(PortError::Conflict(format!("problem {id} changed")));
            }
            Ok(())
        })
        .await
    }

    async fn get_problem(&self, id: &str) -> PortResult<Option<Problem>> {
        let id = id.to_string();
        self.read(move |c| {
            let body: Option<String> = c
                .prepare_cached("SELECT body FROM problems WHERE id = ?1")
                .map_err(storage)?
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(storage)?;
            body.map(|b| serde_json::from_str(&b).map_err(corrupt))
                .transpose()
        })
        .await
    }

    async fn list_problems(&self, cursor: Option<&str>, limit: u32) -> PortResult<Page<Problem>> {
        let cursor = cursor.unwrap_or("").to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT body FROM problems WHERE id > ?1 ORDER BY id LIMIT ?2")
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![cursor, limit + 1], |r| r.get::<_, String>(0))
                .map_err(storage)?;
            let mut items: Vec<Problem> = Vec::new();
            for b in rows {
                items.push(serde_json::from_str(&b.map_err(storage)?).map_err(corrupt)?);
            }
            let next = if items.len() > limit as usize {
                items.truncate(limit as usize);
                items.last().map(|p| p.id.clone())
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn delete_problem(&self, id: &str) -> PortResult<bool> {
        let id = id.to_string();
        self.write(move |c| {
            Ok(c.execute("DELETE FROM problems WHERE id = ?1", [id])
                .map_err(storage)?
                > 0)
        })
        .await
    }
}

#[async_trait]
impl SessionStore for Db {
    async fn put_session(&self, s: &Session, expected: Option<u64>) -> PortResult<()> {
        let (id, user, version) = (s.id.clone(), s.user.clone(), s.version);
        let body = serde_json::to_string(s).map_err(corrupt)?;
        self.write(move |c| {
            let n = match expected {
                None => c
                    .execute(
                        "INSERT OR IGNORE INTO sessions (id, user, version, body) VALUES (?1, ?2, ?3, ?4)",
                        params![id, user, version, body],
                    )
                    .map_err(storage)?,
                Some(old) => c
                    .execute(
                        "UPDATE sessions SET version = ?2, body = ?3 WHERE id = ?1 AND version = ?4",
                        params![id, version, body, old],
                    )
                    .map_err(storage)?,
            };
            if n == 0 {
                return Err(PortError::Conflict(format!("session {id} changed")));
            }
            Ok(())
        })
        .await
    }

    async fn get_session(&self, id: &str) -> PortResult<Option<Session>> {
        let id = id.to_string();
        self.read(move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM sessions WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(storage)?;
            body.map(|b| serde_json::from_str(&b).map_err(corrupt))
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl ProfileStore for Db {
    async fn record_attempt(&self, a: &Attempt) -> PortResult<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO attempts (job_id, user, problem_id, verdict, score, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    a.job_id,
                    a.user,
                    a.problem_id,
                    a.verdict.to_string(),
                    a.score,
                    a.at
                ],
            )
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn profile(&self, user: &str) -> PortResult<Vec<ProblemStats>> {
        let user = user.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT problem_id, job_id, verdict, score, at FROM attempts WHERE user = ?1",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map([&user], |r| {
                    Ok(Attempt {
                        user: user.clone(),
                        problem_id: r.get(0)?,
                        job_id: r.get(1)?,
                        verdict: r
                            .get::<_, String>(2)?
                            .parse()
                            .unwrap_or(coderun_protocol::Verdict::IE),
                        score: r.get(3)?,
                        at: r.get(4)?,
                    })
                })
                .map_err(storage)?;
            let attempts: Vec<Attempt> =
                rows.map(|r| r.map_err(storage)).collect::<Result<_, _>>()?;
            Ok(profile_of(&attempts))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coderun_core::{JobKind, Status};
    use coderun_protocol::Verdict;

    fn job(id: &str, user: &str) -> Job {
        Job {
            problem_id: Some("sum".into()),
            problem_version: Some(1),
            ..Job::queued(id.into(), JobKind::Submission, user, "c", 1)
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn jobs_round_trip_with_conditional_writes_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        for i in 0..5 {
            let j = job(&format!("j{i}"), "ann");
            assert_eq!(db.insert_job(&j, None).await.unwrap(), Inserted::New);
        }
        db.insert_job(&job("x", "bob"), None).await.unwrap();
        let mut j = db.get_job("j1").await.unwrap().unwrap();
        j.status = Status::Starting;
        db.replace_job(&j, (Status::Queued, 0)).await.unwrap();
        // The same transition again loses: the stored status moved on.
        let e = db.replace_job(&j, (Status::Queued, 0)).await.unwrap_err();
        assert!(matches!(e, PortError::Conflict(_)), "{e}");

        let mut q = JobQuery {
            user: "ann".into(),
            limit: 2,
            ..JobQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = db.list_jobs(&q).await.unwrap();
            seen.extend(page.items.iter().map(|j| j.id.clone()));
            match page.next {
                Some(n) => q.cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ["j4", "j3", "j2", "j1", "j0"]);
        assert_eq!(db.unfinished_jobs(10).await.unwrap().len(), 6);
        let counts = db.job_counts(10).await.unwrap();
        assert_eq!((counts.queued, counts.starting), (5, 1));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn idempotency_keys_return_the_first_job() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.sqlite")).unwrap();
        let key = IdempotencyKey {
            user: "ann".into(),
            key: "runs:k1".into(),
            request_hash: "h".into(),
        };
        db.insert_job(&job("a", "ann"), Some(&key)).await.unwrap();
        let again = db.insert_job(&job("b", "ann"), Some(&key)).await.unwrap();
        assert_eq!(
            again,
            Inserted::Existing {
                job_id: "a".into(),
                request_hash: "h".into()
            }
        );
        assert!(db.get_job("b").await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn attempts_count_once_per_job_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = Db::open(&path).unwrap();
        for (job_id, verdict, at) in [
            ("1", Verdict::WA, 10),
            ("2", Verdict::AC, 20),
            ("2", Verdict::AC, 20),
        ] {
            db.record_attempt(&Attempt {
                user: "ann".into(),
                problem_id: "sum".into(),
                job_id: job_id.into(),
                verdict,
                score: None,
                at,
            })
            .await
            .unwrap();
        }
        drop(db);
        let db = Db::open(&path).unwrap();
        let p = db.profile("ann").await.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].attempts, p[0].solved, p[0].first_solved_at),
            (2, true, Some(20))
        );
        assert!(db.profile("bob").await.unwrap().is_empty());
    }
}
