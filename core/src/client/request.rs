//! Building the HTTP request of each verb, with no I/O: a target plus params in, an
//! `http::Request<Bytes>` out (method, path and query, content type, body, `Accept`).
//! Every transport ([`super::ServiceClient`] over hyper, over the API server's router
//! in-process) sends what these functions build, so the wire format lives in one place.
//!
//! Input is checked before anything is sent: an empty name is refused (a get without a
//! name would silently become a list), a create aimed at an object rather than a
//! collection is refused, and server-side apply needs a field manager.
//!
//! ```
//! use skiff_core::client::{request, ListParams, ObjectTarget, ResourceRef};
//! let pods = ResourceRef::new("", "v1", "pods", true);
//! let target = ObjectTarget::collection(&pods, Some("default"));
//! let req = request::list(&target, &ListParams::default().labels("app=web").limit(5)).unwrap();
//! assert_eq!(req.method(), http::Method::GET);
//! assert_eq!(
//!     req.uri().to_string(),
//!     "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=5"
//! );
//! assert!(request::get(&ObjectTarget::object(&pods, Some("default"), "")).is_err());
//! ```

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Method, Request};
use serde_json::Value;

use super::{
    ClientError, DeleteParams, ListParams, LogParams, ObjectTarget, Patch, PatchParams, PostParams,
};

/// The media type of JSON bodies and answers.
pub const JSON: &str = "application/json";

/// `GET` of one object or subresource.
pub fn get(target: &ObjectTarget) -> Result<Request<Bytes>, ClientError> {
    target.require_name("get")?;
    build(Method::GET, &target.path()?, &[], None, JSON)
}

/// `GET` of a collection (one page).
pub fn list(target: &ObjectTarget, params: &ListParams) -> Result<Request<Bytes>, ClientError> {
    require_collection(target, "list")?;
    build(
        Method::GET,
        &target.path()?,
        &params.query(false),
        None,
        JSON,
    )
}

/// `GET ...?watch=true` of a collection.
pub fn watch(target: &ObjectTarget, params: &ListParams) -> Result<Request<Bytes>, ClientError> {
    require_collection(target, "watch")?;
    build(
        Method::GET,
        &target.path()?,
        &params.query(true),
        None,
        JSON,
    )
}

/// `POST` of a new object to a collection, or of a body to an object's subresource
/// (`binding`, `eviction`).
pub fn create(
    target: &ObjectTarget,
    object: &Value,
    params: &PostParams,
) -> Result<Request<Bytes>, ClientError> {
    check_create(target)?;
    build(
        Method::POST,
        &target.path()?,
        &params.query(),
        Some((JSON, json_bytes(object)?)),
        JSON,
    )
}

/// `PUT` of a whole object (or its `status` / `scale`).
pub fn replace(
    target: &ObjectTarget,
    object: &Value,
    params: &PostParams,
) -> Result<Request<Bytes>, ClientError> {
    target.require_name("replace")?;
    build(
        Method::PUT,
        &target.path()?,
        &params.query(),
        Some((JSON, json_bytes(object)?)),
        JSON,
    )
}

/// `PATCH` with the patch's own content type. A server-side apply sends the object as
/// JSON under `application/apply-patch+yaml` (JSON is YAML).
pub fn patch(
    target: &ObjectTarget,
    patch: &Patch,
    params: &PatchParams,
) -> Result<Request<Bytes>, ClientError> {
    check_patch(target, patch, params)?;
    build(
        Method::PATCH,
        &target.path()?,
        &params.query(),
        Some((patch.content_type(), json_bytes(patch.body())?)),
        JSON,
    )
}

/// `DELETE` of one object, with a `DeleteOptions` body.
pub fn delete(target: &ObjectTarget, params: &DeleteParams) -> Result<Request<Bytes>, ClientError> {
    target.require_name("delete")?;
    build(
        Method::DELETE,
        &target.path()?,
        &[],
        Some((JSON, json_bytes(&params.body())?)),
        JSON,
    )
}

/// `DELETE` of a collection's selected objects, with a `DeleteOptions` body.
pub fn delete_collection(
    target: &ObjectTarget,
    list: &ListParams,
    params: &DeleteParams,
) -> Result<Request<Bytes>, ClientError> {
    require_collection(target, "deletecollection")?;
    build(
        Method::DELETE,
        &target.path()?,
        &list.query(false),
        Some((JSON, json_bytes(&params.body())?)),
        JSON,
    )
}

