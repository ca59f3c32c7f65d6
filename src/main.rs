//! The kernel binary: everything lives in the library; this only links it.
//! Built for the host (as `cargo build` does by default) it only says so.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate kernel;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("this is the kernel: build it with `make build` and boot it with `make qemu-virt`");
    std::process::exit(1);
}
