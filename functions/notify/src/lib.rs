//! Completion callbacks over HTTP: a signed POST, retried. The one-machine
//! server hands them to a background task; a function (Lambda freezes its
//! process after each event) delivers them before it returns.

use std::time::Duration;

use async_trait::async_trait;
use coderun_core::ports::{Callback, Notifier};
use tracing::{info, warn};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        // A redirect could point the signed body anywhere.
        .max_redirects(0)
        .http_status_as_error(true)
        .build()
        .into()
}

/// Tries each wait-then-POST in turn until one is answered with 2xx.
async fn deliver(agent: &ureq::Agent, cb: &Callback, waits: &[Duration]) {
    for (attempt, wait) in waits.iter().enumerate() {
        tokio::time::sleep(*wait).await;
        let (agent, c) = (agent.clone(), cb.clone());
        let sent = tokio::task::spawn_blocking(move || {
            let request = if c.put {
                agent.put(&c.url)
            } else {
                agent.post(&c.url)
            };
            request
                .header("content-type", "application/json")
                .header("x-coderun-timestamp", c.timestamp.to_string())
                .header("x-coderun-signature", &c.signature)
                .send(&c.body[..])
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
}

/// For a long-lived server: delivery in the background, retried for about
/// a minute.
#[derive(Debug, Clone)]
pub struct BackgroundNotifier {
    agent: ureq::Agent,
}

impl Default for BackgroundNotifier {
    fn default() -> BackgroundNotifier {
        BackgroundNotifier { agent: agent() }
    }
}

const BACKGROUND_WAITS: [Duration; 6] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(40),
];

#[async_trait]
impl Notifier for BackgroundNotifier {
    async fn deliver(&self, cb: Callback) {
        let agent = self.agent.clone();
        tokio::spawn(async move { deliver(&agent, &cb, &BACKGROUND_WAITS).await });
    }
}

/// For a function: delivery before returning, three quick attempts. A
/// callback that still fails is dropped (the record is the truth; a
/// callback is a courtesy).
#[derive(Debug, Clone)]
pub struct InlineNotifier {
    agent: ureq::Agent,
}

impl Default for InlineNotifier {
    fn default() -> InlineNotifier {
        InlineNotifier { agent: agent() }
    }
}

const INLINE_WAITS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(3),
];

#[async_trait]
impl Notifier for InlineNotifier {
    async fn deliver(&self, cb: Callback) {
        deliver(&self.agent, &cb, &INLINE_WAITS).await;
    }
}
