//! Reading one instruction statement: its guard, its opcode word and its operands (registers,
//! immediates, names, addresses, vectors), registers resolved through the entry's scope.

use super::Parser;
use crate::operand::{Operand, RegClass, RegRef};
use crate::program::{Addr, Reg};
use crate::scope::Scope;

/// An instruction statement waiting to be decoded (after all declarations are known).
pub(super) struct Statement {
    /// `@%p` (`Some((p, true))`) or `@!%p` (`Some((p, false))`).
    pub(super) guard: Option<(Reg, bool)>,
    /// The opcode word, e.g. `ld.global.v4.f32`.
    pub(super) opcode: String,
    /// The operands as written, registers resolved.
    pub(super) operands: Vec<Operand>,
    /// 1-based source line.
    pub(super) line: u32,
}

impl Parser {
    /// `[@[!]%p] opcode operand, ...;`
    pub(super) fn statement(&mut self, scope: &Scope) -> Result<Statement, String> {
        let line = self.line();
        let guard = if self.eat('@') {
            let negated = self.eat('!');
            let pline = self.line();
            let name = self.word()?;
            let reg = match scope.regs.get(&name) {
                Some(&(reg, RegClass::Pred)) => reg,
                Some(_) => return Err(format!("line {pline}: guard `{name}` is not a .pred")),
                None => return Err(format!("line {pline}: undeclared predicate `{name}`")),
            };
            Some((reg, !negated))
        } else {
            None
        };
        let opcode = self.word()?;
        let mut operands = Vec::new();
        if !self.eat(';') {
            loop {
                operands.push(self.operand(scope)?);
                if self.eat(';') {
                    break;
                }
                self.expect(',')?;
            }
        }
        Ok(Statement {
            guard,
            opcode,
            operands,
            line,
        })
    }

    fn operand(&mut self, scope: &Scope) -> Result<Operand, String> {
        let line = self.line();
        if self.eat('[') {
            let addr = self.address(scope)?;
            self.expect(']')?;
            return Ok(addr);
        }
        if self.eat('{') {
            let mut items = Vec::new();
            loop {
                items.push(self.operand(scope)?);
                if self.eat('}') {
                    break;
                }
                self.expect(',')?;
            }
            return Ok(Operand::Vector(items));
        }
        let negative = self.eat('-');
        let w = self.word()?;
        let found = if w.starts_with('%') && !negative {
            scope.regs.get(&w).map(|&(index, class)| {
                Operand::Reg(RegRef {
                    index,
                    class,
                    name: w.clone(),
                })
            })
        } else if w.starts_with(|c: char| c.is_ascii_digit()) {
            immediate(&w, negative)
        } else if !negative {
            Some(Operand::Name(w.clone()))
        } else {
            None
        };
        found.ok_or_else(|| {
            if w.starts_with('%') {
                format!("line {line}: undeclared register `{w}`")
            } else {
                format!("line {line}: bad operand `{w}`")
            }
        })
    }

    /// Inside `[...]`: `%reg`, `%reg+imm`, `name`, `name+imm` (the immediate may be negative).
    fn address(&mut self, scope: &Scope) -> Result<Operand, String> {
        let line = self.line();
        let w = self.word()?;
        let mut offset = 0u64;
        if self.eat('+') {
            let negative = self.eat('-');
            let iline = self.line();
            let n = self.word()?;
            match immediate(&n, negative) {
                Some(Operand::Int(v)) => offset = v,
                _ => return Err(format!("line {iline}: bad address offset `{n}`")),
            }
        }
        if w.starts_with('%') {
            let reg = match scope.regs.get(&w) {
                Some(&(_, RegClass::Pred | RegClass::F32)) => {
                    return Err(format!("line {line}: `{w}` cannot hold an address"));
                }
                Some(&(reg, _)) => reg,
                None => return Err(format!("line {line}: undeclared register `{w}`")),
            };
            Ok(Operand::Addr(
                Addr {
                    base: Some(reg),
                    offset,
                },
                None,
            ))
        } else if w.starts_with(|c: char| c.is_ascii_digit()) {
            match immediate(&w, false) {
                Some(Operand::Int(v)) => Ok(Operand::Addr(
                    Addr {
                        base: None,
                        offset: v.wrapping_add(offset),
                    },
                    None,
                )),
                _ => Err(format!("line {line}: bad address `{w}`")),
            }
        } else {
            Ok(Operand::Addr(Addr { base: None, offset }, Some(w)))
        }
    }
}

/// An integer (decimal or `0x` hex, possibly negated) or an f32 given as `0fXXXXXXXX`.
fn immediate(w: &str, negative: bool) -> Option<Operand> {
    if let Some(hex) = w.strip_prefix("0f").or_else(|| w.strip_prefix("0F")) {
        if hex.len() != 8 || negative {
            return None;
        }
        return u32::from_str_radix(hex, 16)
            .ok()
            .map(|b| Operand::F32(b as u64));
    }
    let magnitude = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => w.strip_suffix('U').unwrap_or(w).parse::<u64>().ok()?,
    };
    Some(Operand::Int(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    }))
}
