//! One instruction statement (opcode word and parsed operands) to an [`Op`]: checks the opcode,
//! its modifiers, its type and every operand against the subset in the crate's documentation
//! (and against what ptxas accepts), and resolves names (labels, shared arrays, parameters).
//!
//! This file decodes moves, `mad`, `fma`, `selp` and control flow itself, and hands loads and
//! stores to `load_store.rs`, the rest of the arithmetic to `arith.rs`; `opcode.rs` splits and
//! checks the opcode word for all of them.

mod arith;
mod load_store;
mod opcode;

use crate::kinds::MadOp;
use crate::operand::{Operand, RegClass, count, dst, src};
use crate::program::{Op, Src};
use crate::scope::Scope;
use arith::{atom, binary, cvt, setp, unary};
use load_store::memory;
use opcode::{Ty, check_class, mask_of, only, split, wide};

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
