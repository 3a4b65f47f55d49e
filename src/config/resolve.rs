//! The settings cascade — built-in defaults → `defaults:` → profile →
//! device, field by field — over the parsed entries, resolved into
//! [`Target`]s. Plain functions: what they need (the environment, the
//! profiles and defaults, the device names taken so far) is the
//! [`Resolver`] passed to them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::entry::Settings;
use crate::probe::{Layers, Login};
use crate::secret::Secret;
use crate::secret::source::{Env, SecretSource};
use crate::settings::ConfigError;
use crate::settings::error::closest;
use crate::settings::yaml::{self, FieldPath};
use crate::target::{Device, Protocol, Target};

/// A file being resolved: errors found now are located in its text.
pub(crate) struct File<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// Where its relative paths start, when not its own directory (a
    /// remote source's entries: the main file's).
    pub dir: Option<&'a Path>,
    /// Its index in the resolver's kept texts, once it has one.
    pub kept: std::cell::Cell<Option<usize>>,
}

impl File<'_> {
    /// The directory relative paths in the file start from.
    pub fn dir(&self) -> PathBuf {
        if let Some(d) = self.dir {
            return d.to_path_buf();
        }
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// An error about the node at `at`.
    pub fn error(&self, at: &FieldPath, message: String) -> ConfigError {
        yaml::locate(self.path, self.text, at, message)
    }
}

/// One level of the cascade, its secrets read: a profile or a device.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Layer {
    pub login: Login,
    pub checks: Option<Vec<Protocol>>,
    pub labels: BTreeMap<String, String>,
    pub parents: Option<Parents>,
    pub path_trace: Option<bool>,
    pub blocks: Layers,
}

/// A `parents:` list and where it is written, for the errors found once
/// every device is known (an unknown name, a cycle).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parents {
    pub names: Vec<String>,
    pub at: Place,
}

/// A node of a file the resolver has seen: the file's index in
/// [`Resolver::texts`] and the node's path in it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Place {
    pub file: usize,
    pub at: FieldPath,
}

impl Layer {
    /// This layer on top of `base`. Labels merge, this layer's winning.
    pub fn over(&self, base: &Layer) -> Layer {
        let (l, b) = (&self.login, &base.login);
        let mut labels = base.labels.clone();
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        Layer {
            login: Login {
                username: l.username.clone().or_else(|| b.username.clone()),
                password: l.password.clone().or_else(|| b.password.clone()),
                secondary: l.secondary.clone().or_else(|| b.secondary.clone()),
                private_key: l.private_key.clone().or_else(|| b.private_key.clone()),
                private_key_passphrase: l
                    .private_key_passphrase
                    .clone()
                    .or_else(|| b.private_key_passphrase.clone()),
                platform: l.platform.clone().or_else(|| b.platform.clone()),
            },
            checks: self.checks.clone().or_else(|| base.checks.clone()),
            labels,
            parents: self.parents.clone().or_else(|| base.parents.clone()),
            path_trace: self.path_trace.or(base.path_trace),
            blocks: self.blocks.over(&base.blocks),
        }
    }
}

/// A device and its targets, every setting resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resolved {
    pub device: Device,
    pub targets: Vec<Target>,
    /// Where the device's `parents` (its own or its profile's) are written.
    pub parents_at: Option<Place>,
}

/// Where a device name was first used, for duplicate-name errors.
struct NameOrigin {
    file: PathBuf,
    entry: String,
    /// A scrapli entry named by its `host`: another file's entry for the same
    /// host adds its checks to the device (the seeds keep one list per
    /// transport for the same hosts). The transports claimed so far.
    by_host: Option<Vec<Protocol>>,
}

