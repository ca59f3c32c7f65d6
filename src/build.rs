//! Build script: relink the kernel when a linker script changes (cargo does
//! not know that `-T` reads a file).

fn main() {
    println!("cargo::rerun-if-changed=linker.ld");
    println!("cargo::rerun-if-changed=boards/x86_64/linker.ld");
}
