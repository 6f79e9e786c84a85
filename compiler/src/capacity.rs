//! Map capacities: the maximum entries of each map, from `moat.toml` and flags.
//!
//! ```toml
//! [capacity]
//! policy = 65536
//! ipcache = 512000
//!
//! [lb]
//! mode = "maglev"      # or "random"
//! maglev_table_size = 16381
//! ```

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::image::format::SectionKind;
use crate::services::{LbMode, LbOptions};

/// Maximum entries per map; every field defaults to [`Capacity::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capacity {
    pub endpoints: u64,
    pub ipcache: u64,
    pub policy: u64,
    pub services: u64,
    pub backends: u64,
    pub maglev: u64,
    pub revnat: u64,
}

impl Default for Capacity {
    /// Endpoints, ipcache and load-balancer maps follow the default limits
    /// of Cilium's "eBPF Maps" documentation (64k, 512k, 64k). Cilium's
    /// policy map has 16k entries per endpoint, but here one map contains
    /// every shared table, so its default is 1M.
    fn default() -> Self {
        Self {
            endpoints: 65_536,
            ipcache: 512_000,
            policy: 1_048_576,
            services: 65_536,
            backends: 65_536,
            maglev: 4_194_304,
            revnat: 65_536,
        }
    }
}

/// A map that needs more entries than it may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    pub map: &'static str,
    pub needed: u64,
    pub allowed: u64,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "map `{}` needs {} entries but its capacity is {} (raise `capacity.{}` in moat.toml \
             or pass `--capacity {}=N`)",
            self.map, self.needed, self.allowed, self.map, self.map
        )
    }
}

/// Errors of reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration `{path}`: {message}")]
    Parse { path: String, message: String },
    #[error(
        "invalid capacity `{text}`: expected `MAP=COUNT` with COUNT from 1 to 4294967295 \
         and MAP one of {}",
        maps()
    )]
    Flag { text: String },
}

fn maps() -> String {
    let names: Vec<&str> = SectionKind::ALL
        .iter()
        .filter(|k| **k != SectionKind::Provenance)
        .map(|k| k.name())
        .collect();
    names.join(", ")
}

/// The contents of `moat.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub capacity: Capacity,
    pub lb: LbConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LbConfig {
    /// `maglev` (the default) or `random`.
    pub mode: Option<String>,
    pub maglev_table_size: Option<u32>,
}

impl Config {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&name, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            message: e.message().to_string(),
        })
    }

    pub fn lb_options(&self) -> Result<LbOptions, ConfigError> {
        let mode = match self.lb.mode.as_deref() {
            None | Some("maglev") => LbMode::Maglev,
            Some("random") => LbMode::Random,
            Some(other) => {
                return Err(ConfigError::Parse {
                    path: "moat.toml".to_string(),
                    message: format!("unknown `lb.mode` `{other}`: expected `maglev` or `random`"),
                });
            }
        };
        Ok(LbOptions {
            mode,
            maglev_size: self.lb.maglev_table_size,
        })
    }
}

impl Capacity {
    /// Applies one `MAP=COUNT` flag.
    pub fn set_flag(&mut self, text: &str) -> Result<(), ConfigError> {
        let flag_error = || ConfigError::Flag {
            text: text.to_string(),
        };
        let (map, count) = text.split_once('=').ok_or_else(flag_error)?;
        let count: u64 = count
            .trim()
            .parse()
            .ok()
            .filter(|&c| (1..=u64::from(u32::MAX)).contains(&c))
            .ok_or_else(flag_error)?;
        let slot = match map.trim() {
            "endpoints" => &mut self.endpoints,
            "ipcache" => &mut self.ipcache,
            "policy" => &mut self.policy,
            "services" => &mut self.services,
            "backends" => &mut self.backends,
            "maglev" => &mut self.maglev,
            "revnat" => &mut self.revnat,
            _ => return Err(flag_error()),
        };
        *slot = count;
        Ok(())
    }

    /// Every map whose needed entries exceed its capacity.
    pub fn check(&self, needed: &[(SectionKind, usize)]) -> Vec<Overflow> {
        needed
            .iter()
            .filter_map(|&(kind, count)| {
                let allowed = self.of(kind)?;
                let needed = count as u64;
                (needed > allowed).then_some(Overflow {
                    map: kind.name(),
                    needed,
                    allowed,
                })
            })
            .collect()
    }

    fn of(&self, kind: SectionKind) -> Option<u64> {
        match kind {
            SectionKind::Endpoints => Some(self.endpoints),
            SectionKind::Ipcache => Some(self.ipcache),
            SectionKind::Policy => Some(self.policy),
            SectionKind::Services => Some(self.services),
            SectionKind::Backends => Some(self.backends),
            SectionKind::Maglev => Some(self.maglev),
            SectionKind::Revnat => Some(self.revnat),
            SectionKind::Provenance => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_sets_capacity_and_lb() {
        let text = "[capacity]\npolicy = 10\n[lb]\nmode = \"random\"\n";
        let config = Config::parse("moat.toml", text).unwrap();
        assert_eq!(config.capacity.policy, 10);
        assert_eq!(config.capacity.ipcache, Capacity::default().ipcache);
        assert_eq!(config.lb_options().unwrap().mode, LbMode::Random);
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = Config::parse("moat.toml", "[capacity]\npolcy = 1\n").unwrap_err();
        assert!(error.to_string().contains("polcy"), "{error}");
    }

    #[test]
    fn flag_sets_one_map() {
        let mut capacity = Capacity::default();
        capacity.set_flag("backends=3").unwrap();
        assert_eq!(capacity.backends, 3);
        assert!(capacity.set_flag("bogus=3").is_err());
        assert!(capacity.set_flag("policy").is_err());
        assert!(capacity.set_flag("policy=0").is_err());
        assert!(capacity.set_flag("policy=99999999999999").is_err());
    }

    #[test]
    fn check_names_overflowing_map() {
        let capacity = Capacity {
            policy: 2,
            ..Capacity::default()
        };
        let overflows = capacity.check(&[(SectionKind::Policy, 3), (SectionKind::Ipcache, 3)]);
        assert_eq!(overflows.len(), 1);
        assert_eq!(overflows[0].map, "policy");
        assert_eq!(overflows[0].needed, 3);
    }
}
