//! The options of each verb, named and defaulted as in Kubernetes' `metav1` options
//! (and kube-rs' params). [`Self::query`]-style methods render them as URL query pairs.

use serde_json::Value;

/// Options of list, watch and deletecollection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `labelSelector`, such as `app=web,tier!=db`.
    pub label_selector: Option<String>,
    /// `fieldSelector`, such as `spec.nodeName=n1`.
    pub field_selector: Option<String>,
    /// `limit` (0: no limit).
    pub limit: u32,
    /// `continue`: the token of the previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion`: for a watch, where to start; for a list, how fresh.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`NotOlderThan`, `Exact`).
    pub resource_version_match: Option<String>,
    /// `timeoutSeconds` (watch).
    pub timeout_seconds: Option<u32>,
    /// `allowWatchBookmarks` (watch).
    pub bookmarks: bool,
    /// `sendInitialEvents` (watch; requires `resourceVersionMatch=NotOlderThan`).
    pub send_initial_events: bool,
}

impl ListParams {
    /// Selects by labels.
    #[must_use]
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Selects by fields.
    #[must_use]
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Pages of at most `limit` objects.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// From (watch) or at least as fresh as (list) this resourceVersion.
    #[must_use]
    pub fn at(mut self, resource_version: &str) -> Self {
        self.resource_version = Some(resource_version.to_owned());
        self
    }

    /// The query pairs of a list (`watch == false`) or a watch.
    pub fn query(&self, watch: bool) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if watch {
            q.push(("watch", "true".to_owned()));
        }
        if let Some(s) = &self.label_selector {
            q.push(("labelSelector", s.clone()));
        }
        if let Some(s) = &self.field_selector {
            q.push(("fieldSelector", s.clone()));
        }
        if self.limit > 0 && !watch {
            q.push(("limit", self.limit.to_string()));
        }
        if let Some(c) = &self.continue_token {
            q.push(("continue", c.clone()));
        }
        if let Some(rv) = &self.resource_version {
            q.push(("resourceVersion", rv.clone()));
        }
        if let Some(m) = &self.resource_version_match {
            q.push(("resourceVersionMatch", m.clone()));
        }
        if watch {
            if let Some(t) = self.timeout_seconds {
                q.push(("timeoutSeconds", t.to_string()));
            }
            if self.bookmarks {
                q.push(("allowWatchBookmarks", "true".to_owned()));
            }
            if self.send_initial_events {
                q.push(("sendInitialEvents", "true".to_owned()));
            }
        }
        q
    }
}

/// Options of create and replace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostParams {
    /// `dryRun=All`: validate and answer without storing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
}

impl PostParams {
    /// The query pairs.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if self.dry_run {
            q.push(("dryRun", "All".to_owned()));
        }
        if let Some(m) = &self.field_manager {
            q.push(("fieldManager", m.clone()));
        }
        q
    }
}

/// A patch and its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Patch {
    /// RFC 6902 JSON patch (an array of operations).
    Json(Value),
    /// RFC 7386 JSON merge patch.
    Merge(Value),
    /// Kubernetes' strategic merge patch (built-in kinds only).
    Strategic(Value),
    /// Server-side apply: the full intent of `PatchParams::field_manager`.
    Apply(Value),
}

impl Patch {
    /// The `Content-Type` of this patch type.
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Json(_) => "application/json-patch+json",
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Apply(_) => "application/apply-patch+yaml",
        }
    }

    /// The patch document.
    pub fn body(&self) -> &Value {
        match self {
            Patch::Json(v) | Patch::Merge(v) | Patch::Strategic(v) | Patch::Apply(v) => v,
        }
    }
}

/// Options of patch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchParams {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager` (required for server-side apply).
    pub field_manager: Option<String>,
    /// `force`: take fields owned by other managers (server-side apply only).
    pub force: bool,
}

impl PatchParams {
    /// Server-side apply as `manager`.
    pub fn apply(manager: &str) -> Self {
        PatchParams {
            field_manager: Some(manager.to_owned()),
            ..PatchParams::default()
        }
    }

