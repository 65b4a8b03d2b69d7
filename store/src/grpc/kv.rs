//! The `KV` service: Range, Put, DeleteRange, Txn and Compact over the store.

use tonic::{Request, Response, Status};

use super::convert::*;
use super::error::store_status;
use super::validate::*;
use super::EtcdServer;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::kv_server::Kv;

#[tonic::async_trait]
impl Kv for EtcdServer {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let req = request.into_inner();
        check_range(&req).map_err(store_status)?;
        let resp = self
            .store
            .range(range_from_proto(req)?)
            .await
            .map_err(store_status)?;
        Ok(Response::new(range_to_proto(&self.identity, resp)))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let req = request.into_inner();
        check_size(&req).map_err(store_status)?;
        check_put(&req).map_err(store_status)?;
        let resp = self
            .store
            .put(put_from_proto(req))
            .await
            .map_err(store_status)?;
        Ok(Response::new(put_to_proto(&self.identity, resp)))
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let req = request.into_inner();
        check_size(&req).map_err(store_status)?;
        check_delete_range(&req).map_err(store_status)?;
        let resp = self
            .store
            .delete_range(delete_range_from_proto(req))
            .await
            .map_err(store_status)?;
        Ok(Response::new(delete_range_to_proto(&self.identity, resp)))
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let req = request.into_inner();
        check_size(&req).map_err(store_status)?;
        check_txn(&req).map_err(store_status)?;
        let resp = self
            .store
            .txn(txn_from_proto(req)?)
            .await
            .map_err(store_status)?;
        Ok(Response::new(txn_to_proto(&self.identity, resp)))
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        // `physical` asks to wait until the compaction reached the backend; the store's
        // compact has taken effect when it returns, so both kinds are served alike.
        let req = request.into_inner();
        let header = self
            .store
            .compact(req.revision)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::CompactionResponse {
            header: Some(self.identity.header(header.revision)),
        }))
    }
}
