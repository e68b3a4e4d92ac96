//! Durations written like `"250ms"`, `"10s"` or `"1m 30s"` in configuration (feature `serde`).
//!
//! Every bulwark config uses it for its durations; use it in your own with
//! `#[serde(with = "bulwark_policy::serde_duration")]`.
//!
//! ```
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     #[serde(with = "bulwark_policy::serde_duration")]
//!     timeout: Duration,
//!     #[serde(default, with = "bulwark_policy::serde_duration::option")]
//!     grace: Option<Duration>,
//! }
//!
//! let c: Config = serde_json::from_str(r#"{"timeout":"250ms"}"#).unwrap();
//! assert_eq!(c.timeout, Duration::from_millis(250));
//! assert_eq!(c.grace, None);
//! assert!(serde_json::from_str::<Config>(r#"{"timeout":"soon"}"#).is_err());
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserialises a duration from text such as `"250ms"`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {s:?}: {e} (write it like \"250ms\" or \"10s\")"
        ))
    })
}

/// The same for an optional duration; pair it with `#[serde(default)]`.
pub mod option {
    use super::*;

    /// Deserialises an optional duration from text such as `"250ms"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(deserialize_with = "super::deserialize")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}
