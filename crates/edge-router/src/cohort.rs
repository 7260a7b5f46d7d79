//! Cohorts: every viewer belongs to one of `N` cohorts, and the cohort is part of the CDN cache
//! key, so one cached copy per cohort serves everyone in it.
//!
//! The viewer-request CloudFront Function (`cloudfront/viewer-request.js`) assigns it; this is the
//! same derivation, used when the header is missing. Both are checked against the shared vectors in
//! `testdata/cohort-vectors.json`.
//!
//! A TLS fingerprint alone is a poor identity: JA3 changes per connection in Chrome (it randomises
//! extension order) and one JA3/JA4 value is shared by everyone on the same browser build. So the
//! derivation hashes JA4 (JA3 as fallback) together with the viewer's network (the /24 of an IPv4
//! address, the /48 of an IPv6 one), which spreads viewers and stays stable across connections;
//! the cookie set on the first response then keeps a viewer's cohort even when its network changes.

use sha2::{Digest, Sha256};

/// Request header carrying the cohort from the edge to the origin (and in the cache key).
pub const COHORT_HEADER: &str = "x-media-edge-cohort";
/// Cookie that keeps a viewer's cohort.
pub const COHORT_COOKIE: &str = "me_cohort";
pub const JA4_HEADER: &str = "cloudfront-viewer-ja4-fingerprint";
pub const JA3_HEADER: &str = "cloudfront-viewer-ja3-fingerprint";
pub const ADDRESS_HEADER: &str = "cloudfront-viewer-address";

/// Parses a cohort as sent by the edge: 1–3 ASCII digits, below `count`. Anything else (`-1`,
/// `abc`, `1e1`, `007x`, huge numbers, out of range) is not trusted.
pub fn parse(value: &str, count: u16) -> Option<u16> {
    if value.is_empty() || value.len() > 3 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u16>().ok().filter(|&c| c < count)
}

/// The viewer's IP from `CloudFront-Viewer-Address` (`ip:port`; IPv6 is not bracketed).
pub fn address_ip(address: &str) -> &str {
    address.trim().rsplit_once(':').map(|(ip, _port)| ip).unwrap_or(address.trim())
}

/// The network part of an IP: the first three octets of IPv4 (/24), the first three groups of
/// IPv6 (/48) as written. The CloudFront Function computes the same from `event.viewer.ip`.
pub fn network(ip: &str) -> String {
    let ip = ip.trim().to_ascii_lowercase();
    if ip.contains(':') {
        return ip.split(':').take(3).collect::<Vec<_>>().join(":");
    }
    let octets: Vec<&str> = ip.split('.').collect();
    if octets.len() == 4 {
        octets[..3].join(".")
    } else {
        ip
    }
}

/// Derives a cohort from viewer signals (`ip` without port); any of them may be missing.
pub fn derive(ja4: Option<&str>, ja3: Option<&str>, ip: Option<&str>, count: u16) -> u16 {
    let fingerprint = ja4.filter(|s| !s.is_empty()).or(ja3.filter(|s| !s.is_empty())).unwrap_or("-");
    let network = ip.filter(|s| !s.is_empty()).map(network).unwrap_or_else(|| "-".into());
    let digest = Sha256::digest(format!("v1|{fingerprint}|{network}").as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (n % u32::from(count.max(1))) as u16
}

/// Whether `cohort` gets the canary at `weight` percent: `cohort < weight·N/100`, in integers.
/// Raising the weight only adds cohorts; lowering it only removes them.
pub fn in_canary(cohort: u16, weight: u8, count: u16) -> bool {
    u32::from(cohort) * 100 < u32::from(weight.min(100)) * u32::from(count)
}

/// How many of `count` cohorts get the canary at `weight` (its effective share is this / count).
pub fn canary_cohorts(weight: u8, count: u16) -> u16 {
    (0..count).filter(|&c| in_canary(c, weight, count)).count() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_in_range_numbers_are_cohorts() {
        assert_eq!(parse("0", 10), Some(0));
        assert_eq!(parse("9", 10), Some(9));
        for bad in ["", "-1", "10", "abc", "1e1", " 1", "1 ", "+1", "0x1", "99999999999999999999", "١"] {
            assert_eq!(parse(bad, 10), None, "{bad:?}");
        }
    }

    #[test]
    fn networks() {
        assert_eq!(address_ip("203.0.113.7:443"), "203.0.113.7");
        assert_eq!(address_ip("2001:db8:abcd:12::1:5555"), "2001:db8:abcd:12::1");
        assert_eq!(network("203.0.113.7"), "203.0.113");
        assert_eq!(network("2001:DB8:abcd:12::1"), "2001:db8:abcd");
    }

    #[test]
    fn weights_are_monotonic_and_never_silently_zero() {
        for count in [4u16, 10, 20, 100] {
            for weight in 0..100u8 {
                for cohort in 0..count {
                    if in_canary(cohort, weight, count) {
                        assert!(in_canary(cohort, weight + 1, count), "widening never drops a cohort");
                    }
                }
            }
            assert_eq!(canary_cohorts(0, count), 0);
            assert_eq!(canary_cohorts(100, count), count);
            assert_eq!(canary_cohorts(1, count), 1, "1% is at least one cohort, never 0");
        }
        assert_eq!(canary_cohorts(50, 10), 5);
        assert_eq!(canary_cohorts(15, 10), 2);
    }
}

#[cfg(test)]
mod vectors {
    use super::*;

    /// The vectors the CloudFront Function's tests also check (computed independently in Python).
    #[test]
    fn shared_vectors() {
        let text = include_str!("../testdata/cohort-vectors.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        for v in doc["vectors"].as_array().unwrap() {
            let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty());
            let count = v["count"].as_u64().unwrap() as u16;
            let ip = s("ip");
            assert_eq!(ip.map(network).unwrap_or_else(|| "-".into()), v["network"].as_str().unwrap());
            assert_eq!(u64::from(derive(s("ja4"), s("ja3"), ip, count)), v["cohort"].as_u64().unwrap(), "{v}");
        }
    }
}
