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
