//! The full path of a device-tree node, kept in a fixed buffer.

use core::fmt;

/// The full path of a node, such as `/soc/serial@7e201000`, in a fixed buffer
/// of [`NodePath::CAPACITY`] bytes.
///
/// `fdt` 0.1.5 nodes do not know their parents, so the walker builds the path
/// while it descends from the root. A path that does not fit is kept
/// *truncated*: [`NodePath::as_str`] then holds the components that fit,
/// [`NodePath::is_truncated`] is true and `Display` ends with `...`. Only the
/// paths of nodes the kernel uses must be whole; for those a truncated path is
/// reported as [`Error::PathTooLong`](super::Error::PathTooLong).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodePath {
    bytes: [u8; NodePath::CAPACITY],
    len: u8,
    truncated: bool,
}

impl NodePath {
    /// The most bytes a path can hold. Small enough that an [`Error`](super::Error)
    /// carrying a path stays a cheap return value.
    pub const CAPACITY: usize = 96;

    /// The path of the root node, `/`.
    pub const fn root() -> Self {
        let mut bytes = [0; Self::CAPACITY];
        bytes[0] = b'/';
        Self {
            bytes,
            len: 1,
            truncated: false,
        }
    }

    /// The path of the child `name` of this node. If it does not fit, the
    /// result is this path, marked truncated.
    pub fn child(&self, name: &str) -> Self {
        let mut path = *self;
        if path.truncated {
            return path;
        }
        let separator: &[u8] = if path.len == 1 { b"" } else { b"/" };
        let start = usize::from(path.len);
        let end = start
            .checked_add(separator.len())
            .and_then(|end| end.checked_add(name.len()))
            .filter(|&end| end <= Self::CAPACITY);
        let stored = end.and_then(|end| {
            let target = path.bytes.get_mut(start..end)?;
            let (head, tail) = target.split_at_mut(separator.len());
            head.copy_from_slice(separator);
            tail.copy_from_slice(name.as_bytes());
            u8::try_from(end).ok()
        });
        match stored {
            Some(len) => path.len = len,
            None => path.truncated = true,
        }
        path
    }

    /// The path as text (only the part that fit, when truncated).
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only whole `&str` names are ever appended, so this is always UTF-8.
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// True when a component did not fit and was left out.
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str(if self.len == 1 { "..." } else { "/..." })?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodePath({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn children_join_with_one_slash() {
        let serial = NodePath::root().child("soc").child("serial@7e201000");
        assert_eq!(serial.as_str(), "/soc/serial@7e201000");
        assert_eq!(serial.to_string(), "/soc/serial@7e201000");
        assert!(!serial.is_truncated());
    }

    #[test]
    fn a_path_that_does_not_fit_is_marked_truncated() {
        let long = "x".repeat(60);
        let path = NodePath::root().child(&long).child(&long).child("leaf");
        assert!(path.is_truncated());
        assert_eq!(path.as_str().len(), 61);
        assert!(path.to_string().ends_with("/..."));
    }
}
