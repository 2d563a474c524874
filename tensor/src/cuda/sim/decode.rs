//! One instruction statement (opcode word and parsed operands) to an [`Op`]: checks the opcode,
//! its modifiers, its type and every operand against the subset in `cuda/mod.rs` (and against
//! what ptxas accepts), and resolves names (labels, shared arrays, parameters).

use super::operand::{Operand, RegClass, count, dst, src};
use super::parse::Scope;
use super::program::{
    Addr, AtomOp, Cmp, CmpTy, Cvt, FOp, FUnOp, IntOp, IntTy, IntUnOp, MadOp, Op, Round, Space, Src,
};

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

/// The bits a value of `ty` keeps in its register (32-bit values live zero-extended).
fn mask_of(ty: Ty) -> u64 {
    match ty {
        Ty::Int(t) if t.is_64() => u64::MAX,
        Ty::Pred => 1,
        _ => 0xFFFF_FFFF,
    }
}

/// An opcode split into its base (`ld`), modifiers (`global`, `v4`) and type suffix (`f32`).
struct Parts<'a> {
    base: &'a str,
    mods: Vec<&'a str>,
    ty: Option<Ty>,
    /// The type suffix as written (`b32`, `u32`, ...): ptxas tells `.b` from `.u` types.
    raw: &'a str,
}

impl Parts<'_> {
    /// The type, or an error for an untyped opcode that needs one.
    fn ty(&self) -> Result<Ty, String> {
        self.ty.ok_or_else(|| "needs a type".to_string())
    }
    /// The operand class of the type suffix.
    fn class(&self) -> Result<RegClass, String> {
        RegClass::of(self.raw).ok_or_else(|| "needs a type".to_string())
    }
    /// The integer type, or an error.
    fn int(&self) -> Result<IntTy, String> {
        match self.ty {
            Some(Ty::Int(t)) => Ok(t),
            _ => Err("needs an integer type".into()),
        }
    }
}

/// Splits `ld.global.v4.f32` into `ld`, `[global, v4]` and `f32`.
fn split(opcode: &str) -> Parts<'_> {
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
fn check_class(base: &str, mods: &[&str], raw: &str) -> Result<(), String> {
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

fn only(mods: &[&str], allowed: &[&[&str]]) -> Result<(), String> {
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
fn wide(class: RegClass) -> RegClass {
    match class {
        RegClass::B32 => RegClass::B64,
        _ => RegClass::I64,
    }
}

/// Decodes one instruction.
pub fn decode(opcode: &str, ops: Vec<Operand>, scope: &Scope) -> Result<Op, String> {
    let p = split(opcode);
    let mods = p.mods.as_slice();
    if p.base != "cvt" {
        check_class(p.base, mods, p.raw)?;
    }
    match p.base {
        "mov" => {
            only(mods, &[&[]])?;
            let (ty, class) = (p.ty()?, p.class()?);
            count(&ops, 2)?;
            let a = match &ops[1] {
                Operand::Name(n)
                    if matches!(
                        class,
                        RegClass::I32 | RegClass::B32 | RegClass::I64 | RegClass::B64
                    ) =>
                {
                    Src::Imm(
                        scope
                            .shared(n)
                            .ok_or(format!("`{n}` is not a shared array"))?,
                    )
                }
                op => src(op, class)?,
            };
            Ok(Op::Mov {
                d: dst(&ops[0], class)?,
                a,
                mask: mask_of(ty),
            })
        }
        "cvta" => {
            only(mods, &[&["to", "global"]])?;
            if p.raw != "u64" {
                return Err("only cvta.to.global.u64".into());
            }
            count(&ops, 2)?;
            Ok(Op::Mov {
                d: dst(&ops[0], RegClass::I64)?,
                a: src(&ops[1], RegClass::I64)?,
                mask: u64::MAX,
            })
        }
        "ld" | "st" => memory(p.base == "ld", &p, &ops, scope),
        "add" | "sub" | "mul" | "div" | "rem" | "min" | "max" | "and" | "or" | "xor" | "shl"
        | "shr" => binary(&p, &ops),
        "neg" | "abs" | "not" | "sqrt" | "rcp" | "rsqrt" | "ex2" | "lg2" => unary(&p, &ops),
        "mad" => {
            let op = match mods {
                ["lo"] => MadOp::Lo,
                ["hi"] => MadOp::Hi,
                ["wide"] => MadOp::Wide,
                _ => return Err("needs .lo, .hi or .wide".into()),
            };
            let (ty, class) = (p.int()?, p.class()?);
            if op == MadOp::Wide && ty.is_64() {
                return Err("mad.wide takes 32-bit operands".into());
            }
            let out = if op == MadOp::Wide {
                wide(class)
            } else {
                class
            };
            count(&ops, 4)?;
            Ok(Op::Mad {
                op,
                ty,
                d: dst(&ops[0], out)?,
                a: src(&ops[1], class)?,
                b: src(&ops[2], class)?,
                c: src(&ops[3], out)?,
            })
        }
        "fma" => {
            only(mods, &[&["rn"]])?;
            if p.ty != Some(Ty::F32) {
                return Err("only fma.rn.f32".into());
            }
            count(&ops, 4)?;
            Ok(Op::Fma {
                d: dst(&ops[0], RegClass::F32)?,
                a: src(&ops[1], RegClass::F32)?,
                b: src(&ops[2], RegClass::F32)?,
                c: src(&ops[3], RegClass::F32)?,
            })
        }
        "setp" => setp(&p, &ops),
        "selp" => {
            only(mods, &[&[]])?;
            let (ty, class) = (p.ty()?, p.class()?);
            if ty == Ty::Pred {
                return Err("selp has no .pred form".into());
            }
            count(&ops, 4)?;
            Ok(Op::Selp {
                d: dst(&ops[0], class)?,
                a: src(&ops[1], class)?,
                b: src(&ops[2], class)?,
                p: Src::Reg(dst(&ops[3], RegClass::Pred)?),
                mask: mask_of(ty),
            })
        }
        "cvt" => cvt(opcode, &ops),
        "atom" | "red" => atom(p.base == "atom", &p, &ops),
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
fn memory(load: bool, p: &Parts, ops: &[Operand], scope: &Scope) -> Result<Op, String> {
    let mods = p.mods.as_slice();
    let ty = match p.ty {
        Some(t @ (Ty::Int(_) | Ty::F32)) => t,
        _ => return Err("needs a 32- or 64-bit type".into()),
    };
    let class = p.class()?;
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
            let param = scope.param(name).ok_or(format!("no parameter `{name}`"))?;
            if param.size != size {
                return Err(format!("parameter `{name}` has {} bytes", param.size));
            }
            return Ok(Op::LdParam {
                d: dst(data_op, class)?,
                offset: param.offset.wrapping_add(addr.offset as u32),
                size,
            });
        }
        ["global"] | ["global", "nc"] if load => (Space::Global, 1),
        ["global", "nc", v] | ["global", v] if load && v.starts_with('v') => {
            (Space::Global, vec_len(v)?)
        }
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
            *slot = dst(item, class)?;
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
            *slot = src(item, class)?;
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

fn binary(p: &Parts, ops: &[Operand]) -> Result<Op, String> {
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

fn unary(p: &Parts, ops: &[Operand]) -> Result<Op, String> {
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

fn setp(p: &Parts, ops: &[Operand]) -> Result<Op, String> {
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

fn atom(returns: bool, p: &Parts, ops: &[Operand]) -> Result<Op, String> {
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
