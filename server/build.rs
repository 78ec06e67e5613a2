//! Generates the `kvd.v1` messages, services and clients from `proto/`, and a file descriptor
//! set for gRPC reflection and for the strict request decoder (`src/codec.rs`). Uses the
//! `protoc` shipped in `protoc-bin-vendored`, so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = ["proto/kvd/v1/kv.proto", "proto/kvd/v1/admin.proto"];

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `prost::Name` lets the strict codec find each request's descriptor by its full name.
    config.enable_type_names();

    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("kvd_v1_descriptor.bin"))
        .codec_path("crate::codec::StrictCodec")
        .compile_with_config(config, &protos, &["proto"])?;

    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
