//! Label and field selectors: parse the `labelSelector` / `fieldSelector` query
//! parameters (and `metav1.LabelSelector` objects), print them in canonical form, and
//! match them against objects, exactly as Kubernetes does.
//!
//! - [`LabelSelector`]: `=`, `==`, `!=`, `in`, `notin`, `key` (exists), `!key` (does not
//!   exist), `>`/`<` (integers); comma means AND. Keys and values are validated.
//! - [`FieldSelector`]: `=`, `==`, `!=` only, comma means AND, with `\` escaping of
//!   `\`, `,` and `=` in values.
//!
//! Bad input is an [`ApiError`](crate::status::ApiError) `BadRequest`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use skiff_core::selector::{FieldSelector, LabelSelector};
//!
//! let sel = LabelSelector::parse("tier in (web, cache), env!=prod, !canary").unwrap();
//! assert_eq!(sel.to_string(), "!canary,env!=prod,tier in (cache,web)");
//! let labels = BTreeMap::from([("tier".to_owned(), "web".to_owned())]);
//! assert!(sel.matches(&labels));
//!
//! let fields = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
//! assert!(fields.matches(&|f: &str| (f == "spec.nodeName").then(|| "n1".to_owned())));
//! ```

mod field;
mod label;
mod label_parser;
pub mod node;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

pub use field::{escape_field_value, field_value, FieldSelector, FieldTerm};
pub use label::{LabelSelector, Operator, Requirement};

/// A set of labels a [`LabelSelector`] can be matched against.
pub trait Labels {
    /// The value of the label `key`, if set.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for HashMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A JSON object of labels (`metadata.labels` of a dynamic object); non-string values
/// count as unset.
impl Labels for serde_json::Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// No labels at all.
impl Labels for () {
    fn label(&self, _key: &str) -> Option<&str> {
        None
    }
}
