//! Query parameters of resource requests.

use std::collections::HashMap;
use std::time::Duration;

use skiff_core::status::ApiError;

/// The query parameters Kubernetes defines for resource verbs.
#[derive(Clone, Debug, Default)]
pub struct QueryParams {
    /// `watch=true`.
    pub watch: bool,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation` (`Strict`, `Warn`, `Ignore`).
    pub field_validation: Option<String>,
    /// `force` (server-side apply).
    pub force: bool,
    /// `propagationPolicy`.
    pub propagation_policy: Option<String>,
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `limit`.
    pub limit: i64,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "True" | "TRUE" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid value for {key}: {v:?}"
        ))),
    }
}

fn parse_int(key: &str, v: &str) -> Result<i64, ApiError> {
    v.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
}

impl QueryParams {
    /// Parses a raw query string; 400 for malformed values.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        QueryParams::from_pairs(form_urlencoded::parse(query.unwrap_or("").as_bytes()))
    }

    /// Reads decoded `(name, value)` pairs (a parsed query string, or the pairs a
    /// client's params render to); 400 for malformed values. A name given twice keeps
    /// its last value.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, ApiError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let pairs: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut p = QueryParams::default();
        let get = |k: &str| pairs.get(k).map(String::as_str);
        let text = |k: &str| get(k).filter(|v| !v.is_empty()).map(str::to_owned);
        if let Some(v) = get("watch") {
            p.watch = parse_bool("watch", v)?;
        }
        if let Some(v) = get("dryRun") {
            if v != "All" && !v.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Invalid dryRun value: {v:?}; valid values are [\"All\"]"
                )));
            }
            p.dry_run = v == "All";
        }
        p.field_manager = text("fieldManager");
        p.field_validation = text("fieldValidation");
        if let Some(v) = &p.field_validation {
            if !matches!(v.as_str(), "Strict" | "Warn" | "Ignore") {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {v:?}"
                )));
            }
        }
        if let Some(v) = get("force") {
            p.force = parse_bool("force", v)?;
        }
        p.propagation_policy = text("propagationPolicy");
        if let Some(v) = get("gracePeriodSeconds").filter(|v| !v.is_empty()) {
            p.grace_period_seconds = Some(parse_int("gracePeriodSeconds", v)?);
        }
        if let Some(v) = get("limit").filter(|v| !v.is_empty()) {
            p.limit = parse_int("limit", v)?.max(0);
        }
        p.continue_token = text("continue");
        p.label_selector = text("labelSelector");
        p.field_selector = text("fieldSelector");
        p.resource_version = text("resourceVersion");
        p.resource_version_match = text("resourceVersionMatch");
        if let Some(v) = get("timeoutSeconds").filter(|v| !v.is_empty()) {
            let secs = parse_int("timeoutSeconds", v)?;
            p.timeout = Some(Duration::from_secs(secs.max(0) as u64));
        }
        if let Some(v) = get("allowWatchBookmarks") {
            p.allow_watch_bookmarks = parse_bool("allowWatchBookmarks", v)?;
        }
        if let Some(v) = get("sendInitialEvents") {
            p.send_initial_events = Some(parse_bool("sendInitialEvents", v)?);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_queries() {
        let p = QueryParams::parse(Some(
            "limit=500&labelSelector=app%3Dweb&watch=1&timeoutSeconds=290&allowWatchBookmarks=true&dryRun=All",
        ))
        .unwrap();
        assert_eq!(p.limit, 500);
        assert_eq!(p.label_selector.as_deref(), Some("app=web"));
        assert!(p.watch && p.allow_watch_bookmarks && p.dry_run);
        assert_eq!(p.timeout, Some(Duration::from_secs(290)));
        assert_eq!(QueryParams::parse(Some("limit=x")).unwrap_err().code, 400);
        assert_eq!(
            QueryParams::parse(Some("dryRun=Some")).unwrap_err().code,
            400
        );
    }

    #[test]
    fn pairs_read_as_the_query_string_does() {
        let client = skiff_core::client::ListParams {
            label_selector: Some("app in (a,b)".into()),
            field_selector: Some(String::new()),
            timeout_seconds: Some(5),
            bookmarks: true,
            ..Default::default()
        };
        let pairs = client.query(true);
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        let from_query = QueryParams::parse(Some(&query.finish())).unwrap();
        let from_pairs = QueryParams::from_pairs(pairs).unwrap();
        assert_eq!(format!("{from_query:?}"), format!("{from_pairs:?}"));
        assert_eq!(from_pairs.label_selector.as_deref(), Some("app in (a,b)"));
        assert_eq!(from_pairs.field_selector, None, "empty values are unset");
        assert!(from_pairs.watch && from_pairs.allow_watch_bookmarks);
        assert_eq!(
            QueryParams::from_pairs([("limit", "x")]).unwrap_err().code,
            400
        );
    }
}
