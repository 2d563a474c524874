//! One instruction statement (opcode word and parsed operands) to an [`Op`]: checks the opcode,
//! its modifiers, types and operand kinds against the subset in `cuda/mod.rs`, and resolves
//! names (labels, shared arrays, parameters).

use super::parse::Scope;
use super::program::{
    Addr, AtomOp, Cmp, CmpTy, Cvt, FOp, FUnOp, IntOp, IntTy, IntUnOp, MadOp, Op, Reg, Round,
    Space, Src,
};

/// A parsed operand, before the instruction gives it a meaning.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A declared or special register.
    Reg(Reg),
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

/// The type suffix of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Int(IntTy),
    F32,
    Pred,
}

fn ty_of(s: &str) -> Option<Ty> {
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

fn mask_of(ty: Ty) -> u64 {
    match ty {
        Ty::Int(t) if t.is_64() => u64::MAX,
        Ty::Pred => 1,
        _ => 0xFFFF_FFFF,
    }
}

fn int_ty(ty: Option<Ty>) -> Result<IntTy, String> {
    match ty {
        Some(Ty::Int(t)) => Ok(t),
        _ => Err("needs an integer type".into()),
    }
}

fn dst(op: &Operand) -> Result<Reg, String> {
    match op {
        Operand::Reg(r) => Ok(*r),
        _ => Err("the destination must be a register".into()),
    }
}

/// A source operand of an integer-typed instruction.
fn src_int(op: &Operand) -> Result<Src, String> {
    match op {
        Operand::Reg(r) => Ok(Src::Reg(*r)),
        Operand::Int(v) => Ok(Src::Imm(*v)),
        _ => Err("integer operands are registers or integer immediates".into()),
    }
}

/// A source operand of an f32-typed instruction.
fn src_f32(op: &Operand) -> Result<Src, String> {
    match op {
        Operand::Reg(r) => Ok(Src::Reg(*r)),
        Operand::F32(v) => Ok(Src::Imm(*v)),
        _ => Err("f32 operands are registers or 0fXXXXXXXX immediates".into()),
    }
}

fn src_of(ty: Ty, op: &Operand) -> Result<Src, String> {
    match ty {
        Ty::F32 => src_f32(op),
        _ => src_int(op),
    }
}

fn count(ops: &[Operand], n: usize) -> Result<(), String> {
    if ops.len() == n {
        Ok(())
    } else {
        Err(format!("takes {n} operands, found {}", ops.len()))
    }
}

/// Splits off the modifiers this decoder understands from the type suffix.
struct Parts<'a> {
    base: &'a str,
    mods: Vec<&'a str>,
    ty: Option<Ty>,
}

fn split(opcode: &str) -> Parts<'_> {
    let mut it = opcode.split('.');
    let base = it.next().unwrap_or("");
    let mut mods: Vec<&str> = it.collect();
    let ty = mods.last().and_then(|s| ty_of(s));
    if ty.is_some() {
        mods.pop();
    }
    Parts { base, mods, ty }
}

fn only(mods: &[&str], allowed: &[&[&str]]) -> Result<(), String> {
    if allowed.iter().any(|a| a == &mods) {
        Ok(())
    } else {
        Err(format!("unsupported modifiers `.{}`", mods.join(".")))
    }
}

