//! Which UART is the console: one decision, made here, that the kernel's
//! device start and `make inspect` both take, so that the two cannot disagree.
//!
//! The console is the UART that `/chosen/stdout-path` names. The kernel turns
//! to another UART, the `serial0` alias's, only when it cannot use the named
//! one: there is no `stdout-path`, it names no node, the node is disabled, or
//! the kernel has no driver for it. [`ConsoleChoice`] carries the UART used
//! and, when it is not the named one, what was named and why it is not used, so that the boot report and `make inspect` can say so.

use core::fmt;

use super::walk::{Frame, string_value};
use super::{Device, Error, NodePath};

/// A UART the kernel has a driver for, told by its `compatible`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartModel {
    /// Arm PrimeCell PL011 (`arm,pl011`).
    Pl011,
    /// The BCM2835/BCM2711 AUX mini UART (`brcm,bcm2835-aux-uart`).
    MiniUart,
}

impl UartModel {
    /// The model of the first string of `compatible` (a NUL-separated list)
    /// the kernel has a driver for, if any.
    fn from_compatible(compatible: &[u8]) -> Option<Self> {
        compatible
            .split(|&byte| byte == 0)
            .find_map(|name| match name {
                b"arm,pl011" => Some(Self::Pl011),
                b"brcm,bcm2835-aux-uart" => Some(Self::MiniUart),
                _ => None,
            })
    }

    /// How the boot report names the driver: `PL011`, `mini UART`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pl011 => "PL011",
            Self::MiniUart => "mini UART",
        }
    }
}

/// A node that `stdout-path` or the `serial0` alias names, as the console
/// decision needs it. Only the UART the console uses must be a readable
/// [`Device`]; for any other (no driver, disabled) the path and `compatible`
/// are enough to give the reason, so its register error waits in
/// [`Self::device`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UartNode<'dtb> {
    /// The node's path (truncated, with `...`, if it is very long).
    pub path: NodePath,
    /// The first string of its `compatible`; empty when it has none or it
    /// is not a string.
    pub compatible: &'dtb str,
    /// Its registers, or why they could not be read.
    pub device: Result<Device<'dtb>, Error>,
    /// The driver the kernel has for it, or `None`.
    pub model: Option<UartModel>,
    /// False when its `status` says it is not there (`disabled`, say).
    pub enabled: bool,
}

/// True when the kernel has a driver for some string of `frame`'s `compatible`.
pub(super) fn has_driver(frame: &Frame<'_, '_, '_>) -> bool {
    frame
        .property("compatible")
        .and_then(UartModel::from_compatible)
        .is_some()
}

impl<'dtb> UartNode<'dtb> {
    /// Reads the node of `frame`, keeping any error in its registers for
    /// when it is needed.
    pub(super) fn from_frame(frame: &Frame<'_, '_, 'dtb>) -> Self {
        Self {
            path: frame.path,
            compatible: frame
                .property("compatible")
                .and_then(string_value)
                .unwrap_or_default(),
            device: Device::from_frame(frame),
            model: frame
                .property("compatible")
                .and_then(UartModel::from_compatible),
            enabled: frame.is_enabled(),
        }
    }

    /// Why the kernel, which would drive this UART (it has a driver and
    /// the node is enabled), cannot: its node is not a readable [`Device`].
    pub(super) fn unreadable(&self) -> Option<Error> {
        match self.device {
            Err(error) if self.model.is_some() && self.enabled => Some(error),
            _ => None,
        }
    }

    /// The UART the kernel can drive, when it has a driver, the node is
    /// enabled and its registers could be read.
    fn usable(&self) -> Option<ChosenUart<'dtb>> {
        let model = self.model.filter(|_| self.enabled)?;
        Some(ChosenUart {
            device: self.device.ok()?,
            model,
        })
    }
}

/// The console UART and the driver that serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChosenUart<'dtb> {
    /// The node; its first `reg` region is the register block.
    pub device: Device<'dtb>,
    /// The driver.
    pub model: UartModel,
}

