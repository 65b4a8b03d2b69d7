//! Generates the etcd v3 protobuf messages and gRPC server and client code from the
//! `.proto` files in `proto/`, with protox (a pure-Rust protobuf compiler: no system
//! `protoc` needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "etcdserverpb/rpc.proto",
        "mvccpb/kv.proto",
        "authpb/auth.proto",
    ];
    for file in &protos {
        println!("cargo:rerun-if-changed=proto/{file}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
