//! A YAML or JSON document as a tree whose every node keeps its source span.

use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::source::{Origin, SourceFile};

/// A scalar, sequence or mapping with the place it came from.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; each key keeps its own span.
    Map(Vec<(String, Origin, Node)>),
}

/// A syntax error that stopped the parse of one document.
#[derive(Debug)]
pub struct SyntaxError {
    pub message: String,
    pub origin: Origin,
}

/// Parses every document of a YAML (or JSON) text.
///
/// When the text does not parse as a whole, each part that starts at a `---`
/// line is parsed on its own, so a syntax error costs only its own document
/// and every broken document is reported.
pub fn parse_documents(file: &Arc<SourceFile>) -> (Vec<Node>, Vec<SyntaxError>) {
    let index = LineIndex::new(&file.text);
    let whole_error = match parse_part(file, &index, &file.text, 0) {
        Ok(docs) => return (docs, Vec::new()),
        Err(e) => e,
    };
    let parts = split_documents(&file.text);
    if parts.len() < 2 {
        return (Vec::new(), vec![whole_error]);
    }
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for (first_line, text) in parts {
        match parse_part(file, &index, text, first_line) {
            Ok(mut part) => docs.append(&mut part),
            Err(e) => errors.push(e),
        }
    }
    (docs, errors)
}

/// Parses `text`, a part of `file` that starts on the 0-based line `line_offset`.
fn parse_part(
    file: &Arc<SourceFile>,
    index: &LineIndex,
    text: &str,
    line_offset: usize,
) -> Result<Vec<Node>, SyntaxError> {
    if let Some(mark) = super::depth::too_deep(text) {
        return Err(SyntaxError {
            message: format!(
                "collections nest deeper than {} levels",
                super::depth::MAX_DEPTH
            ),
            origin: index.origin(file, mark.line() + line_offset, mark.col(), 1),
        });
    }
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let mark = e.marker();
        let origin = index.origin(file, mark.line() + line_offset, mark.col(), 1);
        let part_start = index.starts.get(line_offset).copied().unwrap_or(0);
        let content_end = part_start + text.trim_end().len();
        SyntaxError {
            message: e.info().to_string(),
            origin: index.clamp_to_content(file, origin, content_end),
        }
    })?;
    let converter = Converter {
        file,
        index,
        line_offset,
    };
    Ok(docs
        .into_iter()
        .filter(|d| !matches!(d.data, YamlData::Value(Scalar::Null)) || !d.span.is_empty())
        .map(|d| converter.node(d))
        .collect())
}

/// Splits a text before each line that starts a document (`---`), returning
/// each part with its 0-based first line.
///
/// YAML forbids `---` at the start of a line inside a scalar, so the split
/// never cuts a value in two.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut parts = Vec::new();
    let mut part_start = 0;
    let mut part_line = 0;
    let mut offset = 0;
    for (line_number, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        let is_marker =
            content == "---" || content.starts_with("--- ") || content.starts_with("---\t");
        if is_marker && offset > part_start {
            parts.push((part_line, text.get(part_start..offset).unwrap_or("")));
            part_start = offset;
            part_line = line_number;
        }
        offset += line.len();
    }
    parts.push((part_line, text.get(part_start..).unwrap_or("")));
    parts
}

struct Converter<'a> {
    file: &'a Arc<SourceFile>,
    index: &'a LineIndex,
    /// Lines of the file before the parsed part.
    line_offset: usize,
}