/// Why the console is not the UART `stdout-path` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotUsed<'dtb> {
    /// `/chosen` has no `stdout-path` (or there is no `/chosen`).
    NoStdoutPath,
    /// `stdout-path` names no node (the description warns about it too).
    NamesNothing {
        /// The property, as written.
        stdout_path: &'dtb str,
    },
    /// The kernel has a driver for the node, but its `status` says it is
    /// not there.
    Disabled {
        /// The node named.
        named: UartNode<'dtb>,
    },
    /// The kernel has no driver for the node named.
    NoDriver {
        /// The node named.
        named: UartNode<'dtb>,
    },
}

impl fmt::Display for NotUsed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStdoutPath => f.write_str("the tree has no stdout-path"),
            Self::NamesNothing { stdout_path } => {
                write!(f, "stdout-path \"{stdout_path}\" names no node")
            }
            Self::Disabled { named } => write!(
                f,
                "stdout-path names {} ({}), which is disabled",
                named.path, named.compatible
            ),
            Self::NoDriver { named } => write!(
                f,
                "stdout-path names {} ({}), which has no driver here",
                named.path, named.compatible
            ),
        }
    }
}

/// The console decision (see the module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "made on the stack when asked for, never stored in bulk; the platform layer has no heap to box into"
)]
pub enum ConsoleChoice<'dtb> {
    /// The UART `stdout-path` names, which the kernel drives.
    Named(ChosenUart<'dtb>),
    /// `stdout-path`'s UART cannot be used, for `reason`; the console is the
    /// `serial0` alias's UART when the kernel drives that, else there is none.
    Fallback {
        /// Why the named UART is not used.
        reason: NotUsed<'dtb>,
        /// The `serial0` alias's UART, if the kernel can drive it.
        serial0: Option<ChosenUart<'dtb>>,
    },
}

impl<'dtb> ConsoleChoice<'dtb> {
    /// The UART the kernel writes to, if any.
    pub fn uart(&self) -> Option<ChosenUart<'dtb>> {
        match *self {
            Self::Named(uart) => Some(uart),
            Self::Fallback { serial0, .. } => serial0,
        }
    }

    /// Why `stdout-path`'s UART is not the console, or `None` when it is.
    pub fn not_used(&self) -> Option<NotUsed<'dtb>> {
        match *self {
            Self::Named(_) => None,
            Self::Fallback { reason, .. } => Some(reason),
        }
    }
}

/// Makes the console decision from what the tree names: the `stdout-path`
/// property as written, the node it names (if it names one) and the `serial0`
/// alias's node (if there is one).
pub(super) fn choose<'dtb>(
    stdout_path: Option<&'dtb str>,
    stdout: Option<UartNode<'dtb>>,
    serial0: Option<UartNode<'dtb>>,
) -> ConsoleChoice<'dtb> {
    let reason = match (stdout_path, stdout) {
        (_, Some(named)) => match named.usable() {
            Some(uart) => return ConsoleChoice::Named(uart),
            None if named.model.is_none() => NotUsed::NoDriver { named },
            // The description refuses a tree whose named UART has a driver,
            // is enabled and is unreadable, so this is a disabled one.
            None => NotUsed::Disabled { named },
        },
        (Some(stdout_path), None) => NotUsed::NamesNothing { stdout_path },
        (None, None) => NotUsed::NoStdoutPath,
    };
    ConsoleChoice::Fallback {
        reason,
        serial0: serial0.as_ref().and_then(UartNode::usable),
    }
}

impl fmt::Display for ConsoleChoice<'_> {
    /// The console line of the boot report and of `make inspect`: the UART
    /// used, then, when it is not `stdout-path`'s, where it came from and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(uart) => write!(f, "{} ({})", uart.device.path, uart.device.compatible),
            Self::Fallback {
                reason,
                serial0: Some(uart),
            } => write!(
                f,
                "{} ({}) from the serial0 alias: {reason}",
                uart.device.path, uart.device.compatible
            ),
            Self::Fallback {
                reason,
                serial0: None,
            } => write!(
                f,
                "none: {reason}, and serial0 names no UART the kernel drives"
            ),
        }
    }
}
