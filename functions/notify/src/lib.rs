//! Completion callbacks over HTTP: a signed POST, retried. The one-machine
//! server hands them to a background task; a function (Lambda freezes its
//! process after each event) delivers them before it returns.
//!
//! A callback's URL is the caller's, so by default it reaches only public
//! addresses: never the platform's own host (loopback), its network
//! (private, link-local: the cloud's metadata service) or anything else a
//! caller could not reach from outside. The check is on the addresses the
//! connection is made to, after resolution, so a name that resolves to a
//! private address (or changes to one) is refused too.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use async_trait::async_trait;
use coderun_core::ports::{Callback, Notifier};
use tracing::{info, warn};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Which addresses callbacks may go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reach {
    /// Public addresses only (the default).
    #[default]
    Public,
    /// Private and loopback addresses too: a machine's own webhook
    /// receivers, on a platform only its own users reach.
    Private,
}

fn agent(reach: Reach) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        // A redirect could point the signed body anywhere.
        .max_redirects(0)
        .http_status_as_error(true)
        // Through a proxy the connection's address would be the proxy's.
        .proxy(None)
        .build();
    match reach {
        Reach::Public => ureq::Agent::with_parts(config, DefaultConnector::new(), PublicOnly),
        Reach::Private => config.into(),
    }
}

/// Resolves as usual, then keeps only public addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let all = DefaultResolver::default().resolve(uri, config, timeout)?;
        let mut public = self.empty();
        for addr in all.iter().filter(|a| is_public(a.ip())) {
            public.push(*addr);
        }
        if public.is_empty() {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the callback's host is not a public address",
            )));
        }
        Ok(public)
    }
}

/// Whether an address is on the public internet: not loopback, private,
/// shared (carrier-grade NAT), link-local, unspecified, multicast,
/// broadcast, reserved or documentation space, in either family (an IPv6
/// address that embeds an IPv4 one is judged by it).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = [s[6].to_be_bytes(), s[7].to_be_bytes()];
                return is_public_v4(Ipv4Addr::new(a[0], a[1], b[0], b[1]));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                // IPv4-compatible (deprecated) and the rest of ::/96
                || s[..6] == [0; 6]
                // unique local fc00::/7, link-local fe80::/10, site-local fec0::/10
                || s[0] & 0xfe00 == 0xfc00
                || s[0] & 0xffc0 == 0xfe80
                || s[0] & 0xffc0 == 0xfec0
                // documentation 2001:db8::/32
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // shared address space (carrier-grade NAT) 100.64.0.0/10
        || (a == 100 && b & 0xc0 == 64)
        // IETF protocol assignments 192.0.0.0/24, benchmarking 198.18.0.0/15
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && b & 0xfe == 18)
        // reserved 240.0.0.0/4
        || a >= 240)
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

impl BackgroundNotifier {
    pub fn new(reach: Reach) -> BackgroundNotifier {
        BackgroundNotifier {
            agent: agent(reach),
        }
    }
}

impl Default for BackgroundNotifier {
    fn default() -> BackgroundNotifier {
        BackgroundNotifier::new(Reach::Public)
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
        InlineNotifier {
            agent: agent(Reach::Public),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn only_public_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    /// A receiver on loopback answering 204 to each request; the requests'
    /// first lines, as they come.
    fn receiver() -> (String, std::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut first = String::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let _ = reader.read_line(&mut first);
                let mut line = String::new();
                let mut length = 0;
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
                let _ = tx.send(first.trim().to_string());
            }
        });
        (url, rx)
    }

    fn callback(url: String) -> Callback {
        Callback {
            url,
            body: b"{}".to_vec(),
            timestamp: 0,
            signature: "s".into(),
            put: false,
        }
    }

    #[tokio::test]
    async fn a_callback_to_a_private_address_is_not_sent_unless_allowed() {
        let (url, got) = receiver();
        let cb = callback(url.replace("127.0.0.1", "localhost"));
        deliver(&agent(Reach::Public), &cb, &[Duration::ZERO]).await;
        deliver(
            &agent(Reach::Public),
            &callback(url.clone()),
            &[Duration::ZERO],
        )
        .await;
        assert!(
            got.recv_timeout(Duration::from_millis(500)).is_err(),
            "a loopback receiver was reached"
        );
        deliver(&agent(Reach::Private), &callback(url), &[Duration::ZERO]).await;
        let first = got.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(first, "POST /hook HTTP/1.1");
    }
}
