//! The setup command's one error type, and the exit codes it and `status`
//! end with: one table, from which the man page's EXIT STATUS is written.

use std::fmt;

/// How `nydus-overlayfs-setup` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Done,
    Failed,
    Usage,
    NotSwitched,
    Partial,
    RestartRefused,
}

/// Every exit code with what it means, in order.
pub const EXITS: [(Exit, u8, &str); 6] = [
    (Exit::Done, 0, "done; for status: switched"),
    (Exit::Failed, 1, "an error (nothing was changed)"),
    (Exit::Usage, 2, "incorrect invocation"),
    (Exit::NotSwitched, 3, "status: not switched"),
    (
        Exit::Partial,
        4,
        "status: partly switched or broken (see the problems it lists)",
    ),
    (
        Exit::RestartRefused,
        5,
        "enable/disable --restart: done, and what was safe restarted, but not nydus-snapshotter: \
         stopping it would take down running containers' filesystems (the message says why and \
         what to do); package removal: refused for that reason, nothing changed",
    ),
];

impl Exit {
    pub fn code(self) -> u8 {
        EXITS
            .iter()
            .find(|(exit, _, _)| *exit == self)
            .map(|(_, code, _)| *code)
            .expect("every exit is in the table")
    }
}

/// The EXIT STATUS section of the man page.
pub fn exit_status_text() -> String {
    EXITS
        .iter()
        .map(|(_, code, meaning)| format!("  {code}  {meaning}\n"))
        .collect()
}

/// A failure: one line that says what was wrong and what to do; exit 1,
/// with nothing changed on the node.
#[derive(Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// A failure about one file: its path, then what.
    pub fn at(path: &std::path::Path, what: impl fmt::Display) -> Error {
        Error::new(format!("{}: {what}", path.display()))
    }

    pub fn exit(&self) -> Exit {
        Exit::Failed
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
