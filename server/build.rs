//! Generates the `kvd.v1` messages, services and clients from `proto/`, and a file descriptor
//! set for gRPC reflection and for the strict request decoder (`src/codec.rs`). Uses the
//! `protoc` shipped in `protoc-bin-vendored`, so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Every `.proto` of the package, so a new service file needs no edit here.
    let mut protos: Vec<PathBuf> = std::fs::read_dir("proto/kvd/v1")?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    protos.sort();
    println!("cargo:rerun-if-changed=proto/kvd/v1");

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `prost::Name` lets the strict codec find each request's descriptor by its full name.
    config.enable_type_names();

    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("kvd_v1_descriptor.bin"))
        .codec_path("crate::codec::StrictCodec")
        .compile_with_config(config, &protos, &[PathBuf::from("proto")])?;

    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    Ok(())
}
