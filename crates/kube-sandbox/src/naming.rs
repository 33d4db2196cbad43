//! Stable hashes and generated name suffixes: where kube uses random or Go-specific values
//! (`pod-template-hash`, `kube-api-access-xxxxx`, OpenAPI document hashes), the sandbox derives
//! them from content so that they are stable and testable.

/// 64-bit FNV-1a of `text`.
pub fn fnv1a64(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A `len`-character suffix in the alphabet of kube's `rand.SafeEncodeString` (no vowels, no
/// look-alike digits), derived from `seed`.
pub fn safe_suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv1a64(seed);
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        out.push(char::from(ALPHABET[(h % 27) as usize]));
        h /= 27;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_stable_safe_and_seed_dependent() {
        let a = safe_suffix("uid-1", 5);
        assert_eq!(a, safe_suffix("uid-1", 5));
        assert_ne!(a, safe_suffix("uid-2", 5));
        assert_eq!(a.len(), 5);
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        // FNV-1a 64 reference value of the empty string.
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
