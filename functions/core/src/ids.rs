//! Identifiers and time: the production implementations of the `Ids` and
//! `Clock` ports.

use crate::domain::Millis;
use crate::ports::{Clock, Ids};

/// Ids that sort by creation time: 48 bits of milliseconds then 80 random
/// bits, in lowercase Crockford base32 (26 characters, URL- and key-safe).
#[derive(Debug, Default, Clone, Copy)]
pub struct TimeOrderedIds;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl Ids for TimeOrderedIds {
    fn new_id(&self, now: Millis) -> String {
        let mut random = [0u8; 10];
        getrandom::getrandom(&mut random).expect("the OS random source failed");
        let mut value: u128 = (now as u128 & ((1 << 48) - 1)) << 80;
        for (i, b) in random.iter().enumerate() {
            value |= (*b as u128) << (8 * (9 - i));
        }
        (0..26)
            .rev()
            .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
            .collect()
    }
}

/// Random bytes as hex, for secrets and keys.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the OS random source failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let a = TimeOrderedIds.new_id(1_000);
        let b = TimeOrderedIds.new_id(1_000);
        let c = TimeOrderedIds.new_id(2_000);
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert!(a.bytes().all(|x| ALPHABET.contains(&x)));
    }
}
