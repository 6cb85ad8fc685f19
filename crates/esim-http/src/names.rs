//! Function names in URLs and JSON (`ES2.DownloadProfile`; digest §2.1 function list).

use esim_proto::function::{Function, Interface};

/// The interface as written in URLs (`ES1` … `ES7`).
pub(crate) fn interface_name(i: Interface) -> &'static str {
    match i {
        Interface::ES1 => "ES1",
        Interface::ES2 => "ES2",
        Interface::ES3 => "ES3",
        Interface::ES4 => "ES4",
        Interface::ES7 => "ES7",
    }
}

/// `ES2.DownloadProfile`: the interface and the SGP.02 function name.
pub fn qualified_name(f: Function) -> String {
    format!("{}.{}", interface_name(f.interface()), f.name())
}

/// The function at `/api/v1/{interface}/{function}` (exact, case-sensitive names).
pub fn function_from_path(interface: &str, function: &str) -> Option<Function> {
    Function::ALL
        .iter()
        .copied()
        .find(|f| interface_name(f.interface()) == interface && f.name() == function)
}

/// The function named `ES2.DownloadProfile`.
pub fn function_from_qualified(name: &str) -> Option<Function> {
    let (i, f) = name.split_once('.')?;
    function_from_path(i, f)
}

/// The URL path of a function (`/api/v1/ES3/CreateISDP`).
pub(crate) fn function_path(f: Function) -> String {
    format!("/api/v1/{}/{}", interface_name(f.interface()), f.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_round_trips_through_its_names() {
        for &f in Function::ALL {
            assert_eq!(function_from_qualified(&qualified_name(f)), Some(f));
            let p = function_path(f);
            let mut parts = p.trim_start_matches("/api/v1/").split('/');
            let (i, n) = (parts.next().unwrap(), parts.next().unwrap());
            assert_eq!(function_from_path(i, n), Some(f));
        }
        assert_eq!(function_from_path("ES3", "createisdp"), None);
        assert_eq!(function_from_qualified("ES9.GetEIS"), None);
        assert_eq!(function_from_qualified("nodot"), None);
    }
}
