//! The arithmetic instructions other than `mad` and `fma`: binary and unary integer and f32
//! operations, `setp`, `cvt` and the atomics, each with the modifiers and types it takes.

use super::opcode::{Parts, Ty, check_class, only, ty_of, wide};
use crate::kinds::{AtomOp, Cmp, CmpTy, Cvt, FOp, FUnOp, IntOp, IntTy, IntUnOp, Round};
use crate::operand::{Operand, RegClass, count, dst, src};
use crate::program::Op;

pub(super) fn binary(p: &Parts, ops: &[Operand]) -> Result<Op, String> {
    let (base, mods) = (p.base, p.mods.as_slice());
    let class = p.class()?;
    count(ops, 3)?;
    match p.ty()? {
        Ty::F32 => {
            let op = match (base, mods) {
                ("add", [] | ["rn"]) => FOp::Add,
                ("sub", [] | ["rn"]) => FOp::Sub,
                ("mul", [] | ["rn"]) => FOp::Mul,
                ("div", ["rn"] | ["approx"]) => FOp::Div,
                ("min", []) => FOp::Min,
                ("max", []) => FOp::Max,
                _ => return Err("unsupported f32 form".into()),
            };
            Ok(Op::F32 {
                op,
                d: dst(&ops[0], class)?,
                a: src(&ops[1], class)?,
                b: src(&ops[2], class)?,
            })
        }
        Ty::Pred => {
            let op = match (base, mods) {
                ("and", []) => IntOp::And,
                ("or", []) => IntOp::Or,
                ("xor", []) => IntOp::Xor,
                _ => return Err("unsupported .pred form".into()),
            };
            Ok(Op::Pred {
                op,
                d: dst(&ops[0], class)?,
                a: src(&ops[1], class)?,
                b: src(&ops[2], class)?,
            })
        }
        Ty::Int(ty) => {
            let op = match (base, mods) {
                ("add", []) => IntOp::Add,
                ("sub", []) => IntOp::Sub,
                ("mul", ["lo"]) => IntOp::MulLo,
                ("mul", ["hi"]) => IntOp::MulHi,
                ("mul", ["wide"]) if !ty.is_64() => IntOp::MulWide,
                ("div", []) => IntOp::Div,
                ("rem", []) => IntOp::Rem,
                ("min", []) => IntOp::Min,
                ("max", []) => IntOp::Max,
                ("and", []) => IntOp::And,
                ("or", []) => IntOp::Or,
                ("xor", []) => IntOp::Xor,
                ("shl", []) => IntOp::Shl,
                ("shr", []) => IntOp::Shr,
                _ => return Err("unsupported integer form".into()),
            };
            let out = if op == IntOp::MulWide {
                wide(class)
            } else {
                class
            };
            // The shift amount is always a 32-bit integer.
            let amount = if matches!(op, IntOp::Shl | IntOp::Shr) {
                RegClass::I32
            } else {
                class
            };
            Ok(Op::Int {
                op,
                ty,
                d: dst(&ops[0], out)?,
                a: src(&ops[1], class)?,
                b: src(&ops[2], amount)?,
            })
        }
    }
}

pub(super) fn unary(p: &Parts, ops: &[Operand]) -> Result<Op, String> {
    let (base, mods) = (p.base, p.mods.as_slice());
    let class = p.class()?;
    count(ops, 2)?;
    let d = dst(&ops[0], class)?;
    let a = src(&ops[1], class)?;
    match p.ty()? {
        Ty::F32 => {
            let op = match (base, mods) {
                ("neg", []) => FUnOp::Neg,
                ("abs", []) => FUnOp::Abs,
                ("sqrt", ["rn"]) => FUnOp::Sqrt,
                ("rcp", ["rn"]) => FUnOp::Rcp,
                ("rsqrt", ["approx"]) => FUnOp::Rsqrt,
                ("ex2", ["approx"]) => FUnOp::Ex2,
                ("lg2", ["approx"]) => FUnOp::Lg2,
                _ => return Err("unsupported f32 form".into()),
            };
            Ok(Op::F32Un { op, d, a })
        }
        Ty::Pred if base == "not" && mods.is_empty() => Ok(Op::PredNot { d, a }),
        Ty::Int(ty) => {
            let op = match (base, mods) {
                ("neg", []) => IntUnOp::Neg,
                ("abs", []) => IntUnOp::Abs,
                ("not", []) => IntUnOp::Not,
                _ => return Err("unsupported integer form".into()),
            };
            Ok(Op::IntUn { op, ty, d, a })
        }
        Ty::Pred => Err("unsupported .pred form".into()),
    }
}