/// What resolving a device needs beyond its entry.
pub(crate) struct Resolver {
    pub env: Box<Env>,
    pub defaults: Layers,
    pub profiles: BTreeMap<String, Layer>,
    /// Device names taken so far, in all files.
    names: HashMap<String, NameOrigin>,
    /// The files that hold a `parents:` list, to locate errors in them
    /// once every device is known.
    texts: std::cell::RefCell<Vec<(PathBuf, Arc<str>)>>,
}

impl Resolver {
    pub fn new(env: Box<Env>) -> Self {
        Resolver {
            env,
            defaults: Layers::default(),
            profiles: BTreeMap::new(),
            names: HashMap::new(),
            texts: Default::default(),
        }
    }

    /// `at` of `file`, kept to locate an error there later.
    pub fn place(&self, file: &File, at: FieldPath) -> Place {
        let index = file.kept.get().unwrap_or_else(|| {
            let mut texts = self.texts.borrow_mut();
            texts.push((file.path.to_path_buf(), Arc::from(file.text)));
            file.kept.set(Some(texts.len() - 1));
            texts.len() - 1
        });
        Place { file: index, at }
    }

    /// An error at `place`.
    pub fn error_at(&self, place: &Place, message: String) -> ConfigError {
        let texts = self.texts.borrow();
        match texts.get(place.file) {
            Some((path, text)) => yaml::locate(path, text, &place.at, message),
            None => ConfigError::whole_file(Path::new(""), message),
        }
    }

    /// A secret, read; `""` is none when `blank_is_none` (scrapli's way).
    pub fn secret(
        &self,
        file: &File,
        at: &FieldPath,
        source: Option<SecretSource>,
        blank_is_none: bool,
    ) -> Result<Option<Secret>, ConfigError> {
        let Some(source) = source else {
            return Ok(None);
        };
        let secret = source
            .read(&file.dir(), &*self.env)
            .map_err(|e| file.error(at, e))?;
        Ok((!(blank_is_none && secret.expose().is_empty())).then_some(secret))
    }

    /// A device's or profile's settings at `at`, with secrets read and
    /// key files checked.
    pub fn layer(&self, file: &File, at: &FieldPath, s: Settings) -> Result<Layer, ConfigError> {
        let dir = file.dir();
        let private_key = match s.private_key {
            Some(k) => Some(
                k.path(&dir, &*self.env)
                    .map_err(|e| file.error(&at.key("private_key"), e))?,
            ),
            None => None,
        };
        let mut blocks = s.blocks;
        blocks.rebase(&dir);
        Ok(Layer {
            login: Login {
                username: s.username,
                password: self.secret(file, &at.key("password"), s.password, false)?,
                secondary: self.secret(file, &at.key("secondary"), s.secondary, false)?,
                private_key,
                private_key_passphrase: self.secret(
                    file,
                    &at.key("private_key_passphrase"),
                    s.private_key_passphrase,
                    false,
                )?,
                platform: s.platform,
            },
            checks: s.checks,
            labels: s.labels,
            parents: s.parents.map(|names| Parents {
                names,
                at: self.place(file, at.key("parents")),
            }),
            path_trace: s.path_trace,
            blocks,
        })
    }

    /// `Err` unless profile `name` exists.
    pub fn known_profile(&self, name: &str) -> Result<(), String> {
        if self.profiles.contains_key(name) {
            return Ok(());
        }
        Err(if self.profiles.is_empty() {
            format!("unknown profile `{name}` (no profiles are defined)")
        } else if let Some(best) = closest(name, self.profiles.keys().map(String::as_str)) {
            format!("unknown profile `{name}`, did you mean `{best}`?")
        } else {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            format!("unknown profile `{name}` (defined: {})", known.join(", "))
        })
    }

