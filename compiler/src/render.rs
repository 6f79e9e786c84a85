//! Text tables and per-map differences of image views.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::image::format::{Image, to_hex};
use crate::view::{View, rule_description, view};

/// Renders a view as text tables, one per selected map.
pub fn text(view: &View) -> String {
    let mut out = String::new();
    let h = &view.header;
    let _ = writeln!(
        out,
        "image format {} layout {} compiler {} generation {}",
        h.format_version, h.layout_version, h.compiler_version, h.generation
    );
    let _ = writeln!(out, "content hash {}", to_hex(&h.content_hash));
    let _ = writeln!(out, "input digest {}", to_hex(&h.input_digest));
    let _ = writeln!(out, "node {}", view.node.as_deref().unwrap_or("(all)"));
    let counts: Vec<String> = view
        .counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "entries: {}", counts.join(", "));
    for (title, table) in tables(view) {
        let _ = writeln!(out, "\n{title}");
        out.push_str(&table.render());
    }
    out
}

fn tables(view: &View) -> Vec<(&'static str, Table)> {
    let mut out = Vec::new();
    if let Some(rows) = &view.services {
        let mut t = Table::new(&["ID", "Frontend", "Service", "Mode", "Backend"]);
        for r in rows {
            let mode = if r.maglev_size > 0 {
                format!("maglev/{}", r.maglev_size)
            } else {
                r.mode.to_string()
            };
            let backends: Vec<String> = r
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| format!("{} => {b}", i + 1))
                .collect();
            let first = backends
                .first()
                .cloned()
                .unwrap_or_else(|| "(no backends)".to_string());
            t.row(vec![
                r.id.to_string(),
                r.frontend.clone(),
                r.service.clone(),
                mode,
                first,
            ]);
            for more in backends.iter().skip(1) {
                t.row(vec![
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    more.clone(),
                ]);
            }
        }
        out.push(("services", t));
    }
    if let Some(rows) = &view.backends {
        let mut t = Table::new(&["Index", "Address"]);
        for r in rows {
            t.row(vec![r.index.to_string(), r.address.clone()]);
        }
        out.push(("backends", t));
    }
    if let Some(rows) = &view.maglev {
        let mut t = Table::new(&["Service", "Size", "Slots"]);
        for r in rows {
            let slots: Vec<String> = r.slots.iter().map(|(b, n)| format!("{b}={n}")).collect();
            t.row(vec![
                r.service_id.to_string(),
                r.size.to_string(),
                slots.join(" "),
            ]);
        }
        out.push(("maglev", t));
    }
    if let Some(rows) = &view.revnat {
        let mut t = Table::new(&["ID", "Frontend"]);
        for r in rows {
            t.row(vec![r.service_id.to_string(), r.frontend.clone()]);
        }
        out.push(("revnat", t));
    }
    if let Some(rows) = &view.endpoints {
        let mut t = Table::new(&[
            "Address", "Endpoint", "ID", "Identity", "Ingress", "Egress", "Flags",
        ]);
        for r in rows {
            t.row(vec![
                r.address.clone(),
                r.name.clone(),
                r.endpoint_id.to_string(),
                r.identity.to_string(),
                r.ingress_table.to_string(),
                r.egress_table.to_string(),
                r.flags.join(","),
            ]);
        }
        out.push(("endpoints", t));
    }
    if let Some(rows) = &view.ipcache {
        let mut t = Table::new(&["Prefix", "Identity", "Labels", "Flags"]);
        for r in rows {
            t.row(vec![
                r.prefix.clone(),
                r.identity.to_string(),
                r.labels.join(" "),
                r.flags.join(","),
            ]);
        }
        out.push(("ipcache", t));
    }
    if let Some(rows) = &view.policy {
        let mut t = Table::new(&[
            "Table",
            "Used by",
            "Policy",
            "Identity",
            "Labels",
            "Port/Proto",
            "Rule",
        ]);
        for r in rows {
            let identity = r.identity.map_or("ANY".to_string(), |i| i.to_string());
            let port = format!("{}/{}", r.ports, r.protocol);
            let port = if r.protocol == "ANY" {
                "ANY".to_string()
            } else {
                port
            };
            t.row(vec![
                r.table.to_string(),
                r.used_by.join(", "),
                capitalise(&r.action),
                identity,
                r.labels.join(" "),
                port,
                r.rule.clone(),
            ]);
        }
        out.push(("policy", t));
    }
    if let Some(rules) = &view.provenance {
        let mut t = Table::new(&["Rule", "Decided by"]);
        for (id, rule) in rules.iter().enumerate() {
            t.row(vec![id.to_string(), rule_description(rule)]);
        }
        out.push(("provenance", t));
    }
    out
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A left-aligned text table.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", cells.join("   ").trim_end());
        }
        out
    }
}

