//! Splits PTX text into tokens, dropping `//` and `/* */` comments and keeping line numbers.

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A run of letters, digits and `_ . % $`: directives (`.reg`), opcodes (`ld.global.f32`),
    /// registers (`%r1`, `%tid.x`), names, labels and numbers (`42`, `0x1F`, `0f3F800000`).
    Word(String),
    /// Any other single character: `( ) { } [ ] , ; : + - < > @ !`.
    Punct(char),
}

/// A token and the 1-based line it is on.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its line.
    pub line: u32,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '%' | '$')
}

/// Tokenizes `text`. Fails (with the line) only on an unterminated block comment or a character
/// that PTX does not use.
pub fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1u32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let start = line;
            i += 2;
            loop {
                match chars.get(i) {
                    None => return Err(format!("line {start}: unterminated /* comment")),
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => line += 1,
                    Some(_) => {}
                }
                i += 1;
            }
        } else if is_word_char(c) {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            let word = chars[start..i].iter().collect();
            tokens.push(Token {
                tok: Tok::Word(word),
                line,
            });
        } else if "(){}[],;:+-<>@!|".contains(c) {
            tokens.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        } else {
            return Err(format!("line {line}: unexpected character {c:?}"));
        }
    }
    Ok(tokens)
}
