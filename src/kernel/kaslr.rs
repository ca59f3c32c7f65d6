//! Kernel address-space randomisation at boot: whether the heap, vmap and
//! frame-stack windows move for this boot, and where to
//! ([`crate::memory::placement`] places them; the image stays where it is
//! linked).

use core::fmt;

use crate::arch::current::layout;
use crate::memory::placement::{NoSeed, Placement, Seed, SeedSource};

/// What the boot decided, for the boot report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kaslr {
    /// The windows were placed from a seed of this source.
    On(SeedSource),
    /// `nokaslr` is on the command line: the fixed layout.
    TurnedOff,
    /// No seed: the fixed layout.
    NoSeed(NoSeed),
}

impl fmt::Display for Kaslr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::On(source) => write!(
                f,
                "on, seed from {source}: heap, vmap and frame stack placed in {}",
                layout::KASLR_AREA
            ),
            Self::TurnedOff => write!(f, "off, fixed layout: nokaslr on the command line"),
            Self::NoSeed(why) => write!(f, "off, fixed layout: {why}"),
        }
    }
}

/// Where this boot's windows go: placed from `seed` by the layout's rules,
/// or the fixed layout when `nokaslr` is on the command line or there is no
/// seed.
pub fn choose(bootargs: Option<&str>, seed: Result<Seed, NoSeed>) -> (Placement, Kaslr) {
    if super::has_word(bootargs, "nokaslr") {
        return (layout::FIXED_LAYOUT, Kaslr::TurnedOff);
    }
    match seed {
        Ok(seed) => (
            layout::PLACEMENT_RULES.place(seed.value),
            Kaslr::On(seed.source),
        ),
        Err(why) => (layout::FIXED_LAYOUT, Kaslr::NoSeed(why)),
    }
}
