//! The `Cluster` service: `MemberList` reports the one member this server is. Membership
//! changes answer `Unimplemented`.

use tonic::{Request, Response, Status};

use super::error::GrpcError;
use super::EtcdServer;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::cluster_server::Cluster;

#[tonic::async_trait]
impl Cluster for EtcdServer {
    async fn member_add(
        &self,
        _request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(GrpcError::Unsupported("MemberAdd").into())
    }

    async fn member_remove(
        &self,
        _request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(GrpcError::Unsupported("MemberRemove").into())
    }

    async fn member_update(
        &self,
        _request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(GrpcError::Unsupported("MemberUpdate").into())
    }

    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let revision = self.current_revision().await?;
        Ok(Response::new(pb::MemberListResponse {
            header: Some(self.identity.header(revision)),
            members: vec![self.identity.member()],
        }))
    }

    async fn member_promote(
        &self,
        _request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(GrpcError::Unsupported("MemberPromote").into())
    }
}
