//! Structural schemas of custom resources: validation, pruning and defaulting of
//! objects against a version's `openAPIV3Schema`, as pure functions over
//! `serde_json::Value`.
//!
//! The API server runs them in this order on every write of a custom object:
//! [`prune`] (drop fields the schema does not declare, unless preserved),
//! [`apply_defaults`] (fill `default:` values), then [`validate`] (one
//! [`StatusCause`](skiff_core::status::StatusCause) per failing field, worded as
//! Kubernetes words them).
//!
//! ```
//! use serde_json::json;
//! use skiff_api::crd::schema::{apply_defaults, prune, validate};
//!
//! let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
//!     "properties": {"replicas": {"type": "integer", "default": 1}}}}});
//! let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
//!     "metadata": {"name": "w"}, "spec": {"color": "red"}});
//! prune(&schema, &mut obj);
//! apply_defaults(&schema, &mut obj);
//! assert_eq!(obj["spec"], json!({"replicas": 1}));
//! assert!(validate(&schema, &obj).is_empty());
//!
//! let bad = json!({"spec": {"replicas": "three"}});
//! let causes = validate(&schema, &bad);
//! assert_eq!(causes[0].field, "spec.replicas");
//! ```
//!
//! # Organization
//! - `validate.rs`: type, properties, required, items, enum, bounds, lengths, pattern,
//!   format, nullable, int-or-string, additionalProperties.
//! - `prune.rs`: unknown-field pruning (`x-kubernetes-preserve-unknown-fields`).
//! - `defaults.rs`: `default:` values.

mod defaults;
mod prune;
mod validate;

pub use defaults::apply_defaults;
pub use prune::{prune, pruned_fields};
pub use validate::{validate, validate_value};

use serde_json::Value;

/// The type and metadata fields at the root of every custom object, which the schema
/// does not validate (the API server checks metadata itself); `metadata` is pruned to
/// ObjectMeta's fields.
pub(crate) const ROOT_META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Whether a schema sets a boolean extension (`x-kubernetes-preserve-unknown-fields`).
pub(crate) fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// The path of a child field: `spec.replicas` (or `replicas` at the root).
pub(crate) fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
