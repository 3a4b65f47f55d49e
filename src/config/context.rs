//! What a node needs to know beyond itself while it is deserialized: the
//! directory relative paths start from, the environment, the profiles and
//! defaults, the device names already taken.
//!
//! It is set for the duration of one file's parse (a scoped thread-local), so
//! checks that need it run inside `Deserialize` and serde_norway attaches the
//! node's line and column to their errors.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::resolve::{Defaults, Layer};

/// Looks up an environment variable (injectable, for tests).
pub(crate) type EnvLookup = Rc<dyn Fn(&str) -> Option<OsString>>;

/// Where a device name was first used, for duplicate-name errors.
#[derive(Clone, Debug)]
pub(crate) struct NameOrigin {
    pub file: PathBuf,
    pub entry: String,
    /// A scrapli entry named by its `host`: another file's entry for the same
    /// host adds its checks to the device (the seeds keep one list per
    /// transport for the same hosts). The transports claimed so far.
    pub by_host: Option<Vec<crate::target::Protocol>>,
}

#[derive(Clone)]
pub(crate) struct Ctx {
    /// The file being parsed.
    pub file: PathBuf,
    /// Relative paths in the file are relative to this.
    pub base_dir: PathBuf,
    pub env: EnvLookup,
    /// Profiles by name (only the names are known while the main file's
    /// `profiles:` section itself is parsed: empty then).
    pub profiles: Rc<BTreeMap<String, Rc<Layer>>>,
    pub defaults: Rc<Defaults>,
    /// The profile an `inventory:` source applies to all its entries.
    pub file_profile: Option<String>,
    /// Device names taken so far, in all files.
    pub names: Rc<RefCell<HashMap<String, NameOrigin>>>,
    /// How entries of the device list are named in paths (`devices` in the
    /// main file, empty in an inventory file).
    pub list_name: &'static str,
    /// Index of the device entry being parsed.
    pub entry: Cell<usize>,
}

impl Ctx {
    pub fn new(file: &Path, env: EnvLookup) -> Self {
        Ctx {
            file: file.to_path_buf(),
            base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            env,
            profiles: Rc::default(),
            defaults: Rc::default(),
            file_profile: None,
            names: Rc::default(),
            list_name: "devices",
            entry: Cell::new(0),
        }
    }

    /// `path` made relative to the file being parsed.
    pub fn relative(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

    pub fn env_var(&self, name: &str) -> Option<OsString> {
        (self.env)(name)
    }

    /// The current device entry, as a path (`devices[3]`, `[3]`).
    pub fn entry_path(&self) -> String {
        format!("{}[{}]", self.list_name, self.entry.get())
    }

    /// Takes `name` for the current entry, or says where it was taken.
    pub fn claim_name(&self, name: &str) -> Result<(), String> {
        self.claim(name, None)
    }

    /// Takes `host` as the name of a scrapli entry without `name` whose
    /// transport is `transport`. Allowed again for the same host in another
    /// file with another transport: the entries merge into one device.
    pub fn claim_host_name(
        &self,
        host: &str,
        transport: crate::target::Protocol,
    ) -> Result<(), String> {
        self.claim(host, Some(transport))
    }

    fn claim(&self, name: &str, transport: Option<crate::target::Protocol>) -> Result<(), String> {
        let mut names = self.names.borrow_mut();
        if let Some(first) = names.get_mut(name) {
            if let (Some(t), Some(seen)) = (transport, first.by_host.as_mut()) {
                if first.file != self.file && !seen.contains(&t) {
                    seen.push(t);
                    return Ok(());
                }
            }
            let place = if first.file == self.file {
                first.entry.clone()
            } else {
                format!("{} in {}", first.entry, first.file.display())
            };
            let hint = if transport.is_some() && first.by_host.is_some() {
                " (scrapli entries for the same host in different files merge when \
                 their transports differ)"
            } else {
                ""
            };
            return Err(format!(
                "duplicate device name `{name}` (first defined at {place}){hint}"
            ));
        }
        names.insert(
            name.to_owned(),
            NameOrigin {
                file: self.file.clone(),
                entry: self.entry_path(),
                by_host: transport.map(|t| vec![t]),
            },
        );
        Ok(())
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Ctx>>> = const { RefCell::new(None) };
}

/// Runs `f` with `ctx` as the context of every node deserialized in it.
pub(crate) fn scoped<R>(ctx: Rc<Ctx>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<Ctx>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| c.borrow_mut().replace(ctx));
    let _restore = Restore(prev);
    f()
}

/// The context of the file being parsed.
pub(crate) fn current() -> Result<Rc<Ctx>, String> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| "internal error: configuration parsed outside of config::load".to_owned())
}
