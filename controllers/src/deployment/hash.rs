//! The `pod-template-hash` of a pod template: [`crate::hash::safe_hash`] of its JSON
//! and the deployment's collision count.
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

/// The hash of `template` (without its own hash label) and `collision_count`.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(LABEL);
    }
    // Serializing a k8s-openapi type cannot fail (no maps with non-string keys).
    let json = serde_json::to_vec(&t).unwrap_or_default();
    crate::hash::safe_hash(&json, collision_count)
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
