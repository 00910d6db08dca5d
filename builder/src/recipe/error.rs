//! Recipe errors that point at the file, line and column, rendered by miette with the
//! offending YAML underlined.

use std::path::{Path, PathBuf};

use marked_yaml::Span;
use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// Something is wrong with a recipe or variants file; carries the source text so the
/// binary can show the offending lines.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct RecipeError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    /// The file's text and the underlined part (boxed, so results carrying a
    /// `RecipeError` stay small).
    snippet: Box<Snippet>,
}

#[derive(Debug)]
struct Snippet {
    source: NamedSource<String>,
    span: Option<SourceSpan>,
    label: String,
}

impl Diagnostic for RecipeError {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.snippet.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.snippet.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.snippet.label.clone()),
            span,
        ))))
    }
}

/// The text of a recipe file, kept for error messages.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self, std::io::Error> {
        Ok(Self {
            path: path.to_path_buf(),
            text: fs_err::read_to_string(path)?,
        })
    }

    /// An error at `span` (or the top of the file when the span is unknown).
    pub fn error(&self, span: Option<&Span>, message: impl Into<String>) -> RecipeError {
        let start = span.and_then(|s| s.start());
        let (line, column) = start.map(|m| (m.line(), m.column())).unwrap_or((1, 1));
        let source_span = start.map(|m| {
            let offset = self.byte_offset(m.character());
            let len = span
                .and_then(|s| s.end())
                .map(|e| self.byte_offset(e.character()).saturating_sub(offset))
                .filter(|len| *len > 0)
                .unwrap_or_else(|| self.token_len(offset));
            SourceSpan::new(offset.into(), len)
        });
        RecipeError {
            path: self.path.clone(),
            line,
            column,
            message: message.into(),
            help: None,
            snippet: Box::new(Snippet {
                source: NamedSource::new(self.path.display().to_string(), self.text.clone()),
                span: source_span,
                label: "here".into(),
            }),
        }
    }

    fn byte_offset(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map(|(b, _)| b)
            .unwrap_or(self.text.len())
    }

    /// Length of the rest of the line from `offset` (a reasonable underline).
    fn token_len(&self, offset: usize) -> usize {
        let rest = &self.text[offset.min(self.text.len())..];
        rest.find('\n').unwrap_or(rest.len()).max(1)
    }
}

impl RecipeError {
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.snippet.label = label.into();
        self
    }
}
