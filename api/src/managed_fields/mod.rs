//! Field ownership: `metadata.managedFields` and server-side apply.
//!
//! Every write records which manager set which fields, in Kubernetes' `FieldsV1`
//! format; server-side apply (`PATCH` with `application/apply-patch+yaml`) uses that
//! record to merge a manager's intent, remove what it stopped applying, and report
//! conflicts with other managers.
//!
//! ```
//! use serde_json::json;
//! use skiff_api::managed_fields::{fields_of, Scope};
//!
//! let cm = json!({"metadata": {"name": "c", "labels": {"app": "x"}}, "data": {"k": "v"}});
//! let set = fields_of(&cm, &Scope::for_kind("", "ConfigMap", false));
//! assert_eq!(set.to_fields_v1(),
//!     json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}));
//! ```
//!
//! # Organization
//! - [`FieldSet`], [`PathElement`], [`Path`]: sets of paths and the `FieldsV1` format.
//! - [`fields_of`], [`changed_fields`]: the field sets of objects and of updates, per
//!   kind ([`Scope`]), with the merge keys of `skiff_core::patch`.
//! - [`track_update`]: ownership after a create, update or patch.
//! - [`apply`]: server-side apply.

mod apply;
mod entries;
mod fieldset;
mod walk;

pub use apply::{apply, conflict_error, ApplyRequest};
pub use entries::{
    keep_entries, manager_from_user_agent, read_entries, track_update, write_entries, Entry,
    Operation, Writer,
};
pub use fieldset::{canonical_json, FieldSet, FieldSetError, Path, PathElement};
pub use walk::{changed_fields, fields_of, get_path, remove_path, Scope};
