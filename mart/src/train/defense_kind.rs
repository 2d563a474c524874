//! Which training objective a run optimises: the defenses `mart train --defense` names.

use serde::{Deserialize, Serialize};

/// Which training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DefenseKind {
    /// Madry's PGD adversarial training.
    Standard,
    /// TRADES.
    Trades,
    /// MART.
    Mart,
    /// MMA.
    Mma,
    /// Dynamic adversarial training (FOSC).
    Dynamic,
    /// Adversarial logit pairing.
    Alp,
    /// Clean logit pairing.
    Clp,
    /// Plain cross-entropy on clean images (no attack): the standard model of RST.
    Natural,
}

impl DefenseKind {
    /// Parses `standard|trades|mart|mma|dynamic|alp|clp|natural`.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "standard" => Ok(DefenseKind::Standard),
            "trades" => Ok(DefenseKind::Trades),
            "mart" => Ok(DefenseKind::Mart),
            "mma" => Ok(DefenseKind::Mma),
            "dynamic" => Ok(DefenseKind::Dynamic),
            "alp" => Ok(DefenseKind::Alp),
            "clp" => Ok(DefenseKind::Clp),
            "natural" => Ok(DefenseKind::Natural),
            other => Err(format!(
                "unknown defense '{other}': expected standard, trades, mart, mma, dynamic, alp, clp or natural"
            )),
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            DefenseKind::Standard => "standard",
            DefenseKind::Trades => "trades",
            DefenseKind::Mart => "mart",
            DefenseKind::Mma => "mma",
            DefenseKind::Dynamic => "dynamic",
            DefenseKind::Alp => "alp",
            DefenseKind::Clp => "clp",
            DefenseKind::Natural => "natural",
        }
    }
}
