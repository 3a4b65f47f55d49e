//! `parents:` checked once every device is known: each name must be a
//! device, and no device may depend on itself through any chain. Errors
//! point at the list where the name is written (a device's or a profile's).

use std::collections::{BTreeSet, HashMap};

use super::resolve::{Place, Resolver};
use crate::settings::ConfigError;
use crate::settings::error::closest;
use crate::target::Device;
use crate::topology::find_cycle;

/// Errors in the devices' `parents`, each once (a profile's list is used
/// by every device of the profile). `at[i]` is where device `i`'s list is
/// written.
pub(crate) fn check(devices: &[Device], at: &[Option<Place>], r: &Resolver) -> Vec<ConfigError> {
    let index: HashMap<&str, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (&*d.name, i))
        .collect();
    let mut errors = Vec::new();
    let mut seen: BTreeSet<(usize, String, String)> = BTreeSet::new();
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(devices.len());
    for (d, place) in devices.iter().zip(at) {
        let mut ids = Vec::with_capacity(d.parents.len());
        for (k, p) in d.parents.iter().enumerate() {
            match index.get(&**p) {
                Some(&i) => ids.push(i),
                None => {
                    let Some(place) = place else { continue };
                    if !seen.insert((place.file, place.at.to_string(), p.to_string())) {
                        continue;
                    }
                    let hint = match closest(p, devices.iter().map(|d| &*d.name)) {
                        Some(best) => format!(", did you mean `{best}`?"),
                        None => " (no device has that name)".to_owned(),
                    };
                    errors.push(located(r, place, k, format!("unknown parent `{p}`{hint}")));
                }
            }
        }
        parents.push(ids);
    }
    if let Some(cycle) = find_cycle(&parents) {
        let names: Vec<&str> = cycle.iter().map(|&i| &*devices[i].name).collect();
        let (first, next) = (cycle[0], cycle[1]);
        let message = format!(
            "dependency cycle: {} (a device cannot be behind itself)",
            names.join(" → ")
        );
        let k = devices[first]
            .parents
            .iter()
            .position(|p| **p == *devices[next].name)
            .unwrap_or(0);
        match &at[first] {
            Some(place) => errors.push(located(r, place, k, message)),
            None => errors.push(ConfigError::whole_file(std::path::Path::new(""), message)),
        }
    }
    errors
}

/// An error about item `k` of the list at `place`, or about the list when
/// it was written as one name (`parents: core1`).
fn located(r: &Resolver, place: &Place, k: usize, message: String) -> ConfigError {
    let item = Place {
        file: place.file,
        at: place.at.index(k),
    };
    let e = r.error_at(&item, message.clone());
    if e.line.is_some() {
        return e;
    }
    r.error_at(place, message)
}