/// Decodes one instruction.
pub fn decode(opcode: &str, ops: Vec<Operand>, scope: &Scope) -> Result<Op, String> {
    let p = split(opcode);
    let mods = p.mods.as_slice();
    match p.base {
        "mov" => {
            only(mods, &[&[]])?;
            let ty = p.ty.ok_or("needs a type")?;
            count(&ops, 2)?;
            let a = match (&ops[1], ty) {
                (Operand::Name(n), Ty::Int(t)) if !matches!(t, IntTy::S32 | IntTy::S64) => {
                    Src::Imm(scope.shared(n).ok_or(format!("`{n}` is not a shared array"))?)
                }
                (Operand::F32(v), Ty::Int(IntTy::U32)) => Src::Imm(*v),
                (op, _) => src_of(ty, op)?,
            };
            Ok(Op::Mov {
                d: dst(&ops[0])?,
                a,
                mask: mask_of(ty),
            })
        }
        "cvta" => {
            only(mods, &[&["to", "global"]])?;
            if p.ty != Some(Ty::Int(IntTy::U64)) {
                return Err("only cvta.to.global.u64".into());
            }
            count(&ops, 2)?;
            Ok(Op::Mov {
                d: dst(&ops[0])?,
                a: src_int(&ops[1])?,
                mask: u64::MAX,
            })
        }
        "ld" | "st" => memory(p.base == "ld", mods, p.ty, &ops, scope),
        "add" | "sub" | "mul" | "div" | "rem" | "min" | "max" | "and" | "or" | "xor" | "shl"
        | "shr" => binary(p.base, mods, p.ty, &ops),
        "neg" | "abs" | "not" | "sqrt" | "rcp" | "rsqrt" | "ex2" | "lg2" => {
            unary(p.base, mods, p.ty, &ops)
        }
        "mad" => {
            let op = match mods {
                ["lo"] => MadOp::Lo,
                ["hi"] => MadOp::Hi,
                ["wide"] => MadOp::Wide,
                _ => return Err("needs .lo, .hi or .wide".into()),
            };
            let ty = int_ty(p.ty)?;
            if op == MadOp::Wide && ty.is_64() {
                return Err("mad.wide takes 32-bit operands".into());
            }
            count(&ops, 4)?;
            Ok(Op::Mad {
                op,
                ty,
                d: dst(&ops[0])?,
                a: src_int(&ops[1])?,
                b: src_int(&ops[2])?,
                c: src_int(&ops[3])?,
            })
        }
        "fma" => {
            only(mods, &[&["rn"]])?;
            if p.ty != Some(Ty::F32) {
                return Err("only fma.rn.f32".into());
            }
            count(&ops, 4)?;
            Ok(Op::Fma {
                d: dst(&ops[0])?,
                a: src_f32(&ops[1])?,
                b: src_f32(&ops[2])?,
                c: src_f32(&ops[3])?,
            })
        }
        "setp" => setp(mods, p.ty, &ops),
        "selp" => {
            only(mods, &[&[]])?;
            let ty = p.ty.ok_or("needs a type")?;
            if ty == Ty::Pred {
                return Err("selp has no .pred form".into());
            }
            count(&ops, 4)?;
            Ok(Op::Selp {
                d: dst(&ops[0])?,
                a: src_of(ty, &ops[1])?,
                b: src_of(ty, &ops[2])?,
                p: Src::Reg(dst(&ops[3]).map_err(|_| "the selector must be a predicate")?),
                mask: mask_of(ty),
            })
        }
        "cvt" => cvt(opcode, &ops),
        "atom" | "red" => atom(p.base == "atom", mods, p.ty, &ops),
        "bra" => {
            only(mods, &[&[], &["uni"]])?;
            count(&ops, 1)?;
            match &ops[0] {
                Operand::Name(label) => Ok(Op::Bra {
                    target: scope
                        .label(label)
                        .ok_or(format!("no label `{label}` in this entry"))?,
                }),
                _ => Err("the target must be a label".into()),
            }
        }
        "bar" => {
            only(mods, &[&["sync"]])?;
            if ops != [Operand::Int(0)] {
                return Err("only `bar.sync 0`".into());
            }
            Ok(Op::Bar)
        }
        "ret" | "exit" => {
            only(mods, &[&[]])?;
            count(&ops, 0)?;
            Ok(Op::Exit)
        }
        _ => Err("not in the simulator's PTX subset".into()),
    }
}

/// `ld.param`, `ld.global[.nc]`, `ld.shared`, `st.global`, `st.shared`, scalar or `.v2`/`.v4`.
fn memory(
    load: bool,
    mods: &[&str],
    ty: Option<Ty>,
    ops: &[Operand],
    scope: &Scope,
) -> Result<Op, String> {
    let ty = match ty {
        Some(t @ (Ty::Int(_) | Ty::F32)) => t,
        _ => return Err("needs a 32- or 64-bit type".into()),
    };
    let size = if mask_of(ty) == u64::MAX { 8 } else { 4 };
    count(ops, 2)?;
    let (addr_op, data_op) = if load {
        (&ops[1], &ops[0])
    } else {
        (&ops[0], &ops[1])
    };
    let (addr, name) = match addr_op {
        Operand::Addr(a, n) => (*a, n.as_deref()),
        _ => return Err("needs an address `[...]`".into()),
    };
    let (space, n) = match mods {
        ["param"] if load => {
            let name = name.ok_or("ld.param reads a parameter by name")?;
            let param = scope
                .param(name)
                .ok_or(format!("no parameter `{name}`"))?;
            if param.size != size {
                return Err(format!("parameter `{name}` has {} bytes", param.size));
            }
            return Ok(Op::LdParam {
                d: dst(data_op)?,
                offset: param.offset + addr.offset as u32,
                size,
            });
        }
        ["global"] | ["global", "nc"] if load => (Space::Global, 1),
        ["global", "nc", v] | ["global", v] if load && v.starts_with('v') => (Space::Global, vec_len(v)?),
        ["global"] => (Space::Global, 1),
        ["global", v] => (Space::Global, vec_len(v)?),
        ["shared"] => (Space::Shared, 1),
        ["shared", v] => (Space::Shared, vec_len(v)?),
        _ => return Err(format!("unsupported modifiers `.{}`", mods.join("."))),
    };
    if n > 1 && size != 4 {
        return Err("vectors are of 32-bit types only".into());
    }
    let addr = match name {
        None => addr,
        Some(name) if space == Space::Shared => Addr {
            base: None,
            offset: scope
                .shared(name)
                .ok_or(format!("`{name}` is not a shared array"))?
                .wrapping_add(addr.offset),
        },
        Some(name) => return Err(format!("`{name}` is not a global address")),
    };
    let items: Vec<Operand> = match data_op {
        Operand::Vector(items) if n > 1 => items.clone(),
        op if n == 1 => vec![op.clone()],
        _ => return Err(format!("needs {n} values in `{{...}}`")),
    };
    if items.len() != n as usize {
        return Err(format!("needs {n} values in `{{...}}`"));
    }
    if load {
        let mut d = [0; 4];
        for (slot, item) in d.iter_mut().zip(&items) {
            *slot = dst(item)?;
        }
        Ok(Op::Ld {
            space,
            size,
            d,
            n,
            addr,
        })
    } else {
        let mut a = [Src::Imm(0); 4];
        for (slot, item) in a.iter_mut().zip(&items) {
            *slot = src_of(ty, item)?;
        }
        Ok(Op::St {
            space,
            size,
            a,
            n,
            addr,
        })
    }
}

