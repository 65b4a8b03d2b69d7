//! Compiles Kubernetes' `generated.proto` files in `proto/` (the built-in API groups
//! the server serves, and apimachinery's meta, runtime, intstr and resource types)
//! into one protobuf descriptor set, with protox (no system `protoc`). The server
//! decodes `application/vnd.kubernetes.protobuf` request bodies with it at run time.

use prost::Message;

const PROTOS: [&str; 9] = [
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/batch/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/events/v1/generated.proto",
    "k8s.io/api/policy/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/scheduling/v1/generated.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("kubernetes.fds");
    std::fs::write(out, descriptors.encode_to_vec())?;
    Ok(())
}
