//! The helper's one kind of error: a one-line message and mount(8)'s exit code.
//!
//! Messages are built only from option *keys*, paths and errno texts: no
//! function here is ever handed the value of a Nydus-only or unknown option.

use std::fmt;

/// Exit codes as mount(8) documents them for mount helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Incorrect invocation or permissions (exit 1).
    Usage,
    /// The mount itself failed (exit 32).
    MountFailed,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Usage,
            message: message.into(),
        }
    }

    pub fn mount_failed(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::MountFailed,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Usage => 1,
            ErrorKind::MountFailed => 32,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A path or key for a message: quoted, lossy for non-UTF-8 bytes, on one line.
pub fn quoted(bytes: &[u8]) -> String {
    format!("'{}'", one_line(bytes))
}

/// Text for a one-line message: lossy for non-UTF-8 bytes, trailing white
/// space dropped, other control characters escaped.
pub fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.trim_end().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(
            one_line(b"overlay: Bad value for 'x'\n"),
            "overlay: Bad value for 'x'"
        );
        assert_eq!(quoted(b"/a\nb\tc"), "'/a\\nb\\tc'");
        assert_eq!(quoted(b"/bad\xffbyte"), "'/bad\u{fffd}byte'");
    }
}
