//! Short, stable names from content: FNV-1a (32 bits) of bytes and an optional
//! collision count, written in Kubernetes' "safe" alphabet (no vowels, so no words).
//! The Deployment controller's `pod-template-hash` and the ControllerRevision names of
//! StatefulSets and DaemonSets are made with it.
//!
//! ```
//! use skiff_controllers::hash::safe_hash;
//! let h = safe_hash(b"{}", None);
//! assert_eq!(h, safe_hash(b"{}", None));
//! assert_ne!(h, safe_hash(b"{}", Some(1)));
//! assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
//! ```

const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a(bytes: &[u8], mut h: u32) -> u32 {
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The hash of `bytes` and `collision_count`, in the safe alphabet.
pub fn safe_hash(bytes: &[u8], collision_count: Option<i32>) -> String {
    let mut h = fnv1a(bytes, 0x811c_9dc5);
    if let Some(c) = collision_count {
        h = fnv1a(&c.to_le_bytes(), h);
    }
    h.to_string()
        .bytes()
        .map(|d| char::from(ALPHABET[usize::from(d - b'0') % ALPHABET.len()]))
        .collect::<String>()
        + &encode_tail(h)
}

/// The hash of a JSON value (its serialization) and `collision_count`.
pub fn json_hash(value: &serde_json::Value, collision_count: Option<i32>) -> String {
    // Serializing a `Value` cannot fail (its map keys are strings).
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    safe_hash(&bytes, collision_count)
}

/// A few more characters from the hash's bits so short decimal strings still differ.
fn encode_tail(mut h: u32) -> String {
    let mut s = String::new();
    for _ in 0..2 {
        s.push(char::from(ALPHABET[(h % 27) as usize]));
        h /= 27;
    }
    s
}
