//! Checks of watches: events in order from a resourceVersion, 410 Gone for one that
//! left the server's window; `watch_shared` answers the same as `watch` in both.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use super::{call, ensure, resource_version, CheckResult, Cx};
use crate::client::{ClientError, ListParams, Patch, PatchParams, WatchEvent, WatchStream};

/// How long to wait for one event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

async fn next_event(stream: &mut WatchStream) -> Result<WatchEvent, String> {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Err(_) => Err(format!("no watch event within {EVENT_TIMEOUT:?}")),
        Ok(None) => Err("the watch ended early".into()),
        Ok(Some(Err(e))) => Err(format!("the watch failed: {e}")),
        Ok(Some(Ok(event))) => Ok(event),
    }
}

/// A watch of the suite's ConfigMaps through `watch` or, with `shared`, through
/// `watch_shared` (its objects copied out, to compare).
async fn open_watch(
    cx: &Cx,
    params: &ListParams,
    shared: bool,
) -> Result<WatchStream, ClientError> {
    if !shared {
        return cx.client.watch(&cx.configmaps(), params).await;
    }
    let stream = cx.client.watch_shared(&cx.configmaps(), params).await?;
    Ok(stream
        .map(|event| event.map(|e| e.map(Arc::unwrap_or_clone)))
        .boxed())
}

pub(super) async fn events_in_order(cx: &Cx) -> CheckResult {
    let before = call(
        "list",
        cx.client
            .list(&cx.configmaps(), &ListParams::default())
            .await,
    )?;
    let from = resource_version(&before)?;
    let params = ListParams::default()
        .fields("metadata.name=watched")
        .at(&from);
    let mut stream = call("watch", open_watch(cx, &params, false).await)?;
    let mut shared = call("watch_shared", open_watch(cx, &params, true).await)?;

    let created = cx
        .create_configmap("watched", json!({}), json!({"v": "1"}))
        .await?;
    let target = cx.configmap("watched");
    let modified = call(
        "patch",
        cx.client
            .patch(
                &target,
                &Patch::Merge(json!({"data": {"v": "2"}})),
                &PatchParams::default(),
            )
            .await,
    )?;
    call(
        "delete",
        cx.client.delete(&target, &Default::default()).await,
    )?;

    let mut seen = Vec::new();
    let event = next_event(&mut stream).await?;
    ensure!(
        matches!(&event, WatchEvent::Added(o) if o["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]),
        "first event: {event:?}"
    );
    seen.push(event);
    let event = next_event(&mut stream).await?;
    ensure!(
        matches!(&event, WatchEvent::Modified(o) if o["data"]["v"] == "2" && o["metadata"]["resourceVersion"] == modified["metadata"]["resourceVersion"]),
        "second event: {event:?}"
    );
    seen.push(event);
    let event = next_event(&mut stream).await?;
    ensure!(
        matches!(&event, WatchEvent::Deleted(o) if o["metadata"]["name"] == "watched"),
        "third event: {event:?}"
    );
    seen.push(event);
    // The shared watch from the same resourceVersion: the same events.
    for (n, plain) in seen.iter().enumerate() {
        let event = next_event(&mut shared).await?;
        ensure!(
            &event == plain,
            "watch_shared event {n}: {event:?}, where watch sent {plain:?}"
        );
    }
    Ok(())
}

pub(super) async fn too_old_is_gone(cx: &Cx) -> CheckResult {
    let first = cx
        .create_configmap("aging", json!({}), json!({"n": "0"}))
        .await?;
    let from = resource_version(&first)?;
    let target = cx.configmap("aging");
    // One more event than the window holds pushes `from` out of it.
    for n in 1..=cx.config.watch_window + 1 {
        call(
            "patch",
            cx.client
                .patch(
                    &target,
                    &Patch::Merge(json!({"data": {"n": n.to_string()}})),
                    &PatchParams::default(),
                )
                .await,
        )?;
    }
    // Both forms of the watch answer 410.
    gone_from(cx, &from, false).await?;
    gone_from(cx, &from, true).await
}

/// Checks that a watch (`watch_shared` with `shared`) from `from`, a revision older
/// than the window, answers 410 Gone.
async fn gone_from(cx: &Cx, from: &str, shared: bool) -> CheckResult {
    let verb = if shared { "watch_shared" } else { "watch" };
    // The server's watch cache applies writes shortly after they are acknowledged:
    // retry until it has caught up (or the check times out).
    let params = ListParams::default().at(from);
    let mut last = String::new();
    for _ in 0..200 {
        match open_watch(cx, &params, shared).await {
            Err(e) if e.is_gone() => return Ok(()),
            Err(e) => return Err(format!("{verb} from {from} failed with {e}, not 410")),
            Ok(mut stream) => match next_event(&mut stream).await? {
                WatchEvent::Error(e) => {
                    ensure!(
                        e.code == 410,
                        "{verb} from {from} ended with {e:?}, not 410"
                    );
                    ensure!(
                        stream.next().await.is_none(),
                        "the {verb} went on after its 410"
                    );
                    return Ok(());
                }
                other => last = format!("{other:?}"),
            },
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "a {verb} from {from}, {} events ago, still answered events (last: {last})",
        cx.config.watch_window + 1
    ))
}