pub(super) fn setp(p: &Parts, ops: &[Operand]) -> Result<Op, String> {
    count(ops, 3)?;
    let [name] = p.mods.as_slice() else {
        return Err("needs one comparison, e.g. setp.lt.s32".into());
    };
    let ty = match p.ty {
        Some(Ty::F32) => CmpTy::F32,
        Some(Ty::Int(t)) => CmpTy::Int(t),
        _ => return Err("needs an integer or f32 type".into()),
    };
    let class = p.class()?;
    let unsigned = matches!(ty, CmpTy::Int(IntTy::U32 | IntTy::U64));
    let float = ty == CmpTy::F32;
    let cmp = match *name {
        "eq" => Cmp::Eq,
        "ne" => Cmp::Ne,
        "lt" => Cmp::Lt,
        "le" => Cmp::Le,
        "gt" => Cmp::Gt,
        "ge" => Cmp::Ge,
        "lo" if unsigned => Cmp::Lt,
        "ls" if unsigned => Cmp::Le,
        "hi" if unsigned => Cmp::Gt,
        "hs" if unsigned => Cmp::Ge,
        "equ" if float => Cmp::Equ,
        "neu" if float => Cmp::Neu,
        "ltu" if float => Cmp::Ltu,
        "leu" if float => Cmp::Leu,
        "gtu" if float => Cmp::Gtu,
        "geu" if float => Cmp::Geu,
        "num" if float => Cmp::Num,
        "nan" if float => Cmp::Nan,
        other => return Err(format!("comparison `{other}` does not apply to this type")),
    };
    Ok(Op::Setp {
        cmp,
        ty,
        d: dst(&ops[0], RegClass::Pred)?,
        a: src(&ops[1], class)?,
        b: src(&ops[2], class)?,
    })
}

/// `cvt[.rnd].dst.src`: the two types are the last two parts, so this does its own split.
pub(super) fn cvt(opcode: &str, ops: &[Operand]) -> Result<Op, String> {
    count(ops, 2)?;
    let parts: Vec<&str> = opcode.split('.').collect();
    let (mods, types) = parts[1..].split_at(parts.len().saturating_sub(3));
    let (to, from) = match types {
        [to, from] => (
            ty_of(to).ok_or(format!("bad type `.{to}`"))?,
            ty_of(from).ok_or(format!("bad type `.{from}`"))?,
        ),
        _ => return Err("needs two types".into()),
    };
    check_class("cvt", &[], types[0])?;
    check_class("cvt", &[], types[1])?;
    let round = |m: &[&str]| -> Result<Round, String> {
        match m {
            ["rzi"] => Ok(Round::Zero),
            ["rmi"] => Ok(Round::Down),
            ["rpi"] => Ok(Round::Up),
            ["rni"] => Ok(Round::NearestEven),
            _ => Err("needs .rzi, .rmi, .rpi or .rni".into()),
        }
    };
    let kind = match (to, from) {
        (Ty::F32, Ty::Int(t)) => {
            only(mods, &[&["rn"]])?;
            Cvt::IntToF32(t)
        }
        (Ty::Int(t), Ty::F32) => Cvt::F32ToInt(round(mods)?, t),
        (Ty::F32, Ty::F32) => Cvt::F32Round(round(mods)?),
        (Ty::Int(to), Ty::Int(from)) => {
            only(mods, &[&[]])?;
            Cvt::Int { from, to }
        }
        _ => return Err("unsupported conversion".into()),
    };
    let class = |t: &str| RegClass::of(t).ok_or_else(|| format!("bad type `.{t}`"));
    Ok(Op::Cvt {
        cvt: kind,
        d: dst(&ops[0], class(types[0])?)?,
        a: src(&ops[1], class(types[1])?)?,
    })
}

pub(super) fn atom(returns: bool, p: &Parts, ops: &[Operand]) -> Result<Op, String> {
    let op = match (p.mods.as_slice(), p.raw) {
        (["global", "add"], "f32") => AtomOp::AddF32,
        (["global", "add"], "u32") => AtomOp::AddU32,
        (["global", "max"], "u32") if returns => AtomOp::MaxU32,
        _ => return Err("unsupported atomic form".into()),
    };
    let class = p.class()?;
    let rest = if returns {
        count(ops, 3)?;
        &ops[1..]
    } else {
        count(ops, 2)?;
        ops
    };
    let addr = match &rest[0] {
        Operand::Addr(a, None) => *a,
        _ => return Err("needs a global address `[%rd]`".into()),
    };
    Ok(Op::Atom {
        op,
        d: if returns {
            Some(dst(&ops[0], class)?)
        } else {
            None
        },
        addr,
        b: src(&rest[1], class)?,
    })
}
