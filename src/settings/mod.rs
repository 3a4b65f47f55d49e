//! The building blocks of every settings file reachd reads (the main
//! configuration, inventories, the web config): validated value types,
//! errors with their location, the YAML reader, and [`settings!`], which
//! declares a check's settings once.
//!
//! A check's settings (its `icmp:`, `ssh:`, … block) are declared in one
//! field list, in the check's own folder (`probe/<name>/settings.rs`):
//! each field's name, the type that validates it as it is parsed, the type
//! it has once resolved, and its built-in default. From that list
//! [`settings!`] makes the resolved settings struct, its layer (every field
//! optional: what `defaults:`, a profile or a device sets) with the
//! cascade's merge and resolution, and the block's parser (unknown keys
//! refused with a "did you mean").
//!
//! Files, one job each:
//! - `layer`: a check's settings in the cascade, and its block's parser;
//! - `de`: deserializing helpers, and how a parsed value becomes a setting;
//! - `values`: validated scalar values (numbers in a range, durations in
//!   `duration`, paths, regexes);
//! - `yaml`: files read, parsed, and errors located;
//! - `depth`: a linear look at a file's nesting before it is parsed;
//! - `error`: errors with their location, and "did you mean".

pub mod de;
pub mod depth;
pub mod duration;
pub mod error;
pub mod layer;
pub mod values;
pub(crate) mod yaml;

pub use de::{Field, custom, str_then};
pub use error::{ConfigError, ConfigErrors};
pub use layer::{Block, CheckSettings, Key, Layer, check_timing};

/// Declares a check's settings once. Each field: its name (its YAML key),
/// the type that validates it while it is parsed, `=>` its resolved type,
/// `=` its built-in default. Every check has `interval`, `timeout`,
/// `concurrency` (a daemon-wide limit: only `defaults:` may set it),
/// `source_address`, `source_interface` (see [`crate::probe::source`]) and
/// `ip_family` (see [`crate::inventory::IpFamily`]).
///
/// ```ignore
/// settings! {
///     /// The `icmp:` block.
///     pub struct IcmpSettings, layer IcmpLayer, "a map of icmp settings" {
///         interval: IcmpInterval => Duration = Duration::from_secs(10),
///         count: Count => u32 = 3,
///     }
/// }
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, layer $layer:ident, $expecting:literal {
            $( $(#[$fmeta:meta])* $field:ident: $parse:ty => $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::settings::CheckSettings for $name {
            fn interval(&self) -> std::time::Duration {
                self.interval
            }
            fn timeout(&self) -> std::time::Duration {
                self.timeout
            }
            fn concurrency(&self) -> usize {
                self.concurrency
            }
            fn source(&self) -> $crate::probe::source::Source {
                $crate::probe::source::Source {
                    address: self.source_address,
                    interface: self.source_interface.clone(),
                }
            }
            fn ip_family(&self) -> $crate::inventory::IpFamily {
                self.ip_family
            }
        }

        #[doc = concat!("What one level of the cascade sets of [`", stringify!($name), "`].")]
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $layer {
            $( pub $field: Option<$ty>, )*
        }

        impl $crate::settings::Layer for $layer {
            type Settings = $name;
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
            const EXPECTING: &'static str = $expecting;

            fn over(&self, base: &Self) -> Self {
                $layer { $( $field: self.$field.clone().or_else(|| base.$field.clone()), )* }
            }

            fn resolve(&self) -> $name {
                let builtin = <$name as Default>::default();
                $name { $( $field: self.$field.clone().unwrap_or(builtin.$field), )* }
            }

            fn set<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                $(
                    if key == stringify!($field) {
                        let v: Option<$parse> = map.next_value()?;
                        if let Some(v) = v {
                            self.$field = Some($crate::settings::Field::<$ty>::value(v));
                        }
                        return Ok(());
                    }
                )*
                Ok(())
            }

            fn fill_source(&mut self, source: &$crate::probe::source::Source) {
                if self.source_address.is_none() {
                    self.source_address = source.address.map(Some);
                }
                if self.source_interface.is_none() {
                    self.source_interface = source.interface.clone().map(Some);
                }
            }

            fn fill_ip_family(&mut self, family: Option<$crate::inventory::IpFamily>) {
                if self.ip_family.is_none() {
                    self.ip_family = family;
                }
            }

            fn rebase(&mut self, dir: &std::path::Path) {
                $(
                    if let Some(v) = &mut self.$field {
                        <$parse as $crate::settings::Field<$ty>>::rebase(v, dir);
                    }
                )*
            }
        }
    };
}