    /// Takes `name` for the entry at `entry` of `file`, or says where it
    /// was taken. `host_of`: a scrapli entry without `name`, named by its
    /// host, whose transport this is; allowed again for the same host in
    /// another file with another transport (the entries merge into one
    /// device).
    pub fn claim(
        &mut self,
        file: &Path,
        entry: &FieldPath,
        name: &str,
        host_of: Option<Protocol>,
    ) -> Result<(), String> {
        if let Some(first) = self.names.get_mut(name) {
            if let (Some(t), Some(seen)) = (host_of, first.by_host.as_mut()) {
                if first.file != file && !seen.contains(&t) {
                    seen.push(t);
                    return Ok(());
                }
            }
            let place = if first.file == file {
                first.entry.clone()
            } else {
                format!("{} in {}", first.entry, first.file.display())
            };
            let hint = if host_of.is_some() && first.by_host.is_some() {
                " (scrapli entries for the same host in different files merge when \
                 their transports differ)"
            } else {
                ""
            };
            return Err(format!(
                "duplicate device name `{name}` (first defined at {place}){hint}"
            ));
        }
        self.names.insert(
            name.to_owned(),
            NameOrigin {
                file: file.to_path_buf(),
                entry: entry.to_string(),
                by_host: host_of.map(|t| vec![t]),
            },
        );
        Ok(())
    }

    /// Whether `name` is taken.
    pub fn claimed(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Gives `name` back (an entry that failed after claiming it).
    pub fn release(&mut self, name: &str) {
        self.names.remove(name);
    }

    /// Resolves one device: `layer` (the device's own settings) on top of
    /// its profile (known to exist) on top of `defaults:`.
    pub fn device(
        &self,
        name: String,
        host: String,
        profile: Option<&str>,
        layer: Layer,
    ) -> Result<Resolved, String> {
        let empty = Layer::default();
        let profile = profile.and_then(|p| self.profiles.get(p)).unwrap_or(&empty);
        let defaults = Layer {
            blocks: self.defaults.clone(),
            ..Layer::default()
        };
        let merged = layer.over(profile).over(&defaults);

        let mut checks = merged
            .checks
            .clone()
            .unwrap_or_else(|| vec![Protocol::Icmp]);
        checks.sort();
        checks.dedup();

        let mut labels = merged.labels.clone();
        if let Some(platform) = &merged.login.platform {
            labels
                .entry("platform".to_owned())
                .or_insert_with(|| platform.clone());
        }
        let name: Arc<str> = name.into();
        let mut targets = Vec::with_capacity(checks.len());
        for protocol in checks {
            let (interval, timeout, spec, source, ip_family) =
                merged.blocks.target(protocol, &merged.login)?;
            source.check_family(protocol.as_str(), &host)?;
            ip_family.check_literal(protocol.as_str(), &host)?;
            ip_family.check_source(protocol.as_str(), source.address)?;
            targets.push(Target {
                device: name.clone(),
                protocol,
                host: host.clone(),
                interval,
                timeout,
                spec,
                source,
                ip_family,
            });
        }
        let (parents, parents_at) = match merged.parents {
            Some(p) => (p.names.into_iter().map(Arc::from).collect(), Some(p.at)),
            None => (Vec::new(), None),
        };
        Ok(Resolved {
            device: Device {
                name,
                host,
                labels,
                parents,
                path_trace: merged.path_trace.unwrap_or(true),
            },
            targets,
            parents_at,
        })
    }
}

/// Resolves a device entry in reachd's format at `at` of `file`;
/// `file_profile` applies when the entry names no profile.
pub(crate) fn native(
    r: &mut Resolver,
    file: &File,
    at: &FieldPath,
    d: super::entry::Device,
    file_profile: Option<&str>,
) -> Result<Resolved, ConfigError> {
    r.claim(file.path, at, &d.name, None)
        .map_err(|e| file.error(&at.key("name"), e))?;
    if let Some(p) = &d.profile {
        r.known_profile(p)
            .map_err(|e| file.error(&at.key("profile"), e))?;
    }
    let layer = r.layer(file, at, d.settings)?;
    let profile = d.profile.as_deref().or(file_profile);
    r.device(d.name, d.address, profile, layer)
        .map_err(|e| file.error(at, e))
}
