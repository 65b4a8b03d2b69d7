//! The `Lease` service: grant, revoke, keep-alive (a bidirectional stream), time-to-live
//! and listing.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::error::store_status;
use super::EtcdServer;
use crate::error::StoreError;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::lease_server::Lease;

/// Keep-alive answers buffered per stream before the server waits for the client to read.
const KEEP_ALIVE_BUFFER: usize = 16;

#[tonic::async_trait]
impl Lease for EtcdServer {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let req = request.into_inner();
        let resp = self
            .store
            .lease_grant(req.id, req.ttl)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::LeaseGrantResponse {
            header: Some(self.identity.header(resp.header.revision)),
            id: resp.id,
            ttl: resp.ttl,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let header = self
            .store
            .lease_revoke(request.into_inner().id)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::LeaseRevokeResponse {
            header: Some(self.identity.header(header.revision)),
        }))
    }

    type LeaseKeepAliveStream =
        Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(KEEP_ALIVE_BUFFER);
        let server = self.clone();
        tokio::spawn(async move {
            let stopped = server.stopped();
            tokio::pin!(stopped);
            loop {
                let msg = tokio::select! {
                    () = &mut stopped => {
                        let _ = tx.send(Err(Status::unavailable(StoreError::Stopped.to_string()))).await;
                        return;
                    }
                    msg = incoming.next() => msg,
                };
                let answer = match msg {
                    Some(Ok(req)) => server.keep_alive_once(req.id).await,
                    // The client hung up or the stream broke: end it.
                    Some(Err(_)) | None => return,
                };
                let stop = answer.is_err();
                if tx.send(answer).await.is_err() || stop {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let req = request.into_inner();
        let resp = match self.store.lease_time_to_live(req.id, req.keys).await {
            Ok(r) => pb::LeaseTimeToLiveResponse {
                header: Some(self.identity.header(r.header.revision)),
                id: r.id,
                ttl: r.ttl,
                granted_ttl: r.granted_ttl,
                keys: r.keys,
            },
            // etcd answers an unknown lease with TTL -1 rather than an error.
            Err(StoreError::LeaseNotFound) => pb::LeaseTimeToLiveResponse {
                header: Some(self.identity.header(self.current_revision().await?)),
                id: req.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Err(e) => return Err(store_status(e)),
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let revision = self.current_revision().await?;
        let ids = self.store.lease_leases().await.map_err(store_status)?;
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: Some(self.identity.header(revision)),
            leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
        }))
    }
}

impl EtcdServer {
    /// One keep-alive: the new TTL, or TTL 0 for a lease that does not exist (as etcd
    /// answers; clients turn it into "lease not found").
    async fn keep_alive_once(&self, id: i64) -> Result<pb::LeaseKeepAliveResponse, Status> {
        match self.store.lease_keep_alive(id).await {
            Ok(r) => Ok(pb::LeaseKeepAliveResponse {
                header: Some(self.identity.header(r.header.revision)),
                id: r.id,
                ttl: r.ttl,
            }),
            Err(StoreError::LeaseNotFound) => Ok(pb::LeaseKeepAliveResponse {
                header: Some(self.identity.header(self.current_revision().await?)),
                id,
                ttl: 0,
            }),
            Err(e) => Err(store_status(e)),
        }
    }
}