/// `GET .../pods/{name}/log` (the target's own subresource is ignored).
pub fn logs(target: &ObjectTarget, params: &LogParams) -> Result<Request<Bytes>, ClientError> {
    let name = target.require_name("logs")?;
    let pod = ObjectTarget::object(&target.resource, target.namespace.as_deref(), name)
        .with_subresource("log");
    build(Method::GET, &pod.path()?, &params.query(), None, "*/*")
}

/// The checks of [`create`] without building the request (for transports that send
/// no HTTP request, such as the API server's in-process client): a subresource needs
/// an object name, anything else must be a collection.
pub fn check_create(target: &ObjectTarget) -> Result<(), ClientError> {
    if target.subresource.is_some() {
        target.require_name("create of a subresource")?;
        Ok(())
    } else {
        require_collection(target, "create")
    }
}

/// The checks of [`patch`] without building the request: a name, a field manager for
/// server-side apply, `force` only with apply.
pub fn check_patch(
    target: &ObjectTarget,
    patch: &Patch,
    params: &PatchParams,
) -> Result<(), ClientError> {
    target.require_name("patch")?;
    if matches!(patch, Patch::Apply(_)) && params.field_manager.as_deref().unwrap_or("").is_empty()
    {
        return Err(ClientError::InvalidRequest(
            "server-side apply needs a field manager".into(),
        ));
    }
    if params.force && !matches!(patch, Patch::Apply(_)) {
        return Err(ClientError::InvalidRequest(
            "force is only allowed with server-side apply".into(),
        ));
    }
    Ok(())
}

/// Refuses a target that is not a collection (an object, a subresource) for `verb`
/// (list, watch, create, deletecollection).
pub fn require_collection(target: &ObjectTarget, verb: &str) -> Result<(), ClientError> {
    match (&target.name, &target.subresource) {
        (None, None) => Ok(()),
        _ => Err(ClientError::InvalidRequest(format!(
            "{verb} addresses a collection of {}, not an object",
            target.resource.plural
        ))),
    }
}

fn json_bytes(value: &Value) -> Result<Bytes, ClientError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ClientError::InvalidRequest(format!("encoding the body: {e}")))
}

