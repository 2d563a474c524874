//! PTX text to a [`Module`]: the module header and `.extern .shared` declarations here, each
//! entry's parameters, declarations and labels in `entry.rs`, each instruction statement and its
//! operands in `statement.rs`. This file also holds the `Parser`, a cursor over the tokens that
//! the other two extend. Turning one instruction statement into an [`Op`](crate::program::Op) is
//! [`crate::decode`]'s job.

mod entry;
mod statement;

use crate::lex::{Tok, Token, tokenize};
use crate::program::{Entry, Module};

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
/// A cursor over the module's tokens; `entry.rs` and `statement.rs` add the methods that read
/// their parts of the grammar.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
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
}
