//! Checks of watches: events in order from a resourceVersion, 410 Gone for one that
//! left the server's window.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use super::{call, ensure, resource_version, CheckResult, Cx};
use crate::client::{ListParams, Patch, PatchParams, WatchEvent, WatchStream};

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
    let mut stream = call("watch", cx.client.watch(&cx.configmaps(), &params).await)?;

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

    let event = next_event(&mut stream).await?;
    ensure!(
        matches!(&event, WatchEvent::Added(o) if o["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]),
        "first event: {event:?}"
    );
    let event = next_event(&mut stream).await?;
    ensure!(
        matches!(&event, WatchEvent::Modified(o) if o["data"]["v"] == "2" && o["metadata"]["resourceVersion"] == modified["metadata"]["resourceVersion"]),
        "second event: {event:?}"
    );
    let event = next_event(&mut stream).await?;
    ensure!(
        matches!(&event, WatchEvent::Deleted(o) if o["metadata"]["name"] == "watched"),
        "third event: {event:?}"
    );
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
    // The server's watch cache applies writes shortly after they are acknowledged:
    // retry until it has caught up (or the check times out).
    let params = ListParams::default().at(&from);
    let mut last = String::new();
    for _ in 0..200 {
        match cx.client.watch(&cx.configmaps(), &params).await {
            Err(e) if e.is_gone() => return Ok(()),
            Err(e) => return Err(format!("watch from {from} failed with {e}, not 410")),
            Ok(mut stream) => match next_event(&mut stream).await? {
                WatchEvent::Error(e) => {
                    ensure!(e.code == 410, "watch from {from} ended with {e:?}, not 410");
                    ensure!(
                        stream.next().await.is_none(),
                        "the watch went on after its 410"
                    );
                    return Ok(());
                }
                other => last = format!("{other:?}"),
            },
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "a watch from {from}, {} events ago, still answered events (last: {last})",
        cx.config.watch_window + 1
    ))
}
