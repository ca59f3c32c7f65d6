//! A depth-first walk from the root that remembers each node's ancestors.
//!
//! `fdt` 0.1.5 nodes know neither their path nor their parents, yet both are
//! needed: the path to match `stdout-path` and to name a node in an error, the
//! parents' `#address-cells`, `#size-cells` and `ranges` to translate a `reg`.
//! Each [`Frame`] lives on the walker's stack and points at its parent's frame.

use fdt::node::FdtNode;

use super::validate::{MAX_DEPTH, be_u32};
use super::{Error, NodePath};

/// One node on the walk, with the chain of its ancestors.
pub(super) struct Frame<'p, 'b, 'dtb> {
    /// The node itself.
    pub node: FdtNode<'b, 'dtb>,
    /// Its full path.
    pub path: NodePath,
    /// The enclosing node's frame; `None` for the root.
    pub parent: Option<&'p Frame<'p, 'b, 'dtb>>,
}

impl<'p, 'b, 'dtb> Frame<'p, 'b, 'dtb> {
    /// The node's name, with its unit address (`serial@7e201000`); `""` for the root.
    pub fn name(&self) -> &'dtb str {
        if self.parent.is_none() {
            ""
        } else {
            self.node.name
        }
    }

    /// The raw value of property `name`, if present.
    pub fn property(&self, name: &str) -> Option<&'dtb [u8]> {
        self.node.property(name).map(|property| property.value)
    }

    /// Property `name` as one big-endian cell, or `MalformedProperty` if it is
    /// not exactly four bytes.
    pub fn cell(&self, name: &'static str) -> Result<Option<u32>, Error> {
        self.property(name)
            .map(|value| {
                be_u32(value, 0)
                    .filter(|_| value.len() == 4)
                    .ok_or_else(|| self.malformed(name))
            })
            .transpose()
    }

    /// Property `name` as a string: the bytes before the first NUL, which must
    /// be there and must be UTF-8.
    pub fn string(&self, name: &'static str) -> Result<Option<&'dtb str>, Error> {
        self.property(name)
            .map(|value| string_value(value).ok_or_else(|| self.malformed(name)))
            .transpose()
    }

    /// True when property `name` is a string list containing `wanted`.
    pub fn has_string(&self, name: &str, wanted: &str) -> bool {
        self.property(name).is_some_and(|value| {
            value
                .split(|&byte| byte == 0)
                .any(|item| item == wanted.as_bytes())
        })
    }

    /// False only when `status` says the node is not in use.
    pub fn is_enabled(&self) -> bool {
        match self.property("status").and_then(string_value) {
            Some(status) => status == "okay" || status == "ok",
            None => true,
        }
    }

    /// The `#address-cells` this node gives its children (2 when absent).
    pub fn address_cells(&self) -> Result<u32, Error> {
        Ok(self.cell("#address-cells")?.unwrap_or(2))
    }

    /// The `#size-cells` this node gives its children (1 when absent).
    pub fn size_cells(&self) -> Result<u32, Error> {
        Ok(self.cell("#size-cells")?.unwrap_or(1))
    }

    /// The node's own phandle: `phandle`, else the older `linux,phandle`,
    /// read as Linux's `__of_attach_node` does: the first cell of a value of
    /// four bytes or more; a shorter value is no phandle. A malformed
    /// phandle on a node nobody refers to must not refuse the tree, and
    /// every search for a controller meets every node.
    pub fn phandle(&self) -> Option<u32> {
        let value = self
            .property("phandle")
            .or_else(|| self.property("linux,phandle"))?;
        be_u32(value, 0)
    }

    /// The nearest `interrupt-parent` phandle on this node or an ancestor.
    pub fn interrupt_parent(&self) -> Result<Option<u32>, Error> {
        let mut frame = Some(self);
        while let Some(current) = frame {
            if let Some(phandle) = current.cell("interrupt-parent")? {
                return Ok(Some(phandle));
            }
            frame = current.parent;
        }
        Ok(None)
    }

    /// The node's path, or `PathTooLong` if it did not fit.
    pub fn whole_path(&self) -> Result<NodePath, Error> {
        if self.path.is_truncated() {
            return Err(Error::PathTooLong { path: self.path });
        }
        Ok(self.path)
    }

    /// True when this node is the one `target` names: a full path from the root
    /// whose components each equal the node name, or equal its part before
    /// `@` when the component has no unit address.
    pub fn matches_path(&self, target: &str) -> bool {
        let Some(components) = target.strip_prefix('/') else {
            return false;
        };
        let mut frame = self;
        for component in components.rsplit('/') {
            let Some(parent) = frame.parent else {
                return false;
            };
            let name = frame.name();
            let base = name.split('@').next().unwrap_or(name);
            if name != component && (component.contains('@') || base != component) {
                return false;
            }
            frame = parent;
        }
        frame.parent.is_none()
    }

    /// The `MalformedProperty` error for this node.
    pub fn malformed(&self, property: &'static str) -> Error {
        Error::MalformedProperty {
            path: self.path,
            property,
        }
    }
}

/// A string property value: the bytes before the first NUL, if UTF-8.
pub(super) fn string_value(value: &[u8]) -> Option<&str> {
    let end = value.iter().position(|&byte| byte == 0)?;
    core::str::from_utf8(value.get(..end)?).ok()
}

/// Calls `visit` on `root` and every node below it, parents before children,
/// in blob order. Stops at the first error `visit` returns.
pub(super) fn walk<'b, 'dtb>(
    root: FdtNode<'b, 'dtb>,
    visit: &mut dyn FnMut(&Frame<'_, 'b, 'dtb>) -> Result<(), Error>,
) -> Result<(), Error> {
    let frame = Frame {
        node: root,
        path: NodePath::root(),
        parent: None,
    };
    descend(&frame, 1, visit)
}

fn descend<'b, 'dtb>(
    frame: &Frame<'_, 'b, 'dtb>,
    depth: usize,
    visit: &mut dyn FnMut(&Frame<'_, 'b, 'dtb>) -> Result<(), Error>,
) -> Result<(), Error> {
    // Validation already bounds the nesting; this keeps the recursion bounded
    // even if that ever changes.
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep { offset: 0 });
    }
    visit(frame)?;
    for child in frame.node.children() {
        let child_frame = Frame {
            node: child,
            path: frame.path.child(child.name),
            parent: Some(frame),
        };
        descend(&child_frame, depth + 1, visit)?;
    }
    Ok(())
}
