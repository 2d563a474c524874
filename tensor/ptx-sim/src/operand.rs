//! Operands as parsed, and the check that each fits the slot its instruction gives it: the
//! register's declared type must be compatible with the instruction's type, as ptxas demands
//! (so a kernel the simulator accepts also assembles, and a 32-bit register used as an address
//! is caught here instead of silently computing something else).

use crate::program::{Addr, Reg, Src};

/// What an operand slot holds, or what a register was declared as, for compatibility checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegClass {
    /// `.pred`.
    Pred,
    /// `.b32`: any 32-bit value.
    B32,
    /// `.u32` or `.s32`.
    I32,
    /// `.f32`.
    F32,
    /// `.b64`: any 64-bit value.
    B64,
    /// `.u64` or `.s64`.
    I64,
}

impl RegClass {
    /// The class of a type written without its dot (`u32`, `b64`, `pred` ...).
    pub fn of(ty: &str) -> Option<RegClass> {
        Some(match ty {
            "pred" => RegClass::Pred,
            "b32" => RegClass::B32,
            "u32" | "s32" => RegClass::I32,
            "f32" => RegClass::F32,
            "b64" => RegClass::B64,
            "u64" | "s64" => RegClass::I64,
            _ => return None,
        })
    }

    /// Whether a register declared as `have` may fill a slot of this class: same width, and
    /// either side untyped bits or both the same kind (integer or float).
    fn accepts(self, have: RegClass) -> bool {
        use RegClass::*;
        matches!(
            (self, have),
            (Pred, Pred)
                | (B32, B32 | I32 | F32)
                | (I32, B32 | I32)
                | (F32, B32 | F32)
                | (B64, B64 | I64)
                | (I64, B64 | I64)
        )
    }

    fn describe(self) -> &'static str {
        match self {
            RegClass::Pred => "a predicate",
            RegClass::B32 => "a 32-bit register",
            RegClass::I32 => "a 32-bit integer register",
            RegClass::F32 => "an f32 register",
            RegClass::B64 => "a 64-bit register",
            RegClass::I64 => "a 64-bit integer register",
        }
    }
}

/// A register named in an operand.
#[derive(Clone, Debug, PartialEq)]
pub struct RegRef {
    /// Its slot in the register file.
    pub index: Reg,
    /// Its declared type.
    pub class: RegClass,
    /// Its name, for messages.
    pub name: String,
}

/// A parsed operand, before the instruction gives it a meaning.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A declared or special register.
    Reg(RegRef),
    /// An integer literal, sign-extended to 64 bits.
    Int(u64),
    /// An f32 literal `0fXXXXXXXX`, as its bits.
    F32(u64),
    /// A bare name: a label, or a shared array (for `mov`).
    Name(String),
    /// `[...]`: the address, and the array or parameter name it is relative to, if any.
    Addr(Addr, Option<String>),
    /// `{a, b, ...}`.
    Vector(Vec<Operand>),
}

fn check(r: &RegRef, want: RegClass) -> Result<Reg, String> {
    if want.accepts(r.class) {
        Ok(r.index)
    } else {
        Err(format!(
            "`{}` is declared {:?}, this operand needs {}",
            r.name,
            r.class,
            want.describe()
        ))
    }
}

/// A destination: a register compatible with `want`.
pub fn dst(op: &Operand, want: RegClass) -> Result<Reg, String> {
    match op {
        Operand::Reg(r) => check(r, want),
        _ => Err("the destination must be a register".into()),
    }
}

/// A source: a register compatible with `want`, or an immediate that fits it (integers for
/// integer and bit slots, `0fXXXXXXXX` for f32 and 32-bit bit slots).
pub fn src(op: &Operand, want: RegClass) -> Result<Src, String> {
    match (op, want) {
        (Operand::Reg(r), _) => check(r, want).map(Src::Reg),
        (Operand::Int(v), RegClass::F32) => Err(format!(
            "f32 immediates are written 0fXXXXXXXX (IEEE bits), not `{}`",
            *v as i64
        )),
        (Operand::Int(v), _) => Ok(Src::Imm(*v)),
        (Operand::F32(v), RegClass::F32 | RegClass::B32) => Ok(Src::Imm(*v)),
        (Operand::F32(_), _) => Err(format!("an f32 immediate cannot be {}", want.describe())),
        _ => Err("expected a register or an immediate".into()),
    }
}

/// Checks the operand count.
pub fn count(ops: &[Operand], n: usize) -> Result<(), String> {
    if ops.len() == n {
        Ok(())
    } else {
        Err(format!("takes {n} operands, found {}", ops.len()))
    }
}
