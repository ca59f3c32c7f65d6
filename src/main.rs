//! The kernel binary: everything lives in the library; this only links it.
#![no_std]
#![no_main]

extern crate kernel;
