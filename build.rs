//! Generates `include/microroute.h` from `src/ffi/` with cbindgen.
//!
//! The header is written to `OUT_DIR` first and copied into the source tree only
//! when its content changed, so a clean tree stays clean (and `cargo package`
//! does not see the source directory modified). CI fails when the committed
//! header differs from the generated one.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // The cdylib gets an explicit soname so programs record the ABI major.
    let linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmicroroute.so.0");
    }

    // `mr_epoll`: the Linux epoll worker loop (src/rt/edge.rs). Off under
    // RUSTFLAGS="--cfg polling_test_poll_backend", which exercises the smol
    // back end ESP-IDF uses on Linux. One name instead of the two-part
    // condition at every site.
    println!("cargo::rustc-check-cfg=cfg(mr_epoll)");
    if linux && env::var_os("CARGO_CFG_POLLING_TEST_POLL_BACKEND").is_none() {
        println!("cargo:rustc-cfg=mr_epoll");
    }

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let generated = out_dir.join("microroute.h");
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(&generated);
        }
        Err(err) => {
            // A parse error in src/ffi shows up as a compile error too; do not
            // hide it behind a build-script panic.
            println!("cargo:warning=cbindgen failed: {err}");
            return;
        }
    }

    let fresh = fs::read(&generated).expect("read generated header");
    let committed_path = crate_dir.join("include").join("microroute.h");
    if fs::read(&committed_path).ok().as_deref() != Some(fresh.as_slice()) {
        if let Err(err) =
            fs::create_dir_all(committed_path.parent().unwrap()).and_then(|_| fs::write(&committed_path, &fresh))
        {
            println!("cargo:warning=could not update include/microroute.h: {err}");
        }
    }
}
