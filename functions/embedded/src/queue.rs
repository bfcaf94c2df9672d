//! The durable local queue: rows in the SQLite file, so accepted jobs
//! survive a crash. A received message is leased; it is deleted when
//! handled, retried later when not, and every lease is void after a
//! restart (the process that held it is gone).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coderun_core::error::PortError;
use coderun_core::ports::{Clock, PortResult, Queue};
use rusqlite::{params, OptionalExtension};
use tokio::sync::Notify;

use crate::sqlite::Db;

/// How long a received message stays invisible to other receivers.
const LEASE: Duration = Duration::from_secs(300);
/// How often an idle receiver looks for delayed messages.
const IDLE_POLL: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct LocalQueue {
    db: Db,
    clock: Arc<dyn Clock>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for LocalQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalQueue")
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub job_id: String,
    /// How many times it has been received, this time included.
    pub receives: u32,
}

impl LocalQueue {
    /// Opens the queue and voids the leases of a previous process.
    pub async fn open(db: Db, clock: Arc<dyn Clock>) -> PortResult<LocalQueue> {
        db.write(|c| {
            c.execute("UPDATE queue SET available_at = 0", [])
                .map_err(PortError::internal)?;
            Ok(())
        })
        .await?;
        Ok(LocalQueue {
            db,
            clock,
            notify: Arc::new(Notify::new()),
        })
    }

    /// Waits for the next visible message and leases it.
    pub async fn receive(&self) -> PortResult<Message> {
        loop {
            let notified = self.notify.notified();
            let now = self.clock.now();
            let lease_until = now + LEASE.as_millis() as i64;
            let msg = self
                .db
                .write(move |c| {
                    let tx = c.transaction().map_err(PortError::internal)?;
                    let row: Option<(String, u32)> = tx
                        .query_row(
                            "SELECT job_id, receives FROM queue WHERE available_at <= ?1 \
                             ORDER BY enqueued_at LIMIT 1",
                            [now],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()
                        .map_err(PortError::internal)?;
                    let Some((job_id, receives)) = row else {
                        return Ok(None);
                    };
                    tx.execute(
                        "UPDATE queue SET available_at = ?2, receives = receives + 1 WHERE job_id = ?1",
                        params![job_id, lease_until],
                    )
                    .map_err(PortError::internal)?;
                    tx.commit().map_err(PortError::internal)?;
                    Ok(Some(Message {
                        job_id,
                        receives: receives + 1,
                    }))
                })
                .await?;
            if let Some(m) = msg {
                return Ok(m);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    /// The message was handled: delete it.
    pub async fn ack(&self, job_id: &str) -> PortResult<()> {
        let id = job_id.to_string();
        self.db
            .write(move |c| {
                c.execute("DELETE FROM queue WHERE job_id = ?1", [id])
                    .map_err(PortError::internal)?;
                Ok(())
            })
            .await
    }

    /// The message was not handled: deliver it again after `delay`.
    pub async fn retry_later(&self, job_id: &str, delay: Duration) -> PortResult<()> {
        let id = job_id.to_string();
        let at = self.clock.now() + delay.as_millis() as i64;
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE queue SET available_at = ?2 WHERE job_id = ?1",
                    params![id, at],
                )
                .map_err(PortError::internal)?;
                Ok(())
            })
            .await
    }

    /// Messages waiting or leased.
    pub async fn depth(&self) -> PortResult<u64> {
        self.db
            .read(|c| {
                c.query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0))
                    .map_err(PortError::internal)
            })
            .await
    }
}

#[async_trait]
impl Queue for LocalQueue {
    /// Sending a job that is already queued does nothing.
    async fn send(&self, job_id: &str) -> PortResult<()> {
        let id = job_id.to_string();
        let now = self.clock.now();
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT OR IGNORE INTO queue (job_id, enqueued_at, available_at) VALUES (?1, ?2, ?2)",
                    params![id, now],
                )
                .map_err(PortError::internal)?;
                Ok(())
            })
            .await?;
        self.notify.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coderun_core::ids::SystemClock;

    #[tokio::test(flavor = "multi_thread")]
    async fn messages_are_leased_retried_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let q = LocalQueue::open(Db::open(&path).unwrap(), Arc::new(SystemClock))
            .await
            .unwrap();
        q.send("a").await.unwrap();
        q.send("b").await.unwrap();
        q.send("a").await.unwrap();
        assert_eq!(q.depth().await.unwrap(), 2);
        let m = q.receive().await.unwrap();
        assert_eq!(
            m,
            Message {
                job_id: "a".into(),
                receives: 1
            }
        );
        q.retry_later("a", Duration::from_secs(3600)).await.unwrap();
        assert_eq!(q.receive().await.unwrap().job_id, "b");
        drop(q);
        // A restart voids every lease and delay: both come back.
        let q = LocalQueue::open(Db::open(&path).unwrap(), Arc::new(SystemClock))
            .await
            .unwrap();
        let m = q.receive().await.unwrap();
        assert_eq!(
            m,
            Message {
                job_id: "a".into(),
                receives: 2
            }
        );
        q.ack("a").await.unwrap();
        assert_eq!(q.receive().await.unwrap().job_id, "b");
        q.ack("b").await.unwrap();
        assert_eq!(q.depth().await.unwrap(), 0);
    }
}
