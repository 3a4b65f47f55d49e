//! A check's settings as the cascade sees them: [`Layer`] (made by
//! [`crate::settings!`]), the block parser [`Block`], and what every
//! check's settings have.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::values::DefaultsOnly;

/// One layer of a check's settings cascade (built-in → `defaults:` →
/// profile → device): the settings it sets. Made by [`settings!`].
pub trait Layer: Clone + Default + fmt::Debug + PartialEq {
    /// The resolved settings.
    type Settings: CheckSettings;
    /// The block's keys, in order.
    const KEYS: &'static [&'static str];
    /// What the block is, for errors (`a map of icmp settings`).
    const EXPECTING: &'static str;
    /// This layer on top of `base`, field by field.
    fn over(&self, base: &Self) -> Self;
    /// Every setting: this layer's, else the built-in default.
    fn resolve(&self) -> Self::Settings;
    /// Parses the value of `key` (one of [`Layer::KEYS`]).
    fn set<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
    /// Sets the fields of `source` this layer leaves unset: a device's,
    /// profile's or `defaults:`'s `source_address` / `source_interface`
    /// written beside the checks' blocks applies to each of them, at the
    /// same level of the cascade.
    fn fill_source(&mut self, source: &crate::probe::source::Source);
    /// Sets `ip_family` if this layer leaves it unset (the shorthand
    /// beside the blocks, like [`Layer::fill_source`]).
    fn fill_ip_family(&mut self, family: Option<crate::inventory::IpFamily>);
    /// Makes relative paths relative to `dir`.
    fn rebase(&mut self, dir: &Path);
}

/// What every check's settings have: when it runs, how long it may take,
/// and how many may run at once.
pub trait CheckSettings {
    fn interval(&self) -> Duration;
    fn timeout(&self) -> Duration;
    fn concurrency(&self) -> usize;
    /// Where the check's packets leave from (`source_address`,
    /// `source_interface`: every check has both).
    fn source(&self) -> crate::probe::source::Source;
    /// Which of a name's addresses the check uses (`ip_family`).
    fn ip_family(&self) -> crate::inventory::IpFamily;
}

/// Parses a check's block into its [`Layer`]. `in_defaults`: under
/// `defaults:`, the only place `concurrency` may be set. An empty block
/// (`ssh:` with nothing after it) sets nothing.
pub struct Block<L> {
    in_defaults: bool,
    layer: PhantomData<L>,
}

impl<L> Block<L> {
    pub fn new(in_defaults: bool) -> Self {
        Block {
            in_defaults,
            layer: PhantomData,
        }
    }
}

impl<'de, L: Layer> DeserializeSeed<'de> for Block<L> {
    type Value = L;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<L, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, L: Layer> Visitor<'de> for Block<L> {
    type Value = L;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(L::EXPECTING)
    }
    fn visit_none<E: de::Error>(self) -> Result<L, E> {
        Ok(L::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<L, E> {
        Ok(L::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<L, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<L, A::Error> {
        let mut layer = L::default();
        while let Some(key) = map.next_key_seed(Key(L::KEYS))? {
            if key == "concurrency" && !self.in_defaults {
                let _: Option<DefaultsOnly> = map.next_value()?;
            } else {
                layer.set(key, &mut map)?;
            }
        }
        Ok(layer)
    }
}

/// A map key that must be one of a list, refused at its own line and
/// column with serde's "unknown field" (which becomes a "did you mean").
pub struct Key(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<&'static str, E> {
        self.0
            .iter()
            .copied()
            .find(|k| *k == v)
            .ok_or_else(|| E::unknown_field(v, self.0))
    }
}

/// The protocol-blind check of a check's timing: its timeout may not
/// exceed its interval, so a target never overlaps itself.
pub fn check_timing(check: &str, s: &impl CheckSettings) -> Result<(), String> {
    let (interval, timeout) = (s.interval(), s.timeout());
    if timeout > interval {
        return Err(format!(
            "{check} timeout ({}) is longer than its interval ({})",
            crate::verdict::fmt_duration(timeout),
            crate::verdict::fmt_duration(interval)
        ));
    }
    Ok(())
}
