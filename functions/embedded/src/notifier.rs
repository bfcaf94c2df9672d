//! Completion callbacks over HTTP: a signed POST, retried with backoff,
//! never blocking the job that finished.

use std::time::Duration;

use coderun_core::ports::{Callback, Notifier};
use tracing::{info, warn};

/// Delays between attempts: about a minute in all.
const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(40),
];

#[derive(Debug, Clone)]
pub struct HttpNotifier {
    agent: ureq::Agent,
}

impl Default for HttpNotifier {
    fn default() -> HttpNotifier {
        HttpNotifier {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(10)))
                // A redirect could point the signed body anywhere.
                .max_redirects(0)
                .http_status_as_error(true)
                .build()
                .into(),
        }
    }
}

impl Notifier for HttpNotifier {
    fn deliver(&self, cb: Callback) {
        let agent = self.agent.clone();
        tokio::spawn(async move {
            for (attempt, delay) in std::iter::once(Duration::ZERO).chain(BACKOFF).enumerate() {
                tokio::time::sleep(delay).await;
                let (agent, cb2) = (agent.clone(), cb.clone());
                let sent = tokio::task::spawn_blocking(move || {
                    agent
                        .post(&cb2.url)
                        .header("content-type", "application/json")
                        .header("x-coderun-timestamp", cb2.timestamp.to_string())
                        .header("x-coderun-signature", &cb2.signature)
                        .send(&cb2.body[..])
                        .map(|_| ())
                })
                .await;
                match sent {
                    Ok(Ok(())) => {
                        info!(url = %cb.url, attempt, "callback delivered");
                        return;
                    }
                    Ok(Err(e)) => warn!(url = %cb.url, attempt, error = %e, "callback failed"),
                    Err(e) => warn!(url = %cb.url, error = %e, "callback task failed"),
                }
            }
            warn!(url = %cb.url, "callback abandoned after retries");
        });
    }
}
