//! The machine's virtual packages (`__glibc`, `__linux`, `__unix`, `__archspec`, …) as
//! every solve sees them, so that a package declaring `__glibc >=2.36` installs only
//! where that glibc is. `CONDA_OVERRIDE_GLIBC` (and the other `CONDA_OVERRIDE_*`
//! variables conda clients honour) replaces what is detected.

use rattler_conda_types::GenericVirtualPackage;
use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages};

/// The virtual packages of this machine, after `CONDA_OVERRIDE_*`; none when detection
/// fails (then a package with a `__glibc` dependency does not solve, and the solver
/// says so).
pub fn virtual_packages() -> Vec<GenericVirtualPackage> {
    match VirtualPackages::detect(&VirtualPackageOverrides::from_env(), None) {
        Ok(found) => found.into_generic_virtual_packages().collect(),
        Err(e) => {
            tracing::warn!("cannot detect the machine's virtual packages: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detects_glibc_on_linux() {
        let found = super::virtual_packages();
        assert!(
            found.iter().any(|p| p.name.as_normalized() == "__glibc"),
            "{found:?}"
        );
    }
}
