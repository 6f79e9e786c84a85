//! `moat matrix`: the verdict for every ordered pod pair.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use moat_ir::{Cluster, Flow, FlowEnd, Protocol, verdict};
use serde::Serialize;

use crate::common::{EXIT_USAGE, Inputs, load_or_exit};
use crate::flows::parse_port;

/// Print the truth table for every ordered pod pair.
///
/// Ports default to every container port the pods declare. The text form
/// groups sources whose rows are identical, so large tables stay readable.
#[derive(Args)]
#[command(after_help = "Example:\n  moat matrix policies/shop --port 80/tcp --port 5432/tcp -o md")]
pub struct MatrixArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// Ports to probe, as `80/tcp` (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<String>,

    #[arg(long, short, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    Md,
}

#[derive(Serialize)]
struct Cell {
    from: String,
    to: String,
    port: String,
    allowed: bool,
}

pub fn run(args: &MatrixArgs) -> u8 {
    let mut ports = Vec::new();
    for text in &args.ports {
        match parse_port(text) {
            Ok(p) => ports.push(p),
            Err(message) => {
                eprintln!("error: --port: {message}");
                return EXIT_USAGE;
            }
        }
    }
    let loaded = match load_or_exit(&args.inputs) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let cluster = &loaded.cluster;
    if ports.is_empty() {
        ports = declared_ports(cluster);
    }
    let table = Table::build(cluster, &ports);
    match args.output {
        Format::Table => print!("{}", table.grouped_text()),
        Format::Md => print!("{}", table.markdown()),
        Format::Csv => print!("{}", table.csv()),
        Format::Json => {
            let cells = table.cells();
            println!(
                "{}",
                serde_json::to_string_pretty(&cells).unwrap_or_default()
            );
        }
    }
    0
}

fn declared_ports(cluster: &Cluster) -> Vec<(Protocol, u16)> {
    let mut ports: Vec<(Protocol, u16)> = cluster
        .pods
        .iter()
        .flat_map(|p| p.ports.iter().map(|c| (c.protocol, c.port)))
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

struct Table {
    pods: Vec<String>,
    ports: Vec<String>,
    /// `rows[src][dst][port]`, the evaluator's verdict. A pod's traffic to
    /// itself is judged like any other flow, as the upstream test suites do.
    rows: Vec<Vec<Vec<bool>>>,
}

impl Table {
    fn build(cluster: &Cluster, ports: &[(Protocol, u16)]) -> Self {
        let n = cluster.pods.len();
        let rows = (0..n)
            .map(|src| {
                (0..n)
                    .map(|dst| {
                        ports
                            .iter()
                            .map(|&(protocol, port)| {
                                let flow = Flow {
                                    src: FlowEnd::Pod(src),
                                    dst: FlowEnd::Pod(dst),
                                    protocol,
                                    port,
                                };
                                verdict(cluster, &flow).allowed
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Self {
            pods: cluster.pods.iter().map(|p| p.key()).collect(),
            ports: ports
                .iter()
                .map(|(p, n)| format!("{}/{n}", p.lower()))
                .collect(),
            rows,
        }
    }

    fn symbol(cell: &[bool]) -> String {
        cell.iter().map(|&v| if v { '.' } else { 'X' }).collect()
    }

    /// Sources with identical rows share one block; `.` allow, `X` deny.
    fn grouped_text(&self) -> String {
        let mut groups: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
        for (src, row) in self.rows.iter().enumerate() {
            let key: Vec<String> = row.iter().map(|cell| Self::symbol(cell)).collect();
            groups.entry(key).or_default().push(src);
        }
        let mut out = format!("ports (one column each): {}\n", self.ports.join(" "));
        out.push_str("legend: . allow  X deny\n\n");
        let width = self.pods.iter().map(String::len).max().unwrap_or(0);
        let mut ordered: Vec<(&Vec<String>, &Vec<usize>)> = groups.iter().collect();
        ordered.sort_by_key(|(_, srcs)| srcs.first().copied());
        for (key, srcs) in ordered {
            let names: Vec<&str> = srcs
                .iter()
                .filter_map(|&i| self.pods.get(i))
                .map(String::as_str)
                .collect();
            out.push_str(&format!("from {}:\n", names.join(", ")));
            for (dst, symbols) in key.iter().enumerate() {
                let name = self.pods.get(dst).map(String::as_str).unwrap_or("");
                out.push_str(&format!("  -> {name:<width$}  {symbols}\n"));
            }
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        for (p, port) in self.ports.iter().enumerate() {
            out.push_str(&format!(
                "### {port}\n\n| from \\ to | {} |\n",
                self.pods.join(" | ")
            ));
            out.push_str(&format!("|---|{}\n", "---|".repeat(self.pods.len())));
            for (src, row) in self.rows.iter().enumerate() {
                let cells: Vec<&str> = row
                    .iter()
                    .map(|cell| match cell.get(p) {
                        Some(true) => "allow",
                        Some(false) => "deny",
                        None => "-",
                    })
                    .collect();
                let name = self.pods.get(src).map(String::as_str).unwrap_or("");
                out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
            }
            out.push('\n');
        }
        out
    }

    fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for (src, row) in self.rows.iter().enumerate() {
            for (dst, cell) in row.iter().enumerate() {
                for (p, allowed) in cell.iter().enumerate() {
                    cells.push(Cell {
                        from: self.pods.get(src).cloned().unwrap_or_default(),
                        to: self.pods.get(dst).cloned().unwrap_or_default(),
                        port: self.ports.get(p).cloned().unwrap_or_default(),
                        allowed: *allowed,
                    });
                }
            }
        }
        cells
    }

    fn csv(&self) -> String {
        let mut out = String::from("from,to,port,verdict\n");
        for c in self.cells() {
            let verdict = if c.allowed { "allow" } else { "deny" };
            out.push_str(&format!("{},{},{},{verdict}\n", c.from, c.to, c.port));
        }
        out
    }
}
