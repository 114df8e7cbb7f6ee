//! The backend whose dialect the server speaks where the two real ones disagree
//! (`contract/peers/`).

use serde::{Deserialize, Serialize};

/// The backend whose dialect the server speaks where the two disagree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// The original backend (`current_clip` = clip started, errors in `error`).
    Original,
    /// The optimized backend (`current_clip` = clips finished, errors in `message`).
    #[default]
    Optimized,
}

impl std::str::FromStr for Compat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "original" => Ok(Compat::Original),
            "optimized" => Ok(Compat::Optimized),
            other => Err(format!(
                "unknown compat {other:?}: use original or optimized"
            )),
        }
    }
}