    /// Forces conflicts (server-side apply).
    #[must_use]
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// The query pairs.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if self.dry_run {
            q.push(("dryRun", "All".to_owned()));
        }
        if let Some(m) = &self.field_manager {
            q.push(("fieldManager", m.clone()));
        }
        if self.force {
            q.push(("force", "true".to_owned()));
        }
        q
    }
}

/// Options of delete and deletecollection (sent as a `DeleteOptions` body).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteParams {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `gracePeriodSeconds` (pods); 0 deletes at once.
    pub grace_period_seconds: Option<u32>,
    /// `propagationPolicy`: `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// `preconditions.uid`: delete only this incarnation.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
}

impl DeleteParams {
    /// Foreground cascading deletion.
    pub fn foreground() -> Self {
        DeleteParams {
            propagation_policy: Some("Foreground".to_owned()),
            ..DeleteParams::default()
        }
    }

    /// Background cascading deletion (Kubernetes' default for most kinds).
    pub fn background() -> Self {
        DeleteParams {
            propagation_policy: Some("Background".to_owned()),
            ..DeleteParams::default()
        }
    }

    /// Leave dependents behind.
    pub fn orphan() -> Self {
        DeleteParams {
            propagation_policy: Some("Orphan".to_owned()),
            ..DeleteParams::default()
        }
    }

    /// The `DeleteOptions` body.
    pub fn body(&self) -> Value {
        let mut body = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions"});
        if self.dry_run {
            body["dryRun"] = serde_json::json!(["All"]);
        }
        if let Some(g) = self.grace_period_seconds {
            body["gracePeriodSeconds"] = g.into();
        }
        if let Some(p) = &self.propagation_policy {
            body["propagationPolicy"] = p.clone().into();
        }
        if let Some(uid) = &self.precondition_uid {
            body["preconditions"]["uid"] = uid.clone().into();
        }
        if let Some(rv) = &self.precondition_resource_version {
            body["preconditions"]["resourceVersion"] = rv.clone().into();
        }
        body
    }
}

/// Options of a pod's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogParams {
    /// `container` (required when the pod has several).
    pub container: Option<String>,
    /// `follow`: keep streaming.
    pub follow: bool,
    /// `previous`: the previous instance of the container.
    pub previous: bool,
    /// `tailLines`.
    pub tail_lines: Option<u32>,
    /// `sinceSeconds`.
    pub since_seconds: Option<u32>,
    /// `timestamps`: prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// `limitBytes`.
    pub limit_bytes: Option<u64>,
}

impl LogParams {
    /// The query pairs.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = &self.container {
            q.push(("container", c.clone()));
        }
        if self.follow {
            q.push(("follow", "true".to_owned()));
        }
        if self.previous {
            q.push(("previous", "true".to_owned()));
        }
        if let Some(n) = self.tail_lines {
            q.push(("tailLines", n.to_string()));
        }
        if let Some(n) = self.since_seconds {
            q.push(("sinceSeconds", n.to_string()));
        }
        if self.timestamps {
            q.push(("timestamps", "true".to_owned()));
        }
        if let Some(n) = self.limit_bytes {
            q.push(("limitBytes", n.to_string()));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_watch_queries() {
        let p = ListParams::default().labels("app=web").limit(10).at("42");
        assert_eq!(
            p.query(false),
            vec![
                ("labelSelector", "app=web".to_owned()),
                ("limit", "10".to_owned()),
                ("resourceVersion", "42".to_owned())
            ]
        );
        let w = ListParams {
            bookmarks: true,
            timeout_seconds: Some(30),
            ..p
        };
        let q = w.query(true);
        assert_eq!(q[0], ("watch", "true".to_owned()));
        assert!(!q.iter().any(|(k, _)| *k == "limit"));
        assert!(q.contains(&("allowWatchBookmarks", "true".to_owned())));
    }

    #[test]
    fn delete_body() {
        let mut d = DeleteParams::foreground();
        d.grace_period_seconds = Some(0);
        d.precondition_uid = Some("u".into());
        let b = d.body();
        assert_eq!(b["propagationPolicy"], "Foreground");
        assert_eq!(b["gracePeriodSeconds"], 0);
        assert_eq!(b["preconditions"]["uid"], "u");
    }
}
