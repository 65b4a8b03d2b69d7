//! [`Status`]: what a plugin answers at an extension point, with a [`Code`] and the
//! reasons shown to users.
//!
//! ```
//! use skiff_sched::framework::{Code, Status};
//! let s = Status::unschedulable("Insufficient cpu").with_plugin("NodeResourcesFit");
//! assert!(s.is_rejected());
//! assert_eq!(s.message(), "Insufficient cpu");
//! assert_eq!(s.plugin(), Some("NodeResourcesFit"));
//! assert!(Status::success().is_success());
//! assert_eq!(Status::new(Code::Skip, "").code(), Code::Skip);
//! ```

use std::fmt;

/// The outcome class of a plugin call, as kube-scheduler's `framework.Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The plugin ran and the pod may proceed.
    Success,
    /// An internal failure (not the pod's fault); the pod is retried with back-off.
    Error,
    /// The pod does not fit this node now; preemption may help.
    Unschedulable,
    /// The pod does not fit this node and preemption would not change that.
    UnschedulableAndUnresolvable,
    /// A Permit plugin asks the binding cycle to wait.
    Wait,
    /// PreFilter/PreScore: the plugin has nothing to do for this pod; its Filter/Score
    /// is skipped for the cycle. Bind: let the next bind plugin decide.
    Skip,
}

/// The answer of a plugin: a code, the reasons (one line each) and the plugin that
/// produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Vec<String>,
    plugin: Option<String>,
}

impl Status {
    /// A successful status.
    pub fn success() -> Self {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: None,
        }
    }

    /// A status with `code` and one reason (none when `reason` is empty).
    pub fn new(code: Code, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Status {
            code,
            reasons: if reason.is_empty() {
                Vec::new()
            } else {
                vec![reason]
            },
            plugin: None,
        }
    }

    /// A status with several reasons.
    pub fn with_reasons(code: Code, reasons: Vec<String>) -> Self {
        Status {
            code,
            reasons,
            plugin: None,
        }
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Status::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Error` with a message.
    pub fn error(message: impl Into<String>) -> Self {
        Status::new(Code::Error, message)
    }

    /// `Skip`.
    pub fn skip() -> Self {
        Status::new(Code::Skip, "")
    }

    /// Records which plugin answered (the framework does this for every plugin).
    #[must_use]
    pub fn with_plugin(mut self, plugin: &str) -> Self {
        self.plugin = Some(plugin.to_owned());
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The reasons, one per line of `kubectl describe`'s histogram.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The plugin that answered, when known.
    pub fn plugin(&self) -> Option<&str> {
        self.plugin.as_deref()
    }

    /// The reasons joined with `", "`.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }

    /// Whether the code is `Success`.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the code is `Skip`.
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod was rejected (`Unschedulable` or `UnschedulableAndUnresolvable`).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.plugin {
            Some(p) => write!(f, "{:?} ({p}): {}", self.code, self.message()),
            None => write!(f, "{:?}: {}", self.code, self.message()),
        }
    }
}
