//! Declares the `loom` cfg, under which `tests/loom.rs` runs, so that `unexpected_cfgs` knows it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
