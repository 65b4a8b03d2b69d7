//! # skiff-sched — the scheduler
//!
//! A kube-scheduler style framework (queue, cache, extension-point traits) with the
//! classic predicates and priorities as plugins.
//!
//! **Status:** not implemented yet; this crate is a placeholder in the workspace layout.
