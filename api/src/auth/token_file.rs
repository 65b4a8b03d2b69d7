//! Static bearer tokens, read from a CSV file in kube-apiserver's `--token-auth-file`
//! format: `token,user,uid,"group1,group2"` (the groups column is optional).

use std::collections::HashMap;
use std::path::Path;

use super::{with_authenticated_group, AuthOutcome, Authenticator, UserInfo};

/// Why a token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read token file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not `token,user,uid[,groups]`.
    #[error("token file line {line}: {reason}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Authenticates `Authorization: Bearer <token>` against a fixed set of tokens.
#[derive(Clone, Debug, Default)]
pub struct TokenFileAuthenticator {
    tokens: HashMap<String, UserInfo>,
}

impl TokenFileAuthenticator {
    /// Read the tokens from a CSV file.
    pub fn from_file(path: &Path) -> Result<TokenFileAuthenticator, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TokenFileAuthenticator::parse(&text)
    }

    /// Parse CSV text: one `token,user,uid[,"group1,group2"]` per line; blank lines and
    /// lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<TokenFileAuthenticator, TokenFileError> {
        let mut tokens = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason| TokenFileError::BadLine {
                line: index + 1,
                reason,
            };
            let fields = split_csv(line).ok_or_else(|| bad("unbalanced quotes"))?;
            if fields.len() < 3 {
                return Err(bad("expected token,user,uid[,groups]"));
            }
            if fields[0].is_empty() || fields[1].is_empty() {
                return Err(bad("token and user must not be empty"));
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                fields[0].clone(),
                UserInfo {
                    name: fields[1].clone(),
                    uid: fields[2].clone(),
                    groups: with_authenticated_group(groups),
                },
            );
        }
        Ok(TokenFileAuthenticator { tokens })
    }

    /// How many tokens are known.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no tokens are known.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

impl Authenticator for TokenFileAuthenticator {
    fn authenticate(&self, parts: &http::request::Parts) -> AuthOutcome {
        let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
            return AuthOutcome::NoCredentials;
        };
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
        else {
            return AuthOutcome::NoCredentials;
        };
        match self.tokens.get(token) {
            Some(user) => AuthOutcome::Authenticated(user.clone()),
            None => AuthOutcome::Rejected("invalid bearer token".into()),
        }
    }
}

/// Split one CSV line; fields may be double-quoted (with `""` for a quote).
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field).trim().to_string()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field.trim().to_string());
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>) -> http::request::Parts {
        let mut builder = http::Request::builder().uri("/api");
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn parses_kube_apiserver_format() {
        let auth = TokenFileAuthenticator::parse(
            "# comment\nsecret1,alice,uid-1,\"dev,ops\"\n\nsecret2,bob,uid-2\n",
        )
        .unwrap();
        assert_eq!(auth.len(), 2);
        match auth.authenticate(&parts(Some("Bearer secret1"))) {
            AuthOutcome::Authenticated(user) => {
                assert_eq!(user.name, "alice");
                assert_eq!(user.uid, "uid-1");
                assert_eq!(user.groups, vec!["dev", "ops", "system:authenticated"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_or_missing_tokens() {
        let auth = TokenFileAuthenticator::parse("secret,alice,1").unwrap();
        assert!(matches!(
            auth.authenticate(&parts(Some("Bearer nope"))),
            AuthOutcome::Rejected(_)
        ));
        assert_eq!(auth.authenticate(&parts(None)), AuthOutcome::NoCredentials);
        assert_eq!(
            auth.authenticate(&parts(Some("Basic YTpi"))),
            AuthOutcome::NoCredentials
        );
    }

    #[test]
    fn bad_lines() {
        assert!(TokenFileAuthenticator::parse("only,two").is_err());
        assert!(TokenFileAuthenticator::parse("t,u,1,\"unclosed").is_err());
        assert!(TokenFileAuthenticator::parse(",user,1").is_err());
    }
}
