//! PTX text to a [`Module`]: the module header, entries, parameters, register and shared
//! declarations, labels and instruction statements. Turning one instruction statement into an
//! [`Op`](super::program::Op) is [`super::decode`]'s job.

use super::decode::decode;
use super::lex::{Tok, Token, tokenize};
use super::operand::{Operand, RegClass, RegRef};
use super::program::{Addr, Entry, Instr, Module, Param, Reg, SHARED_BASE, SPECIAL_REGS, SPECIALS};
use std::collections::HashMap;

/// Parses a whole module. Errors are `line N: what`.
pub fn parse_module(text: &str) -> Result<Module, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let mut entries = Vec::new();
    // `.extern .shared` arrays: declared at module scope (ptxas rejects them inside an entry);
    // every one of them names the start of the block's dynamic shared memory.
    let mut externs: Vec<(String, u32)> = Vec::new();
    while let Some(word) = p.peek_word() {
        match word.as_str() {
            ".extern" => {
                p.pos += 1;
                p.expect_word(".shared")?;
                let line = p.line();
                let (name, align, _) = p.shared_decl(true)?;
                if externs.iter().any(|(n, _)| *n == name) {
                    return Err(format!("line {line}: `{name}` declared twice"));
                }
                externs.push((name, align));
            }
            ".version" | ".target" | ".address_size" => {
                p.pos += 1;
                p.word()?;
                while p.eat(',') {
                    p.word()?;
                }
            }
            ".visible" | ".entry" => {
                let line = p.line();
                let entry = p.entry(&externs)?;
                if entries.iter().any(|e: &Entry| e.name == entry.name) {
                    return Err(format!("line {line}: entry `{}` defined twice", entry.name));
                }
                entries.push(entry);
            }
            other => return Err(p.err(&format!("unexpected `{other}` at module level"))),
        }
    }
    if p.pos < p.tokens.len() {
        return Err(p.err("unexpected token at module level"));
    }
    Ok(Module {
        entries,
        lines: text.lines().map(str::to_string).collect(),
    })
}

/// An instruction statement waiting to be decoded (after all declarations are known).
struct Statement {
    guard: Option<(Reg, bool)>,
    opcode: String,
    operands: Vec<Operand>,
    line: u32,
}

/// Names declared in one entry, for resolving operands.
#[derive(Default)]
pub struct Scope {
    /// Register names (special registers included) to their slot and declared type.
    regs: HashMap<String, (Reg, RegClass)>,
    /// Shared array names to their shared-window address.
    shared: HashMap<String, u64>,
    params: HashMap<String, Param>,
    /// Label names to the index of the instruction they precede.
    labels: HashMap<String, u32>,
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

/// A cursor over the module's tokens.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

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

fn parse_u32(word: &str) -> Option<u32> {
    match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => word.parse().ok(),
    }
}

impl Parser {
    fn line(&self) -> u32 {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map_or(1, |t| t.line)
    }

    fn err(&self, msg: &str) -> String {
        format!("line {}: {msg}", self.line())
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.clone()),
            _ => None,
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected `{c}`")))
        }
    }

    fn word(&mut self) -> Result<String, String> {
        match self.peek_word() {
            Some(w) => {
                self.pos += 1;
                Ok(w)
            }
            None => Err(self.err("expected a word")),
        }
    }

    fn expect_word(&mut self, want: &str) -> Result<(), String> {
        let line = self.line();
        let got = self.word()?;
        if got == want {
            Ok(())
        } else {
            Err(format!("line {line}: expected `{want}`, found `{got}`"))
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        let line = self.line();
        let w = self.word()?;
        parse_u32(&w).ok_or_else(|| format!("line {line}: expected a number, found `{w}`"))
    }

    /// `.visible .entry name(.param .u64 a, ...) { body }`, seeing the module's `externs`.
    fn entry(&mut self, externs: &[(String, u32)]) -> Result<Entry, String> {
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
    fn shared_decl(&mut self, dynamic: bool) -> Result<(String, u32, u32), String> {
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

    /// `[@[!]%p] opcode operand, ...;`
    fn statement(&mut self, scope: &Scope) -> Result<Statement, String> {
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
