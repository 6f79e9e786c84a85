//! Source locations of loaded objects and fields.

use std::sync::Arc;

use serde::Serialize;

/// A loaded file's name and text, shared by every span into it.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// A position in a manifest: file, 1-based line and column, and byte range.
#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    #[serde(serialize_with = "file_name")]
    pub file: Arc<SourceFile>,
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub len: usize,
}

impl Origin {
    pub fn file_name(&self) -> &str {
        &self.file.name
    }

    /// `file:line:column`, the form editors and CI annotations read.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.name, self.line, self.column)
    }

    /// `file:line`.
    pub fn short(&self) -> String {
        format!("{}:{}", self.file.name, self.line)
    }
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.file.name == other.file.name && self.offset == other.offset && self.len == other.len
    }
}

fn file_name<S: serde::Serializer>(file: &Arc<SourceFile>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&file.name)
}