impl Converter<'_> {
    /// A scalar's origin covers the scalar; a collection's covers only the
    /// rest of its first line, so reports highlight where it starts.
    fn origin(&self, node: &MarkedYaml) -> Origin {
        let start = node.span.start;
        let line = start.line() + self.line_offset;
        let mut origin = self.index.origin(self.file, line, start.col(), 1);
        let is_collection = matches!(node.data, YamlData::Sequence(_) | YamlData::Mapping(_));
        let rest = self.file.text.get(origin.offset..).unwrap_or("");
        let line_len = rest.find('\n').unwrap_or(rest.len()).max(1);
        origin.len = if is_collection {
            line_len
        } else {
            let span_len: usize = rest.chars().take(node.span.len()).map(char::len_utf8).sum();
            span_len.max(1)
        };
        origin
    }

    /// Converts a node, consuming it so that strings move instead of being copied.
    fn node(&self, node: MarkedYaml) -> Node {
        let origin = self.origin(&node);
        let kind = match node.data {
            YamlData::Value(scalar) => scalar_kind(scalar),
            YamlData::Representation(text, _, _) => NodeKind::Str(text.into_owned()),
            YamlData::Sequence(items) => {
                NodeKind::Seq(items.into_iter().map(|n| self.node(n)).collect())
            }
            YamlData::Mapping(map) => NodeKind::Map(expand_merge_keys(
                map.into_iter()
                    .map(|(k, v)| {
                        let key_origin = self.origin(&k);
                        (key_text(k), key_origin, self.node(v))
                    })
                    .collect(),
            )),
            YamlData::Tagged(_, inner) => return self.node(*inner),
            YamlData::Alias(_) | YamlData::BadValue => NodeKind::Null,
        };
        Node { kind, origin }
    }
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`), which kubectl
/// accepts: the merged mappings' entries are added after the mapping's own,
/// unless the mapping already has the key, and earlier merged mappings win
/// over later ones. A `<<` whose value is not a mapping or a list of
/// mappings stays as it is, so that the type check reports it.
fn expand_merge_keys(entries: Vec<(String, Origin, Node)>) -> Vec<(String, Origin, Node)> {
    let is_merge = |(key, _, value): &(String, Origin, Node)| {
        key == "<<"
            && match &value.kind {
                NodeKind::Map(_) => true,
                NodeKind::Seq(items) => items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))),
                _ => false,
            }
    };
    if !entries.iter().any(is_merge) {
        return entries;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries.into_iter().partition(is_merge);
    for (_, _, value) in merges {
        let sources = match value.kind {
            NodeKind::Seq(items) => items,
            other => vec![Node {
                kind: other,
                origin: value.origin,
            }],
        };
        for source in sources {
            let NodeKind::Map(inherited) = source.kind else {
                continue;
            };
            for entry in inherited {
                if !own.iter().any(|(key, _, _)| *key == entry.0) {
                    own.push(entry);
                }
            }
        }
    }
    own
}

fn scalar_kind(scalar: Scalar) -> NodeKind {
    match scalar {
        Scalar::Null => NodeKind::Null,
        Scalar::Boolean(b) => NodeKind::Bool(b),
        Scalar::Integer(i) => NodeKind::Int(i),
        Scalar::FloatingPoint(f) => NodeKind::Float(f.into_inner()),
        Scalar::String(s) => NodeKind::Str(s.into_owned()),
    }
}

fn key_text(key: MarkedYaml) -> String {
    match key.data {
        YamlData::Value(Scalar::String(s)) => s.into_owned(),
        YamlData::Value(Scalar::Integer(i)) => i.to_string(),
        YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
        YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
        YamlData::Value(Scalar::Null) => "null".to_string(),
        _ => String::new(),
    }
}

/// Converts saphyr's character-based line and column into byte offsets.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// Moves an origin at or past `end`, the end of a part's content, back onto
    /// the part's last character, so that a report shows where parsing stopped.
    fn clamp_to_content(&self, file: &Arc<SourceFile>, origin: Origin, end: usize) -> Origin {
        if origin.offset < end || end == 0 {
            return origin;
        }
        self.last_char(file, end)
    }

    /// The origin of the last character before the byte offset `end` (> 0).
    fn last_char(&self, file: &Arc<SourceFile>, end: usize) -> Origin {
        let last = file.text.get(..end).and_then(|t| t.chars().last());
        let offset = end - last.map_or(0, char::len_utf8);
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = file
            .text
            .get(line_start..offset)
            .map_or(0, |t| t.chars().count());
        Origin {
            file: Arc::clone(file),
            line: line.max(1),
            column: col + 1,
            offset,
            len: last.map_or(0, char::len_utf8),
        }
    }

    /// `line` is 1-based and `col` 0-based in characters, as saphyr reports them.
    ///
    /// A position at the end of the text (an empty value on the last line)
    /// becomes the last character, so that every span lies inside the text.
    fn origin(&self, file: &Arc<SourceFile>, line: usize, col: usize, len: usize) -> Origin {
        let line_start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(file.text.len());
        let rest = file.text.get(line_start..).unwrap_or("");
        let byte_col: usize = rest.chars().take(col).map(char::len_utf8).sum();
        let offset = line_start + byte_col;
        if offset >= file.text.len() && !file.text.is_empty() {
            return self.last_char(file, file.text.len());
        }
        let available = file.text.len().saturating_sub(offset);
        Origin {
            file: Arc::clone(file),
            line: line.max(1),
            column: col + 1,
            offset,
            len: len.min(available),
        }
    }
}

impl Node {
    /// Entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// Origin of the key `key` of a mapping, used to point at a field name.
    pub fn key_origin(&self, key: &str) -> Option<&Origin> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, o, _)| o),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The node at a path of mapping keys and sequence indices, as far as it exists.
    pub fn at_path(&self, path: &[PathStep]) -> &Node {
        let mut current = self;
        for step in path {
            let next = match (step, &current.kind) {
                (PathStep::Key(k), NodeKind::Map(_)) => current.get(k),
                (PathStep::Index(i), NodeKind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => current = n,
                None => break,
            }
        }
        current
    }

    /// A plain JSON value with the same content, for typed deserialisation.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}
