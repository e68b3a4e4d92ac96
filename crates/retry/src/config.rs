//! The layer's settings as plain data, for configuration files.

use std::borrow::Cow;

use bulwark_policy::{Backoff, BudgetConfig, ConfigError};

/// The plain-data settings of a [`RetryLayer`](crate::RetryLayer): everything but the
/// classifier, the predicate, the replay, the deadline access and the hook, which are code.
///
/// With the feature `serde` it deserialises, durations written like `"250ms"`, and is
/// validated as it is read. A missing field takes its default; `"budget": null` turns the
/// budget off. Apply it with [`RetryBuilder::config`](crate::RetryBuilder::config).
///
/// ```
/// use bulwark_retry::{RetryConfig, RetryLayer};
///
/// let config = RetryConfig { max_attempts: 5, ..RetryConfig::default() };
/// let layer = RetryLayer::builder().config(config).build().unwrap();
/// assert_eq!(layer.max_attempts(), 5);
/// assert!(RetryConfig { max_attempts: 0, ..RetryConfig::default() }.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "RawConfig"))]
pub struct RetryConfig {
    /// The number of attempts, the first included; at least 1. Default 3.
    pub max_attempts: u32,
    /// The delay before each retry, and (its `retry_after_cap`, or `ignore_retry_after` in a
    /// config file) the cap on a server's `retry_after`. Default
    /// [`Backoff::default`]: exponential from 100 ms, doubling, at most 10 s, full jitter,
    /// server hints honoured up to 30 s.
    pub backoff: Backoff,
    /// The retry budget, or `None` for none. Default [`BudgetConfig::default`]: 20% extra
    /// load, 10 retries per second, a TTL of 10 s.
    pub budget: Option<BudgetConfig>,
    /// The name events carry. Default `"retry"`.
    pub name: Cow<'static, str>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: crate::builder::DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            budget: Some(BudgetConfig::default()),
            name: Cow::Borrowed(crate::builder::DEFAULT_NAME),
        }
    }
}

impl RetryConfig {
    /// Checks the settings as [`RetryBuilder::build`](crate::RetryBuilder::build) does.
    ///
    /// ```
    /// use bulwark_policy::BudgetConfig;
    /// use bulwark_retry::RetryConfig;
    ///
    /// let bad = RetryConfig {
    ///     budget: Some(BudgetConfig { retry_percent: -1.0, ..BudgetConfig::default() }),
    ///     ..RetryConfig::default()
    /// };
    /// assert_eq!(bad.validate().unwrap_err().field(), "retry_percent");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::builder::validate_max_attempts(self.max_attempts)?;
        self.backoff.validate()?;
        if let Some(budget) = self.budget {
            budget.build()?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    max_attempts: u32,
    backoff: Backoff,
    budget: Option<BudgetConfig>,
    name: Cow<'static, str>,
}

#[cfg(feature = "serde")]
impl Default for RawConfig {
    fn default() -> Self {
        let c = RetryConfig::default();
        Self {
            max_attempts: c.max_attempts,
            backoff: c.backoff,
            budget: c.budget,
            name: c.name,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<RawConfig> for RetryConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let config = RetryConfig {
            max_attempts: raw.max_attempts,
            backoff: raw.backoff,
            budget: raw.budget,
            name: raw.name,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deserialises_with_defaults_and_validates() {
        let c: RetryConfig = serde_json::from_str(
            r#"{"max_attempts":4,"backoff":{"kind":"constant","base":"250ms"},"budget":{"retry_percent":0.1}}"#,
        )
        .unwrap();
        assert_eq!(c.max_attempts, 4);
        assert_eq!(c.backoff, Backoff::constant(Duration::from_millis(250)));
        assert_eq!(c.budget.unwrap().retry_percent, 0.1);
        assert_eq!(c.name, "retry");

        let off: RetryConfig = serde_json::from_str(r#"{"budget":null,"name":"db"}"#).unwrap();
        assert_eq!(off.budget, None);
        assert_eq!(off.name, "db");
        assert_eq!(off.max_attempts, 3);

        let zero = serde_json::from_str::<RetryConfig>(r#"{"max_attempts":0}"#).unwrap_err();
        assert!(zero.to_string().contains("max_attempts"), "{zero}");
        assert!(serde_json::from_str::<RetryConfig>(r#"{"attempts":2}"#).is_err());
        assert!(serde_json::from_str::<RetryConfig>(r#"{"budget":{"ttl":"1ms"}}"#).is_err());
    }
}
