//! Problems found in a user-edited file, with the position a person needs to fix them:
//! `plc-profiles/phone-line.toml:42:7: stations[3].tags.serial.address: …`.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0 when the problem has no position, e.g. an environment variable).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key or field (`stations[3].tags.serial.address`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.path.display(), self.line, self.column, self.field, self.message)
    }
}

/// Collects problems of one file, turning byte spans into line and column.
pub struct ProblemSink<'a> {
    path: &'a Path,
    text: &'a str,
    /// Problems so far, in the order found.
    pub problems: Vec<SourceProblem>,
}

impl<'a> ProblemSink<'a> {
    /// A sink for `text`, read from `path`.
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Self { path, text, problems: Vec::new() }
    }

    /// Records a problem at a byte span of the text.
    pub fn at(&mut self, span: std::ops::Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.problems.push(SourceProblem {
            path: self.path.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    (line, column)
}

/// The largest user-edited file read (a profile of a hundred stations is ~100 KB): a bigger
/// one is refused before parsing, so a mistake cannot exhaust the machine.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Reads a user-edited text file: at most [`MAX_FILE_BYTES`], UTF-8, with the position of the
/// first invalid byte when it is not.
pub fn read_text(path: &Path) -> Result<String, ReadProblem> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(ReadProblem::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(ReadProblem::Io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ReadProblem::Invalid(SourceProblem {
            path: path.to_owned(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("the file is larger than {MAX_FILE_BYTES} bytes; is it the right file?"),
        }));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // The valid prefix is UTF-8 by construction.
        let prefix = std::str::from_utf8(good).unwrap_or_default();
        let (line, column) = line_column(prefix, prefix.len());
        ReadProblem::Invalid(SourceProblem {
            path: path.to_owned(),
            line,
            column,
            field: String::new(),
            message: format!(
                "byte 0x{:02x} at offset {} is not UTF-8; save the file as UTF-8",
                e.as_bytes()[good.len()],
                good.len()
            ),
        })
    })
}

/// Why a user-edited file could not be read.
#[derive(Debug)]
pub enum ReadProblem {
    /// The OS said no.
    Io(std::io::Error),
    /// Too large, or not UTF-8: located.
    Invalid(SourceProblem),
}

/// One step of a path into a TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The deepest key or value of `table` whose span holds `offset`, as a path.
fn path_at(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<Step>) -> bool {
    for (key, value) in table.iter() {
        path.push(Step::Key(key.get_ref().to_string()));
        if node_at(value, offset, path) || key.span().contains(&offset) || value.span().contains(&offset) {
            return true;
        }
        path.pop();
    }
    false
}

fn node_at(node: &toml::Spanned<toml::de::DeValue<'_>>, offset: usize, path: &mut Vec<Step>) -> bool {
    match node.get_ref() {
        toml::de::DeValue::Table(t) => path_at(t, offset, path),
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                if node_at(item, offset, path) || item.span().contains(&offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// Removes from `table` the node at `path`, a path in the *original* document: arrays may
/// already have lost items (`removed`), so original indices are mapped to what is left.
fn remove_at(table: &mut toml::de::DeTable<'_>, path: &[Step], prefix: &mut Vec<Step>, removed: &[Vec<Step>]) {
    match path {
        [Step::Key(k)] => {
            table.remove(k.as_str());
        }
        [Step::Key(k), rest @ ..] => {
            if let Some(v) = table.get_mut(k.as_str()) {
                prefix.push(Step::Key(k.clone()));
                remove_in(v.get_mut(), rest, prefix, removed);
            }
        }
        _ => {}
    }
}

fn remove_in(value: &mut toml::de::DeValue<'_>, path: &[Step], prefix: &mut Vec<Step>, removed: &[Vec<Step>]) {
    match (value, path) {
        (toml::de::DeValue::Table(t), _) => remove_at(t, path, prefix, removed),
        (toml::de::DeValue::Array(items), [Step::Index(i)]) => {
            let at = shifted(prefix, *i, removed);
            let mut kept = toml::de::DeArray::new();
            for (j, item) in items.iter().enumerate() {
                if j != at {
                    kept.push(item.clone());
                }
            }
            *items = kept;
        }
        (toml::de::DeValue::Array(items), [Step::Index(i), rest @ ..]) => {
            let at = shifted(prefix, *i, removed);
            if let Some(item) = items.get_mut(at) {
                prefix.push(Step::Index(*i));
                remove_in(item.get_mut(), rest, prefix, removed);
            }
        }
        _ => {}
    }
}

/// The current index of original item `i` of the array at `array`, after earlier removals.
fn shifted(array: &[Step], i: usize, removed: &[Vec<Step>]) -> usize {
    let before = removed
        .iter()
        .filter(|r| r.len() == array.len() + 1 && r.starts_with(array))
        .filter(|r| matches!(r.last(), Some(Step::Index(j)) if *j < i))
        .count();
    i - before
}

/// What [`deserialize_every_problem`] found.
pub struct Deserialized<T> {
    /// The value, if what remained after taking out every bad part deserialised.
    pub value: Option<T>,
    /// Every problem, located.
    pub problems: Vec<SourceProblem>,
    /// Field paths taken out for a problem already reported (later checks skip them).
    pub removed: Vec<String>,
}

/// Deserialises `text` into `T` reporting *every* problem serde meets, not only the first:
/// each (a wrong type, a value out of range, an unknown key, a missing key) is recorded with
/// its position and field path, the offending part is taken out of the document, and the rest
/// is tried again. A key missing because its value was taken out is not reported twice.
pub fn deserialize_every_problem<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Deserialized<T> {
    let mut sink = ProblemSink::new(path, text);
    let (mut doc, syntax) = toml::de::DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in &syntax {
            let mut at = Vec::new();
            let span = e.span().unwrap_or(0..0);
            path_at(doc.get_ref(), span.start, &mut at);
            sink.at(span, dotted(&at), e.message().trim().to_owned());
        }
        return Deserialized { value: None, problems: sink.problems, removed: Vec::new() };
    }
    let original = doc.clone();
    let mut removed: Vec<Vec<Step>> = Vec::new();
    // Each round takes something out of a finite document, so this ends; the bound is a guard.
    for _ in 0..10_000 {
        let err = match T::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(value) => {
                let removed = removed.iter().map(|p| dotted(p)).collect();
                return Deserialized { value: Some(value), problems: sink.problems, removed };
            }
            Err(e) => e,
        };
        let span = err.span().unwrap_or(0..0);
        let mut at = Vec::new();
        path_at(original.get_ref(), span.start, &mut at);
        let message = err.message().trim().to_owned();
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        let mut reported = at.clone();
        if let Some(field) = missing {
            reported.push(Step::Key(field.to_owned()));
        }
        if !removed.contains(&reported) {
            sink.at(span, dotted(&reported), if missing.is_some() { "is required".to_owned() } else { message });
        }
        // What is wrong goes; a table lacking a key it must have goes with it.
        if at.is_empty() || removed.contains(&at) {
            break;
        }
        remove_at(doc.get_mut(), &at, &mut Vec::new(), &removed);
        removed.push(at);
    }
    Deserialized { value: None, problems: sink.problems, removed: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, text.find('"').unwrap()), (2, 6), "é is one column");
        assert_eq!(line_column(text, 10_000), (3, 1));
    }
}