/// The request: path, percent-encoded query, body with its content type, `Accept`.
fn build(
    method: Method,
    path: &str,
    query: &[(&'static str, String)],
    body: Option<(&str, Bytes)>,
    accept: &str,
) -> Result<Request<Bytes>, ClientError> {
    let mut uri = path.to_owned();
    if !query.is_empty() {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            ser.append_pair(k, v);
        }
        uri.push('?');
        uri.push_str(&ser.finish());
    }
    let mut builder = Request::builder()
        .method(method)
        .uri(&uri)
        .header(ACCEPT, accept);
    let body = match body {
        Some((content_type, bytes)) => {
            builder = builder.header(CONTENT_TYPE, content_type);
            bytes
        }
        None => Bytes::new(),
    };
    builder
        .body(body)
        .map_err(|e| ClientError::InvalidRequest(format!("{uri}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ResourceRef;
    use serde_json::json;

    fn pods() -> ResourceRef {
        ResourceRef::new("", "v1", "pods", true)
    }

    fn header(req: &Request<Bytes>, name: http::header::HeaderName) -> &str {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn get_and_list() {
        let web = ObjectTarget::object(&pods(), Some("default"), "web");
        let req = get(&web).unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri(), "/api/v1/namespaces/default/pods/web");
        assert_eq!(header(&req, ACCEPT), JSON);
        assert!(req.body().is_empty());

        let all = ObjectTarget::collection(&pods(), None);
        let params = ListParams {
            continue_token: Some("a b&c=d".into()),
            field_selector: Some("spec.nodeName=n1,status.phase!=Running".into()),
            ..ListParams::default()
        };
        let req = list(&all, &params).unwrap();
        assert_eq!(
            req.uri(),
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1%2Cstatus.phase%21%3DRunning&continue=a+b%26c%3Dd"
        );
        assert!(list(&web, &ListParams::default()).is_err());
    }

    #[test]
    fn empty_names_are_refused() {
        let empty = ObjectTarget::object(&pods(), Some("default"), "");
        assert!(matches!(get(&empty), Err(ClientError::InvalidRequest(_))));
        assert!(replace(&empty, &json!({}), &PostParams::default()).is_err());
        assert!(patch(&empty, &Patch::Merge(json!({})), &PatchParams::default()).is_err());
        assert!(delete(&empty, &DeleteParams::default()).is_err());
        assert!(logs(&empty, &LogParams::default()).is_err());
    }

    #[test]
    fn watch_query() {
        let coll = ObjectTarget::collection(&pods(), Some("a"));
        let req = watch(
            &coll,
            &ListParams {
                bookmarks: true,
                timeout_seconds: Some(10),
                ..ListParams::default().at("17")
            },
        )
        .unwrap();
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/a/pods?watch=true&resourceVersion=17&timeoutSeconds=10&allowWatchBookmarks=true"
        );
    }

    #[test]
    fn create_and_replace_send_json() {
        let deploy = ResourceRef::new("apps", "v1", "deployments", true);
        let coll = ObjectTarget::collection(&deploy, Some("a"));
        let obj = json!({"metadata": {"name": "web"}});
        let req = create(
            &coll,
            &obj,
            &PostParams {
                dry_run: true,
                field_manager: Some("me".into()),
            },
        )
        .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri(),
            "/apis/apps/v1/namespaces/a/deployments?dryRun=All&fieldManager=me"
        );
        assert_eq!(header(&req, CONTENT_TYPE), JSON);
        assert_eq!(serde_json::from_slice::<Value>(req.body()).unwrap(), obj);
        // A create aimed at an object is a mistake; at a subresource, a binding.
        let web = ObjectTarget::object(&deploy, Some("a"), "web");
        assert!(create(&web, &obj, &PostParams::default()).is_err());
        let binding = ObjectTarget::object(&pods(), Some("a"), "p").with_subresource("binding");
        assert_eq!(
            create(&binding, &obj, &PostParams::default())
                .unwrap()
                .uri(),
            "/api/v1/namespaces/a/pods/p/binding"
        );

        let status = web.clone().with_subresource("status");
        let req = replace(&status, &obj, &PostParams::default()).unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(
            req.uri(),
            "/apis/apps/v1/namespaces/a/deployments/web/status"
        );
    }

    #[test]
    fn patches_carry_their_content_type() {
        let web = ObjectTarget::object(&pods(), Some("a"), "web");
        let cases = [
            (Patch::Merge(json!({})), "application/merge-patch+json"),
            (Patch::Json(json!([])), "application/json-patch+json"),
            (
                Patch::Strategic(json!({})),
                "application/strategic-merge-patch+json",
            ),
        ];
        for (p, ct) in cases {
            let req = patch(&web, &p, &PatchParams::default()).unwrap();
            assert_eq!(req.method(), Method::PATCH);
            assert_eq!(header(&req, CONTENT_TYPE), ct);
        }
        let apply = Patch::Apply(json!({"apiVersion": "v1", "kind": "Pod"}));
        assert!(patch(&web, &apply, &PatchParams::default()).is_err());
        let req = patch(&web, &apply, &PatchParams::apply("skiff").force()).unwrap();
        assert_eq!(header(&req, CONTENT_TYPE), "application/apply-patch+yaml");
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/a/pods/web?fieldManager=skiff&force=true"
        );
        let body: Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["kind"], "Pod");
        assert!(patch(
            &web,
            &Patch::Merge(json!({})),
            &PatchParams::default().force()
        )
        .is_err());
    }

    #[test]
    fn deletes_send_delete_options() {
        let web = ObjectTarget::object(&pods(), Some("a"), "web");
        let mut params = DeleteParams::background();
        params.grace_period_seconds = Some(0);
        let req = delete(&web, &params).unwrap();
        assert_eq!(req.method(), Method::DELETE);
        assert_eq!(header(&req, CONTENT_TYPE), JSON);
        let body: Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["kind"], "DeleteOptions");
        assert_eq!(body["propagationPolicy"], "Background");
        assert_eq!(body["gracePeriodSeconds"], 0);

        let coll = ObjectTarget::collection(&pods(), Some("a"));
        let req = delete_collection(
            &coll,
            &ListParams::default().labels("app=web"),
            &DeleteParams::default(),
        )
        .unwrap();
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/a/pods?labelSelector=app%3Dweb"
        );
    }

    #[test]
    fn logs_path() {
        let web = ObjectTarget::object(&pods(), Some("a"), "web").with_subresource("status");
        let req = logs(
            &web,
            &LogParams {
                container: Some("c".into()),
                follow: true,
                tail_lines: Some(5),
                ..LogParams::default()
            },
        )
        .unwrap();
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/a/pods/web/log?container=c&follow=true&tailLines=5"
        );
    }
}