/// Differences of one map between two images.
#[derive(Debug, Default, Serialize)]
pub struct MapDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `key: old -> new`.
    pub changed: Vec<String>,
}

/// Per-map differences, keyed by map name; maps without differences are omitted.
pub fn diff(old: &Image, new: &Image) -> BTreeMap<&'static str, MapDiff> {
    let (old, new) = (keyed(&view(old, None)), keyed(&view(new, None)));
    let mut out = BTreeMap::new();
    for (map, before) in &old {
        let empty = BTreeMap::new();
        let after = new.get(map).unwrap_or(&empty);
        let mut d = MapDiff::default();
        for (key, value) in after {
            match before.get(key) {
                None => d.added.push(format!("{key}: {value}")),
                Some(old) if old != value => d.changed.push(format!("{key}: {old} -> {value}")),
                Some(_) => {}
            }
        }
        for (key, value) in before {
            if !after.contains_key(key) {
                d.removed.push(format!("{key}: {value}"));
            }
        }
        if !(d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty()) {
            out.insert(*map, d);
        }
    }
    out
}

/// Renders a diff as text.
pub fn diff_text(diff: &BTreeMap<&'static str, MapDiff>) -> String {
    let mut out = String::new();
    if diff.is_empty() {
        out.push_str("no differences\n");
    }
    for (map, d) in diff {
        let _ = writeln!(
            out,
            "{map}: {} added, {} removed, {} changed",
            d.added.len(),
            d.removed.len(),
            d.changed.len()
        );
        for line in &d.added {
            let _ = writeln!(out, "  + {line}");
        }
        for line in &d.removed {
            let _ = writeln!(out, "  - {line}");
        }
        for line in &d.changed {
            let _ = writeln!(out, "  ~ {line}");
        }
    }
    out
}

type Keyed = BTreeMap<&'static str, BTreeMap<String, String>>;

/// Every map's entries as `key -> value` text, with names instead of raw ids
/// where the key would otherwise depend on numbering.
fn keyed(view: &View) -> Keyed {
    let mut out: Keyed = BTreeMap::new();
    for r in view.endpoints.iter().flatten() {
        let value = format!(
            "{} identity {} ingress table {} egress table {}",
            r.name, r.identity, r.ingress_table, r.egress_table
        );
        out.entry("endpoints")
            .or_default()
            .insert(r.address.clone(), value);
    }
    for r in view.ipcache.iter().flatten() {
        let value = format!("identity {} {}", r.identity, r.labels.join(" "));
        out.entry("ipcache")
            .or_default()
            .insert(r.prefix.clone(), value);
    }
    // Policy entries are keyed by the table's first user and the peer's
    // labels, not by table and identity numbers, which renumber between images.
    for r in view.policy.iter().flatten() {
        let user = match r.used_by.first() {
            Some(first) => first.clone(),
            None => format!("table {}", r.table),
        };
        let peer = r.labels.join(" ");
        let key = format!("{user} from/to [{peer}] {}/{}", r.ports, r.protocol);
        out.entry("policy")
            .or_default()
            .insert(key, format!("{} by {}", r.action, r.rule));
    }
    for r in view.services.iter().flatten() {
        let value = format!(
            "{} id {} {} [{}]",
            r.service,
            r.id,
            r.mode,
            r.backends.join(", ")
        );
        out.entry("services")
            .or_default()
            .insert(r.frontend.clone(), value);
    }
    for r in view.backends.iter().flatten() {
        out.entry("backends")
            .or_default()
            .insert(r.index.to_string(), r.address.clone());
    }
    for r in view.maglev.iter().flatten() {
        let slots: Vec<String> = r.slots.iter().map(|(b, n)| format!("{b}={n}")).collect();
        let value = format!("size {} {}", r.size, slots.join(" "));
        out.entry("maglev")
            .or_default()
            .insert(format!("service {}", r.service_id), value);
    }
    for r in view.revnat.iter().flatten() {
        out.entry("revnat")
            .or_default()
            .insert(r.service_id.to_string(), r.frontend.clone());
    }
    for name in [
        "endpoints",
        "ipcache",
        "policy",
        "services",
        "backends",
        "maglev",
        "revnat",
    ] {
        out.entry(name).or_default();
    }
    out
}
