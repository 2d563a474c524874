//! Reading one `.entry`: its parameters (laid out as the driver lays out the parameter block),
//! its register and shared declarations, its labels, and its statements, decoded once every
//! declaration is known.

use super::Parser;
use crate::decode::decode;
use crate::lex::Tok;
use crate::operand::RegClass;
use crate::program::{Entry, Instr, Param, Reg, SHARED_BASE, SPECIAL_REGS, SPECIALS};
use crate::scope::Scope;

/// `x` rounded up to a multiple of `align` (saturating: a huge layout then fails the launch's
/// shared-memory limit instead of overflowing).
fn align_up(x: u32, align: u32) -> u32 {
    x.checked_next_multiple_of(align).unwrap_or(u32::MAX)
}

/// Bytes of a parameter of type `ty` (with its dot).
fn param_size(ty: &str) -> Option<u32> {
    match ty {
        ".u32" | ".s32" | ".b32" | ".f32" => Some(4),
        ".u64" | ".s64" | ".b64" => Some(8),
        _ => None,
    }
}

fn shared_elem_size(ty: &str) -> Option<u32> {
    match ty {
        ".b8" => Some(1),
        ".f32" | ".u32" | ".b32" | ".s32" => Some(4),
        _ => None,
    }
}

impl Parser {
    /// `.visible .entry name(.param .u64 a, ...) { body }`, seeing the module's `externs`.
    pub(super) fn entry(&mut self, externs: &[(String, u32)]) -> Result<Entry, String> {
        if self.peek_word().as_deref() == Some(".visible") {
            self.pos += 1;
        }
        self.expect_word(".entry")?;
        let name = self.word()?;
        let mut scope = Scope::default();
        let mut params = Vec::new();
        let mut param_bytes = 0u32;
        self.expect('(')?;
        if !self.eat(')') {
            loop {
                self.expect_word(".param")?;
                let line = self.line();
                let ty = self.word()?;
                let size = param_size(&ty)
                    .ok_or_else(|| format!("line {line}: unsupported parameter type `{ty}`"))?;
                let pname = self.word()?;
                let offset = align_up(param_bytes, size);
                param_bytes = offset + size;
                let param = Param {
                    name: pname.clone(),
                    size,
                    offset,
                    float: ty == ".f32",
                };
                if scope.params.insert(pname.clone(), param.clone()).is_some() {
                    return Err(format!("line {line}: parameter `{pname}` declared twice"));
                }
                params.push(param);
                if self.eat(')') {
                    break;
                }
                self.expect(',')?;
            }
        }
        for (i, special) in SPECIALS.iter().enumerate() {
            scope
                .regs
                .insert(special.to_string(), (i as Reg, RegClass::I32));
        }
        let mut regs = SPECIAL_REGS;
        let mut shared_end = 0u32;
        let mut statements = Vec::new();
        self.expect('{')?;
        loop {
            let line = self.line();
            if self.eat('}') {
                break;
            }
            match self.peek() {
                None => return Err(format!("line {line}: missing `}}` at the end of `{name}`")),
                Some(Tok::Punct('@')) => statements.push(self.statement(&scope)?),
                Some(Tok::Punct(c)) => return Err(format!("line {line}: unexpected `{c}`")),
                Some(Tok::Word(w)) => {
                    let w = w.clone();
                    if w == ".reg" {
                        self.pos += 1;
                        self.reg_decl(&mut scope, &mut regs)?;
                    } else if w == ".shared" {
                        self.pos += 1;
                        let (sname, align, size) = self.shared_decl(false)?;
                        let offset = align_up(shared_end, align);
                        shared_end = offset
                            .checked_add(size)
                            .ok_or_else(|| format!("line {line}: too much shared memory"))?;
                        self.declare_shared(&mut scope, sname, offset, line)?;
                    } else if w == ".extern" {
                        return Err(format!(
                            "line {line}: declare `.extern .shared` arrays at module scope, \
                             before the entry (ptxas rejects them inside one)"
                        ));
                    } else if w.starts_with('.') {
                        return Err(format!("line {line}: unsupported directive `{w}`"));
                    } else if self.tokens.get(self.pos + 1).map(|t| &t.tok)
                        == Some(&Tok::Punct(':'))
                    {
                        self.pos += 2;
                        let index = statements.len() as u32;
                        if scope.labels.insert(w.clone(), index).is_some() {
                            return Err(format!("line {line}: label `{w}` defined twice"));
                        }
                    } else {
                        statements.push(self.statement(&scope)?);
                    }
                }
            }
        }
        let align = externs.iter().map(|e| e.1).max().unwrap_or(1);
        let static_shared = align_up(shared_end, align);
        for (dname, _) in externs {
            self.declare_shared(&mut scope, dname.clone(), static_shared, self.line())?;
        }
        let code = statements
            .into_iter()
            .map(|s| {
                let op = decode(&s.opcode, s.operands, &scope)
                    .map_err(|e| format!("line {}: `{}`: {e}", s.line, s.opcode))?;
                Ok(Instr {
                    guard: s.guard,
                    op,
                    line: s.line,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Entry {
            name,
            params,
            param_bytes,
            regs,
            static_shared,
            code,
        })
    }

    fn declare_shared(
        &self,
        scope: &mut Scope,
        name: String,
        offset: u32,
        line: u32,
    ) -> Result<(), String> {
        if scope
            .shared
            .insert(name.clone(), SHARED_BASE + offset as u64)
            .is_some()
        {
            return Err(format!("line {line}: shared array `{name}` declared twice"));
        }
        Ok(())
    }

    /// After `.reg`: `.type %name<N>;` or `.type %a, %b;`.
    fn reg_decl(&mut self, scope: &mut Scope, regs: &mut u32) -> Result<(), String> {
        let line = self.line();
        let ty = self.word()?;
        let class = ty
            .strip_prefix('.')
            .and_then(RegClass::of)
            .ok_or_else(|| format!("line {line}: unsupported register type `{ty}`"))?;
        loop {
            let line = self.line();
            let base = self.word()?;
            if !base.starts_with('%') {
                return Err(format!(
                    "line {line}: register names start with `%`: `{base}`"
                ));
            }
            let names: Vec<String> = if self.eat('<') {
                let n = self.number()?;
                self.expect('>')?;
                (0..n).map(|i| format!("{base}{i}")).collect()
            } else {
                vec![base]
            };
            for name in names {
                if scope.regs.insert(name.clone(), (*regs, class)).is_some() {
                    return Err(format!("line {line}: register `{name}` declared twice"));
                }
                *regs += 1;
            }
            if self.eat(';') {
                return Ok(());
            }
            self.expect(',')?;
        }
    }

    /// After `.shared`: `[.align A] .type name[N];` (or `name[]` when `dynamic`). Returns the
    /// name, alignment and size in bytes.
    pub(super) fn shared_decl(&mut self, dynamic: bool) -> Result<(String, u32, u32), String> {
        let line = self.line();
        let mut ty = self.word()?;
        let mut align = None;
        if ty == ".align" {
            let a = self.number()?;
            if !a.is_power_of_two() {
                return Err(format!("line {line}: alignment {a} is not a power of two"));
            }
            align = Some(a);
            ty = self.word()?;
        }
        let elem = shared_elem_size(&ty)
            .ok_or_else(|| format!("line {line}: unsupported shared type `{ty}`"))?;
        let name = self.word()?;
        self.expect('[')?;
        let count = if dynamic { 0 } else { self.number()? };
        self.expect(']')?;
        self.expect(';')?;
        let size = count
            .checked_mul(elem)
            .ok_or_else(|| format!("line {line}: shared array `{name}` is too large"))?;
        Ok((name, align.unwrap_or(elem).max(elem), size))
    }
}
