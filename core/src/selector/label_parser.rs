//! The string syntax of label selectors, parsed the way Kubernetes' `labels.Parse` does:
//!
//! ```text
//! selector    ::= requirement | requirement "," selector
//! requirement ::= ["!"] KEY [ set-based | exact ]
//! set-based   ::= ("in" | "notin") "(" VALUE ("," VALUE)* ")"
//! exact       ::= ("=" | "==" | "!=" | ">" | "<") VALUE
//! ```
//!
//! Whitespace separates tokens and is otherwise ignored; `in` and `notin` are keywords
//! only where an operator is expected, so they are valid keys and values. Values may be
//! empty (`x=`, `x in (a,)`, `x in ()`).

use std::fmt;

use super::label::{Operator, Requirement};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    End,
    OpenParen,
    CloseParen,
    Comma,
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
    Identifier(String),
}

impl Token {
    /// The text the token was read from, for error messages.
    fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::OpenParen => "(",
            Token::CloseParen => ")",
            Token::Comma => ",",
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Identifier(s) => s,
        }
    }

    /// Whether the token can be a key or value: an identifier, or `in`/`notin` read
    /// where a value is expected.
    fn as_identifier(&self) -> Option<&str> {
        match self {
            Token::Identifier(s) => Some(s),
            Token::In => Some("in"),
            Token::NotIn => Some("notin"),
            _ => None,
        }
    }
}

/// A parse failure; its text is the message of the `BadRequest`.
#[derive(Debug)]
pub(super) enum ParseError {
    /// The token stream does not follow the grammar.
    Syntax(String),
    /// A requirement failed to parse or validate.
    Requirement(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax(msg) => f.write_str(msg),
            ParseError::Requirement(msg) => write!(f, "unable to parse requirement: {msg}"),
        }
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits the input into tokens; the last one is always [`Token::End`].
fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = input;
    loop {
        rest = rest.trim_start_matches(is_whitespace);
        let Some(first) = rest.chars().next() else {
            tokens.push(Token::End);
            return tokens;
        };
        if is_special(first) {
            // The longest operator wins: `!=` and `==` over `!` and `=`.
            let two = rest.get(..2);
            let (token, len) = match (first, two) {
                (_, Some("!=")) => (Token::NotEquals, 2),
                (_, Some("==")) => (Token::DoubleEquals, 2),
                ('=', _) => (Token::Equals, 1),
                ('!', _) => (Token::Not, 1),
                ('(', _) => (Token::OpenParen, 1),
                (')', _) => (Token::CloseParen, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::GreaterThan, 1),
                _ => (Token::LessThan, 1),
            };
            tokens.push(token);
            rest = &rest[len..];
        } else {
            let end = rest
                .find(|c| is_whitespace(c) || is_special(c))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            tokens.push(match word {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier(word.to_owned()),
            });
            rest = &rest[end..];
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.position).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.position += 1;
        token
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, ParseError> {
        let mut requirements = Vec::new();
        loop {
            let token = self.peek().clone();
            if token == Token::End {
                return Ok(requirements);
            }
            if token.as_identifier().is_none() && token != Token::Not {
                return Err(ParseError::Syntax(format!(
                    "found '{}', expected: !, identifier, or 'end of string'",
                    token.literal()
                )));
            }
            requirements.push(self.requirement().map_err(ParseError::Requirement)?);
            match self.next() {
                Token::End => return Ok(requirements),
                Token::Comma => {
                    let after = self.peek();
                    if after.as_identifier().is_none() && *after != Token::Not {
                        return Err(ParseError::Syntax(format!(
                            "found '{}', expected: identifier after ','",
                            after.literal()
                        )));
                    }
                }
                other => {
                    return Err(ParseError::Syntax(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        other.literal()
                    )))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut token = self.next();
        let negated = token == Token::Not;
        if negated {
            token = self.next();
        }
        let Some(key) = token.as_identifier().map(str::to_owned) else {
            return Err(format!("found '{}', expected: identifier", token.literal()));
        };
        // `!key` is complete by itself; whatever follows is the selector's business
        // (`!x=a` fails there with "expected: ',' or 'end of string'").
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, Vec::new())
                .map_err(|e| e.message);
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(&key, Operator::Exists, Vec::new()).map_err(|e| e.message);
        }
        let operator = match self.next() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ))
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        Requirement::new(&key, operator, values).map_err(|e| e.message)
    }

    /// `( v1, v2, ... )`; empty entries are the empty value.
    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let open = self.next();
        if open != Token::OpenParen {
            return Err(format!("found '{}' expected: '('", open.literal()));
        }
        let mut values = Vec::new();
        // Whether the next token may be a value: after `(` or `,`.
        let mut expect_value = true;
        loop {
            let token = self.next();
            if let Some(v) = token.as_identifier() {
                if !expect_value {
                    return Err(format!("found '{v}', expected: ',' or ')'"));
                }
                values.push(v.to_owned());
                expect_value = false;
                continue;
            }
            match token {
                Token::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Token::CloseParen => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other if expect_value => {
                    return Err(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        other.literal()
                    ))
                }
                other => return Err(format!("found '{}', expected: ',' or ')'", other.literal())),
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; empty when the requirement ends.
    fn exact_value(&mut self) -> Result<String, String> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        let token = self.next();
        token
            .as_identifier()
            .map(str::to_owned)
            .ok_or_else(|| format!("found '{}', expected: identifier", token.literal()))
    }
}

/// Parses a selector string into its requirements, in input order.
pub(super) fn parse(input: &str) -> Result<Vec<Requirement>, ParseError> {
    Parser {
        tokens: tokenize(input),
        position: 0,
    }
    .selector()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_like_the_kubernetes_lexer() {
        use Token::*;
        let id = |s: &str| Identifier(s.to_owned());
        let cases: Vec<(&str, Vec<Token>)> = vec![
            ("", vec![]),
            (",", vec![Comma]),
            ("notin", vec![NotIn]),
            ("in", vec![In]),
            ("=", vec![Equals]),
            ("==", vec![DoubleEquals]),
            (">", vec![GreaterThan]),
            ("<", vec![LessThan]),
            ("!", vec![Not]),
            ("!=", vec![NotEquals]),
            ("(", vec![OpenParen]),
            (")", vec![CloseParen]),
            ("~", vec![id("~")]),
            ("||", vec![id("||")]),
            (
                "key in ( value )",
                vec![id("key"), In, OpenParen, id("value"), CloseParen],
            ),
            (
                "key in ( value1, value2 )",
                vec![
                    id("key"),
                    In,
                    OpenParen,
                    id("value1"),
                    Comma,
                    id("value2"),
                    CloseParen,
                ],
            ),
            ("!key", vec![Not, id("key")]),
            ("()", vec![OpenParen, CloseParen]),
            (
                "== != (), = notin",
                vec![
                    DoubleEquals,
                    NotEquals,
                    OpenParen,
                    CloseParen,
                    Comma,
                    Equals,
                    NotIn,
                ],
            ),
            ("key>2", vec![id("key"), GreaterThan, id("2")]),
            ("===", vec![DoubleEquals, Equals]),
            ("a=函数", vec![id("a"), Equals, id("函数")]),
        ];
        for (input, mut want) in cases {
            want.push(End);
            assert_eq!(tokenize(input), want, "{input:?}");
        }
    }
}
