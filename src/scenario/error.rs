//! Scenario errors that name the file, line, column and field.
//!
//! TOML and serde errors carry a byte span; validation errors carry a field path. Each is
//! turned into the other with the document's spanned tree, so every error says both where
//! and what.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Why a scenario could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioError {
    /// The file could not be read (missing, a directory, no permission). Exit code 66.
    NotFound { file: String, reason: String },
    /// The file was read but is not a valid scenario. Exit code 65.
    Invalid(Invalid),
}

/// A precise complaint about a scenario's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub file: String,
    /// 1-based line and column; 1:1 when the problem has no better place (a missing field).
    pub line: usize,
    pub column: usize,
    /// The field, as a path like `cluster.nodes` or `faults[1].node`; empty for syntax errors
    /// outside any field.
    pub field: String,
    pub message: String,
}

impl ScenarioError {
    /// The documented exit code: 66 for a file that cannot be read, 65 for a bad one.
    pub fn exit_code(&self) -> u8 {
        match self {
            ScenarioError::NotFound { .. } => 66,
            ScenarioError::Invalid(_) => 65,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::NotFound { file, reason } => {
                write!(f, "cannot read scenario file {file}: {reason}")
            }
            ScenarioError::Invalid(invalid) => invalid.fmt(f),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A field path, displayed as `faults[1].node`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Step>);

impl FieldPath {
    pub fn key(&self, key: &str) -> FieldPath {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        FieldPath(steps)
    }

    pub fn index(&self, index: usize) -> FieldPath {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        FieldPath(steps)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => write!(f, "{k}")?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A parsed document with spans, used only to place errors.
pub struct Located<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub root: Option<DeTable<'a>>,
}

impl<'a> Located<'a> {
    /// An error at byte `offset` of the text.
    pub fn at_offset(&self, offset: usize, field: String, message: String) -> ScenarioError {
        let (line, column) = line_column(self.text, offset);
        ScenarioError::Invalid(Invalid {
            file: self.file.to_owned(),
            line,
            column,
            field,
            message,
        })
    }

    /// An error about the field at `path`: placed at the value if present, else at the
    /// nearest enclosing field that is, else at 1:1.
    pub fn at_path(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        let offset = self.span_of(path).map_or(0, |span| span.start);
        self.at_offset(offset, path.to_string(), message.into())
    }

    /// Turn a TOML/serde error (which has a span) into one that also names the field.
    pub fn toml_error(&self, error: &toml::de::Error) -> ScenarioError {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().trim().replace('\n', "; ");
        // "missing field `x`" points at the table that lacks it (0..0 for the top level).
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let mut field = match (&self.root, span == (0..0) && missing.is_some()) {
            (Some(root), false) => path_at(root, span.start),
            _ => FieldPath::default(),
        };
        let message = match missing {
            Some(name) => {
                field = field.key(name);
                "missing: this field is required".to_owned()
            }
            None => message,
        };
        self.at_offset(span.start, field.to_string(), message)
    }

    /// The value at `path` as written, with its spans, if the document has one there.
    pub fn value_at(&self, path: &FieldPath) -> Option<Spanned<DeValue<'a>>> {
        let (found, depth) = self.walk(path)?;
        (depth == path.0.len()).then(|| found.clone())
    }

    /// The span of the value at `path`, or of the nearest enclosing value that is present.
    fn span_of(&self, path: &FieldPath) -> Option<Range<usize>> {
        self.walk(path).map(|(found, _)| found.span())
    }

    /// An error about a key that should not be there: placed at the key itself (where
    /// [`Located::at_path`] would place it, when the key is not found).
    pub fn at_key(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        let offset = self.key_span(path).or_else(|| self.span_of(path));
        self.at_offset(
            offset.map_or(0, |span| span.start),
            path.to_string(),
            message.into(),
        )
    }

    /// The span of the last key of `path`, when its table is present.
    fn key_span(&self, path: &FieldPath) -> Option<Range<usize>> {
        let (Step::Key(last), parent) = path.0.split_last()? else {
            return None;
        };
        let table = if parent.is_empty() {
            self.root.as_ref()?
        } else {
            match self.value_at(&FieldPath(parent.to_vec()))?.into_inner() {
                DeValue::Table(t) => return key_in(&t, last),
                _ => return None,
            }
        };
        key_in(table, last)
    }

    /// The deepest value along `path` that is present, and how many steps it took.
    fn walk(&self, path: &FieldPath) -> Option<(&Spanned<DeValue<'a>>, usize)> {
        let root = self.root.as_ref()?;
        let mut best = None;
        let mut table = Some(root);
        let mut value: Option<&DeValue<'_>> = None;
        for (depth, step) in path.0.iter().enumerate() {
            let found = match (step, table, value) {
                (Step::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                    .map(|(_, v)| v),
                (Step::Index(i), _, Some(DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            let Some(found) = found else {
                break;
            };
            best = Some((found, depth + 1));
            value = Some(found.get_ref());
            table = match found.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        best
    }
}

fn key_in(table: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(k, _)| k.span())
}

/// The path of the innermost key, value or array item whose span contains byte `offset`.
/// Every table is searched: a table header's span does not cover the table's body.
fn path_at(root: &DeTable<'_>, offset: usize) -> FieldPath {
    let mut best = FieldPath::default();
    search_table(root, offset, &FieldPath::default(), &mut best);
    best
}

fn search_table(table: &DeTable<'_>, offset: usize, at: &FieldPath, best: &mut FieldPath) {
    for (key, value) in table.iter() {
        let path = at.key(key.get_ref());
        if contains(&key.span(), offset) || contains(&value.span(), offset) {
            *best = path.clone();
        }
        search_value(value.get_ref(), offset, &path, best);
    }
}

fn search_value(value: &DeValue<'_>, offset: usize, at: &FieldPath, best: &mut FieldPath) {
    match value {
        DeValue::Table(t) => search_table(t, offset, at, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = at.index(i);
                if contains(&item.span(), offset) {
                    *best = path.clone();
                }
                search_value(item.get_ref(), offset, &path, best);
            }
        }
        _ => {}
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && (offset < span.end || span.start == span.end && offset == span.start)
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