fn vec_len(v: &str) -> Result<u8, String> {
    match v {
        "v2" => Ok(2),
        "v4" => Ok(4),
        _ => Err(format!("unsupported modifier `.{v}`")),
    }
}

fn binary(base: &str, mods: &[&str], ty: Option<Ty>, ops: &[Operand]) -> Result<Op, String> {
    count(ops, 3)?;
    let d = dst(&ops[0])?;
    match ty {
        Some(Ty::F32) => {
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
                d,
                a: src_f32(&ops[1])?,
                b: src_f32(&ops[2])?,
            })
        }
        Some(Ty::Pred) => {
            let op = match (base, mods) {
                ("and", []) => IntOp::And,
                ("or", []) => IntOp::Or,
                ("xor", []) => IntOp::Xor,
                _ => return Err("unsupported .pred form".into()),
            };
            Ok(Op::Pred {
                op,
                d,
                a: Src::Reg(dst(&ops[1])?),
                b: Src::Reg(dst(&ops[2])?),
            })
        }
        Some(Ty::Int(ty)) => {
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
            Ok(Op::Int {
                op,
                ty,
                d,
                a: src_int(&ops[1])?,
                b: src_int(&ops[2])?,
            })
        }
        None => Err("needs a type".into()),
    }
}

fn unary(base: &str, mods: &[&str], ty: Option<Ty>, ops: &[Operand]) -> Result<Op, String> {
    count(ops, 2)?;
    let d = dst(&ops[0])?;
    match ty {
        Some(Ty::F32) => {
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
            Ok(Op::F32Un {
                op,
                d,
                a: src_f32(&ops[1])?,
            })
        }
        Some(Ty::Pred) if base == "not" && mods.is_empty() => Ok(Op::PredNot {
            d,
            a: Src::Reg(dst(&ops[1])?),
        }),
        Some(Ty::Int(ty)) => {
            let op = match (base, mods) {
                ("neg", []) => IntUnOp::Neg,
                ("abs", []) => IntUnOp::Abs,
                ("not", []) => IntUnOp::Not,
                _ => return Err("unsupported integer form".into()),
            };
            Ok(Op::IntUn {
                op,
                ty,
                d,
                a: src_int(&ops[1])?,
            })
        }
        _ => Err("unsupported type".into()),
    }
}

fn setp(mods: &[&str], ty: Option<Ty>, ops: &[Operand]) -> Result<Op, String> {
    count(ops, 3)?;
    let [name] = mods else {
        return Err("needs one comparison, e.g. setp.lt.s32".into());
    };
    let ty = match ty {
        Some(Ty::F32) => CmpTy::F32,
        Some(Ty::Int(t)) => CmpTy::Int(t),
        _ => return Err("needs an integer or f32 type".into()),
    };
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
    let src = |op| match ty {
        CmpTy::F32 => src_f32(op),
        CmpTy::Int(_) => src_int(op),
    };
    Ok(Op::Setp {
        cmp,
        ty,
        d: dst(&ops[0])?,
        a: src(&ops[1])?,
        b: src(&ops[2])?,
    })
}

/// `cvt[.rnd].dst.src`: the two types are the last two parts, so this does its own split.
fn cvt(opcode: &str, ops: &[Operand]) -> Result<Op, String> {
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
    Ok(Op::Cvt {
        cvt: kind,
        d: dst(&ops[0])?,
        a: src_of(from, &ops[1])?,
    })
}

fn atom(returns: bool, mods: &[&str], ty: Option<Ty>, ops: &[Operand]) -> Result<Op, String> {
    let op = match (mods, ty) {
        (["global", "add"], Some(Ty::F32)) => AtomOp::AddF32,
        (["global", "add"], Some(Ty::Int(IntTy::U32))) => AtomOp::AddU32,
        (["global", "max"], Some(Ty::Int(IntTy::U32))) if returns => AtomOp::MaxU32,
        _ => return Err("unsupported atomic form".into()),
    };
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
    let b = match op {
        AtomOp::AddF32 => src_f32(&rest[1])?,
        _ => src_int(&rest[1])?,
    };
    Ok(Op::Atom {
        op,
        d: if returns { Some(dst(&ops[0])?) } else { None },
        addr,
        b,
    })
}
