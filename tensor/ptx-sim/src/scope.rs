//! The names declared in one entry (registers, shared arrays, parameters, labels): filled in by
//! the parser as it reads the declarations, then used to resolve every operand.

use crate::operand::RegClass;
use crate::program::{Param, Reg};
use std::collections::HashMap;

/// Names declared in one entry, for resolving operands.
#[derive(Default)]
pub struct Scope {
    /// Register names (special registers included) to their slot and declared type.
    pub(crate) regs: HashMap<String, (Reg, RegClass)>,
    /// Shared array names to their shared-window address.
    pub(crate) shared: HashMap<String, u64>,
    /// Parameter names to their layout.
    pub(crate) params: HashMap<String, Param>,
    /// Label names to the index of the instruction they precede.
    pub(crate) labels: HashMap<String, u32>,
}

impl Scope {
    /// The shared-window address of a shared array.
    pub fn shared(&self, name: &str) -> Option<u64> {
        self.shared.get(name).copied()
    }
    /// A parameter.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.get(name)
    }
    /// The instruction index of a label.
    pub fn label(&self, name: &str) -> Option<u32> {
        self.labels.get(name).copied()
    }
}
