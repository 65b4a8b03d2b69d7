//! The `pod-template-hash` of a pod template: FNV-1a (32 bits) of its JSON and the
//! deployment's collision count, encoded with Kubernetes' "safe" alphabet (no vowels,
//! so no words).
//!
//! ```
//! use k8s_openapi::api::core::v1::PodTemplateSpec;
//! use skiff_controllers::deployment::hash::template_hash;
//! let h = template_hash(&PodTemplateSpec::default(), None);
//! assert_eq!(h, template_hash(&PodTemplateSpec::default(), None));
//! assert_ne!(h, template_hash(&PodTemplateSpec::default(), Some(1)));
//! assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
//! ```

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label a deployment's ReplicaSets and pods carry.
pub const LABEL: &str = "pod-template-hash";

const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a(bytes: &[u8], mut h: u32) -> u32 {
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The hash of `template` (without its own hash label) and `collision_count`.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(LABEL);
    }
    // Serializing a k8s-openapi type cannot fail (no maps with non-string keys).
    let json = serde_json::to_vec(&t).unwrap_or_default();
    let mut h = fnv1a(&json, 0x811c_9dc5);
    if let Some(c) = collision_count {
        h = fnv1a(&c.to_le_bytes(), h);
    }
    h.to_string()
        .bytes()
        .map(|d| char::from(ALPHABET[usize::from(d - b'0') % ALPHABET.len()]))
        .collect::<String>()
        + &encode_tail(h)
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

/// Whether two templates are equal apart from the hash label.
pub fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(m) = t.metadata.as_mut() {
            if let Some(labels) = m.labels.as_mut() {
                labels.remove(LABEL);
                if labels.is_empty() {
                    m.labels = None;
                }
            }
        }
        serde_json::to_value(&t).unwrap_or_default()
    };
    strip(a) == strip(b)
}
