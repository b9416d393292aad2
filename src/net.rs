//! IP networks as the API sends them (`10.1.0.0/16`, `2001:db8:1::/48`), and the bounds the
//! store keeps beside them so that "do these networks overlap?" is a range comparison that
//! every SQL dialect answers the same way, and an index can serve.
//!
//! A network's bounds are its first and last address as 128-bit numbers, an IPv4 network mapped
//! into IPv6 (`::ffff:a.b.c.d`, RFC 4291): one order then covers both families, and an IPv4
//! network never overlaps an IPv6 one by accident. SQLite stores them as 32 lowercase hex
//! digits, PostgreSQL as a `uuid` of the same digits (16 bytes, compared bytewise): both
//! compare as the numbers do. Two networks overlap when
//! `a.first_hex <= b.last_hex AND b.first_hex <= a.last_hex`; since networks nest, that is
//! also "one holds the other's first address".
//!
//! The grammar is strict and the same wherever bounds are computed (here, as the store writes;
//! a migration that bounds stored rows must follow it too): an IPv4 address in four decimal
//! octets without leading zeros, or an IPv6 address in hex groups with at most one `::` (no
//! embedded IPv4, no zone), then optionally `/` and a prefix length without leading zeros. A
//! bare address is a single-address network; host bits under the prefix are ignored
//! (`10.1.2.3/16` spans 10.1.0.0 to 10.1.255.255). Anything else has no bounds (NULL).

use std::net::{Ipv4Addr, Ipv6Addr};

/// The first and last address of a network, as stored in `*_first_hex` and `*_last_hex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub first: u128,
    pub last: u128,
}

/// A bound as SQLite stores it (and as reports print PostgreSQL's): 32 lowercase hex digits.
pub fn hex(bound: u128) -> String {
    format!("{bound:032x}")
}

/// The bounds of `text`, or `None` when it is no network in the grammar above.
pub fn bounds(text: &str) -> Option<Bounds> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let (bits, width) = if address.contains(':') {
        if address.contains(['.', '%']) {
            return None;
        }
        (u128::from(address.parse::<Ipv6Addr>().ok()?), 128)
    } else {
        let v4: Ipv4Addr = address.parse().ok()?;
        (u128::from(v4.to_ipv6_mapped()), 32)
    };
    let length = match prefix {
        None => width,
        Some(p) => prefix_length(p).filter(|&n| n <= width)?,
    };
    let host = match width - length {
        128 => u128::MAX,
        n => (1u128 << n) - 1,
    };
    Some(Bounds {
        first: bits & !host,
        last: bits | host,
    })
}

/// A prefix length: decimal digits without a sign or leading zeros.
fn prefix_length(text: &str) -> Option<u32> {
    let digits = !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(text: &str) -> Option<(String, String)> {
        bounds(text).map(|b| (hex(b.first), hex(b.last)))
    }

    fn expect(text: &str, first: &str, last: &str) {
        assert_eq!(
            pair(text),
            Some((first.to_owned(), last.to_owned())),
            "{text}"
        );
    }

    #[test]
    fn ipv4_networks_map_into_ipv6() {
        let mapped = "00000000000000000000ffff";
        expect(
            "10.1.0.0/16",
            &format!("{mapped}0a010000"),
            &format!("{mapped}0a01ffff"),
        );
        expect(
            "192.168.7.16/28",
            &format!("{mapped}c0a80710"),
            &format!("{mapped}c0a8071f"),
        );
        // Host bits under the prefix are ignored; a bare address is one address.
        expect(
            "10.1.2.3/16",
            &format!("{mapped}0a010000"),
            &format!("{mapped}0a01ffff"),
        );
        expect(
            "10.1.2.3",
            &format!("{mapped}0a010203"),
            &format!("{mapped}0a010203"),
        );
        expect(
            "0.0.0.0/0",
            &format!("{mapped}00000000"),
            &format!("{mapped}ffffffff"),
        );
        expect(
            "169.254.3.5/30",
            &format!("{mapped}a9fe0304"),
            &format!("{mapped}a9fe0307"),
        );
    }

    #[test]
    fn ipv6_networks_in_every_spelling() {
        expect(
            "2001:db8:1:2::/64",
            "20010db8000100020000000000000000",
            "20010db800010002ffffffffffffffff",
        );
        expect(
            "FD12:3456::/48",
            "fd123456000000000000000000000000",
            "fd1234560000ffffffffffffffffffff",
        );
        expect(
            "::/0",
            "00000000000000000000000000000000",
            "ffffffffffffffffffffffffffffffff",
        );
        expect(
            "::1",
            "00000000000000000000000000000001",
            "00000000000000000000000000000001",
        );
        expect(
            "2001:0db8:0000:0000:0000:0000:0000:00ff/121",
            "20010db8000000000000000000000080",
            "20010db80000000000000000000000ff",
        );
        expect(
            "1:2:3:4:5:6:7::/127",
            "00010002000300040005000600070000",
            "00010002000300040005000600070001",
        );
    }

    #[test]
    fn anything_else_has_no_bounds() {
        for text in [
            "",
            "10.0.0.0/33",
            "10.0.0/24",
            "10.0.0.256/24",
            "010.0.0.0/8",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "10.0.0.0/8/8",
            " 10.0.0.0/8",
            "2001:db8::/129",
            "2001:db8::1::/64",
            "12345::/16",
            "::ffff:10.0.0.1/128",
            "fe80::1%eth0",
            "1:2:3:4:5:6:7:8::",
            "any",
        ] {
            assert_eq!(pair(text), None, "{text:?}");
        }
    }
}
