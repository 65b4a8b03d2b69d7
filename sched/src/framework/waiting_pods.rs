//! [`WaitingPods`]: pods whose binding waits on Permit plugins, and the handle plugins
//! use to let them through or turn them away.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use skiff_sched::framework::{Code, WaitingPods};
//! let waiting = WaitingPods::default();
//! let wait = waiting.add("uid-1", ["Gang".to_owned()].into());
//! assert!(waiting.allow("uid-1", "Gang"));
//! assert_eq!(wait.wait(Duration::from_secs(1)).await.code(), Code::Success);
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::Status;

struct Waiting {
    pending: HashSet<String>,
    verdict: oneshot::Sender<Status>,
}

/// The pods waiting on Permit, by pod UID. Cheap to clone.
#[derive(Clone, Default)]
pub struct WaitingPods {
    /// Guards the map; never held across an await.
    inner: Arc<Mutex<HashMap<String, Waiting>>>,
}

impl std::fmt::Debug for WaitingPods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingPods").finish_non_exhaustive()
    }
}

/// The binding cycle's end of one waiting pod.
#[derive(Debug)]
pub struct PermitWait {
    verdict: oneshot::Receiver<Status>,
    uid: String,
    waiting: WaitingPods,
}

impl PermitWait {
    /// Waits for the verdict: `Success` once every plugin allowed, `Unschedulable` on
    /// a rejection or after `timeout`.
    pub async fn wait(self, timeout: Duration) -> Status {
        match tokio::time::timeout(timeout, self.verdict).await {
            Ok(Ok(status)) => status,
            Ok(Err(_)) => Status::error("the waiting pod was dropped"),
            Err(_) => {
                self.waiting.remove(&self.uid);
                Status::unschedulable("rejected due to timeout after waiting at permit")
            }
        }
    }
}

impl WaitingPods {
    /// Registers a pod waiting on `pending` plugins.
    pub fn add(&self, uid: &str, pending: HashSet<String>) -> PermitWait {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            uid.to_owned(),
            Waiting {
                pending,
                verdict: tx,
            },
        );
        PermitWait {
            verdict: rx,
            uid: uid.to_owned(),
            waiting: self.clone(),
        }
    }

    /// `plugin` allows the pod; it proceeds once no plugin is pending. Returns whether
    /// the pod was waiting.
    pub fn allow(&self, uid: &str, plugin: &str) -> bool {
        let mut map = self.lock();
        let Some(w) = map.get_mut(uid) else {
            return false;
        };
        w.pending.remove(plugin);
        if w.pending.is_empty() {
            if let Some(w) = map.remove(uid) {
                // The receiver may have timed out already; nothing to do then.
                let _ = w.verdict.send(Status::success());
            }
        }
        true
    }

    /// `plugin` rejects the pod. Returns whether the pod was waiting.
    pub fn reject(&self, uid: &str, plugin: &str, message: &str) -> bool {
        match self.lock().remove(uid) {
            Some(w) => {
                let _ = w
                    .verdict
                    .send(Status::unschedulable(message).with_plugin(plugin));
                true
            }
            None => false,
        }
    }

    /// The UIDs of the waiting pods.
    pub fn uids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn remove(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
