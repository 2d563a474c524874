//! An opcode word split into its base, modifiers and type suffix, and the checks every decoder
//! applies to those: which modifiers an instruction takes and which integer type classes ptxas
//! accepts.

use crate::kinds::IntTy;
use crate::operand::RegClass;

/// The type suffix of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Int(IntTy),
    F32,
    Pred,
}

pub(super) fn ty_of(s: &str) -> Option<Ty> {
    Some(match s {
        "u32" | "b32" => Ty::Int(IntTy::U32),
        "s32" => Ty::Int(IntTy::S32),
        "u64" | "b64" => Ty::Int(IntTy::U64),
        "s64" => Ty::Int(IntTy::S64),
        "f32" => Ty::F32,
        "pred" => Ty::Pred,
        _ => return None,
    })
}

/// The bits a value of `ty` keeps in its register (32-bit values live zero-extended).
pub(super) fn mask_of(ty: Ty) -> u64 {
    match ty {
        Ty::Int(t) if t.is_64() => u64::MAX,
        Ty::Pred => 1,
        _ => 0xFFFF_FFFF,
    }
}

/// An opcode split into its base (`ld`), modifiers (`global`, `v4`) and type suffix (`f32`).
pub(super) struct Parts<'a> {
    pub(super) base: &'a str,
    pub(super) mods: Vec<&'a str>,
    pub(super) ty: Option<Ty>,
    /// The type suffix as written (`b32`, `u32`, ...): ptxas tells `.b` from `.u` types.
    pub(super) raw: &'a str,
}

impl Parts<'_> {
    /// The type, or an error for an untyped opcode that needs one.
    pub(super) fn ty(&self) -> Result<Ty, String> {
        self.ty.ok_or_else(|| "needs a type".to_string())
    }
    /// The operand class of the type suffix.
    pub(super) fn class(&self) -> Result<RegClass, String> {
        RegClass::of(self.raw).ok_or_else(|| "needs a type".to_string())
    }
    /// The integer type, or an error.
    pub(super) fn int(&self) -> Result<IntTy, String> {
        match self.ty {
            Some(Ty::Int(t)) => Ok(t),
            _ => Err("needs an integer type".into()),
        }
    }
}

/// Splits `ld.global.v4.f32` into `ld`, `[global, v4]` and `f32`.
pub(super) fn split(opcode: &str) -> Parts<'_> {
    let mut it = opcode.split('.');
    let base = it.next().unwrap_or("");
    let mut mods: Vec<&str> = it.collect();
    let ty = mods.last().and_then(|s| ty_of(s));
    let raw = if ty.is_some() {
        mods.pop().unwrap_or("")
    } else {
        ""
    };
    Parts {
        base,
        mods,
        ty,
        raw,
    }
}

/// Rejects the integer type classes ptxas rejects: arithmetic takes `.u`/`.s` types, bitwise
/// operations and `shl` take `.b` types, `neg`/`abs` take `.s` types, and `setp` other than
/// `eq`/`ne` takes no `.b` type.
pub(super) fn check_class(base: &str, mods: &[&str], raw: &str) -> Result<(), String> {
    // Untyped (`ret`), f32 and predicate instructions have no integer class to check.
    let class = raw.chars().next().unwrap_or('f');
    if class == 'f' || class == 'p' {
        return Ok(());
    }
    let allowed = match base {
        "add" | "sub" | "mul" | "mad" | "div" | "rem" | "min" | "max" | "cvt" | "atom" | "red" => {
            "us"
        }
        "shl" | "and" | "or" | "xor" | "not" => "b",
        "neg" | "abs" => "s",
        "setp" if !matches!(mods, ["eq"] | ["ne"]) => "us",
        _ => "bus",
    };
    if allowed.contains(class) {
        Ok(())
    } else {
        Err(format!(
            "`{base}` does not take `.{raw}` (ptxas rejects it)"
        ))
    }
}

pub(super) fn only(mods: &[&str], allowed: &[&[&str]]) -> Result<(), String> {
    if allowed.iter().any(|a| a == &mods) {
        return Ok(());
    }
    let spell = |m: &[&str]| {
        if m.is_empty() {
            "none".to_string()
        } else {
            format!("`.{}`", m.join("."))
        }
    };
    let expected: Vec<String> = allowed.iter().map(|a| spell(a)).collect();
    Err(format!(
        "modifiers {} not supported; expected {}",
        spell(mods),
        expected.join(" or ")
    ))
}

/// The class of the other width: `mul.wide.u32` writes a 64-bit integer.
pub(super) fn wide(class: RegClass) -> RegClass {
    match class {
        RegClass::B32 => RegClass::B64,
        _ => RegClass::I64,
    }
}
