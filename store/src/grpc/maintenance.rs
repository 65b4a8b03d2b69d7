//! The `Maintenance` service: `Status` (what `etcdctl endpoint status` shows) and
//! `Alarm` listing (what `etcdctl endpoint health` checks). Skiff raises no alarms, has no
//! defragmentation, hashes, snapshots over the API or leadership to move: those methods
//! answer `Unimplemented`.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::error::{store_status, GrpcError};
use super::identity::{ETCD_VERSION, RAFT_TERM};
use super::EtcdServer;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::alarm_request::AlarmAction;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;

#[tonic::async_trait]
impl Maintenance for EtcdServer {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        let req = request.into_inner();
        match AlarmAction::try_from(req.action) {
            // No alarm is ever raised, so the list is empty and disarming is a no-op.
            Ok(AlarmAction::Get) | Ok(AlarmAction::Deactivate) => {
                let revision = self.current_revision().await?;
                Ok(Response::new(pb::AlarmResponse {
                    header: Some(self.identity.header(revision)),
                    alarms: Vec::new(),
                }))
            }
            Ok(AlarmAction::Activate) => Err(GrpcError::Unsupported("raising alarms").into()),
            Err(_) => Err(GrpcError::UnknownEnumValue {
                field: "AlarmRequest.action",
                value: req.action,
            }
            .into()),
        }
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let status = self.store.status().await.map_err(store_status)?;
        let revision = status.header.revision;
        // There is no raft log: every revision stands for one applied entry, which keeps
        // the index moving with writes as etcd's does.
        let index = u64::try_from(revision).unwrap_or(0);
        Ok(Response::new(pb::StatusResponse {
            header: Some(self.identity.header(revision)),
            version: ETCD_VERSION.to_string(),
            db_size: status.db_size,
            leader: self.identity.member_id,
            raft_index: index,
            raft_term: RAFT_TERM,
            raft_applied_index: index,
            errors: Vec::new(),
            db_size_in_use: status.db_size_in_use,
            is_learner: false,
        }))
    }

    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Err(GrpcError::Unsupported("Defragment").into())
    }

    async fn hash(
        &self,
        _request: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        Err(GrpcError::Unsupported("Hash").into())
    }

    async fn hash_kv(
        &self,
        _request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        Err(GrpcError::Unsupported("HashKV").into())
    }

    type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotResponse, Status>> + Send>>;

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(GrpcError::Unsupported("Snapshot").into())
    }

    async fn move_leader(
        &self,
        _request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        Err(GrpcError::Unsupported("MoveLeader").into())
    }

    async fn downgrade(
        &self,
        _request: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(GrpcError::Unsupported("Downgrade").into())
    }
}
