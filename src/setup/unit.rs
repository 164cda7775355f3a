//! How systemd would start a unit on the node: its file, found in systemd's
//! search path, with every drop-in (`NAME.d/*.conf`, a name in an earlier
//! directory hiding the same name in a later one, all applied in name
//! order), and the command line its `ExecStart=` runs once systemd has
//! expanded `Environment=` into it (systemd.exec(5), systemd.service(5)).
//! Read through the node's root, so under `--root` the image's units count,
//! not this machine's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::rootfs::NodeFs;

/// Where systemd looks for system units, most important first.
pub const SEARCH_PATH: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Whether `path` is a unit file or drop-in systemd loads (one of its
/// search directories holds it): systemd reads it only at daemon-reload.
pub fn is_unit_file(path: &Path) -> bool {
    SEARCH_PATH.iter().any(|dir| path.starts_with(dir))
}

/// A unit as systemd would load it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    /// The unit file systemd uses (the first in the search path).
    pub file: PathBuf,
    /// Its drop-ins, in the order systemd applies them.
    pub drop_ins: Vec<PathBuf>,
    /// What `ExecStart=` runs, split into words with `Environment=`
    /// expanded; `None` when the unit starts nothing.
    pub command: Option<Vec<String>>,
    /// `ExecStart=` as written, before expansion.
    exec_start: Option<String>,
}

impl Unit {
    /// `name` on the node; `None` when it has no such unit, or the unit is
    /// masked (a link to /dev/null).
    pub fn load(node: &NodeFs, name: &str) -> Option<Unit> {
        let file = SEARCH_PATH
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|path| node.canonical(path).is_some())?;
        if node.canonical(&file).as_deref() == Some(Path::new("/dev/null")) {
            return None;
        }
        let mut drop_ins = BTreeMap::new();
        for dir in SEARCH_PATH.iter().rev() {
            let dir = Path::new(dir).join(format!("{name}.d"));
            for entry in node.list(&dir).unwrap_or_default() {
                let entry = entry.to_string_lossy().into_owned();
                if entry.ends_with(".conf") {
                    drop_ins.insert(entry.clone(), dir.join(entry));
                }
            }
        }
        let drop_ins: Vec<PathBuf> = drop_ins.into_values().collect();
        let mut service = Service::default();
        for path in std::iter::once(&file).chain(&drop_ins) {
            if let Ok(Some(bytes)) = node.read(path) {
                service.read(&String::from_utf8_lossy(&bytes));
            }
        }
        Some(Unit {
            name: name.to_string(),
            command: service.command(),
            exec_start: service.exec_start,
            file,
            drop_ins,
        })
    }

    /// The value of the program's option `long` (or `short`), given as
    /// `--long VALUE`, `--long=VALUE` or `-s VALUE`.
    pub fn option(&self, long: &str, short: Option<&str>) -> Option<&str> {
        option_in(self.command.as_deref()?, long, short)
    }
}

impl Unit {
    /// The `Environment=` variable `ExecStart=` takes `--config` from
    /// (Flatcar's `${CONTAINERD_CONFIG}`); `None` when it names the file.
    pub fn config_variable(&self) -> Option<String> {
        let words = split_words(self.exec_start.as_deref()?);
        let value = option_in(&words, "--config", Some("-c"))?;
        let name = value
            .strip_prefix("${")
            .and_then(|v| v.strip_suffix('}'))
            .or_else(|| value.strip_prefix('$'))?;
        is_variable_name(name).then(|| name.to_string())
    }
}

/// The value of option `long`/`short` in a command line.
pub fn option_in<'a>(words: &'a [String], long: &str, short: Option<&str>) -> Option<&'a str> {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if let Some(value) = word
            .strip_prefix(long)
            .and_then(|rest| rest.strip_prefix('='))
        {
            return Some(value);
        }
        if word == long || short == Some(word.as_str()) {
            return words.next().map(String::as_str);
        }
    }
    None
}

/// The `[Service]` settings that decide the command: the last non-empty
/// `ExecStart=` (an empty one resets the list), and the environment.
#[derive(Default)]
struct Service {
    exec_start: Option<String>,
    environment: BTreeMap<String, String>,
}

impl Service {
    fn read(&mut self, text: &str) {
        let mut in_service = false;
        for line in logical_lines(text) {
            let line = line.trim();
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            if !in_service || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "ExecStart" if value.is_empty() => self.exec_start = None,
                "ExecStart" => self.exec_start = Some(value.to_string()),
                "Environment" => {
                    for assignment in split_words(value) {
                        if let Some((name, value)) = assignment.split_once('=') {
                            self.environment.insert(name.to_string(), value.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn command(&self) -> Option<Vec<String>> {
        let line = self.exec_start.as_deref()?;
        // Prefixes that change how systemd runs the command, not what.
        let line = line.trim_start_matches(['-', '@', ':', '+', '!']);
        let mut words = Vec::new();
        for word in split_words(line) {
            match word.strip_prefix('$').filter(|name| is_variable_name(name)) {
                // `$NAME` alone is split into words; `${NAME}` is not.
                Some(name) => words.extend(
                    self.environment
                        .get(name)
                        .map(|value| split_words(value))
                        .unwrap_or_default(),
                ),
                None => words.push(self.expand_braced(&word)),
            }
        }
        (!words.is_empty()).then_some(words)
    }

    fn expand_braced(&self, word: &str) -> String {
        let mut out = String::new();
        let mut rest = word;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.push_str(
                        self.environment
                            .get(&after[..end])
                            .map_or("", String::as_str),
                    );
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Lines with systemd's backslash continuations joined.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Words as systemd splits a setting: on white space, with single or
/// double quotes keeping white space in a word.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(texts: &[&str]) -> Option<Vec<String>> {
        let mut service = Service::default();
        for text in texts {
            service.read(text);
        }
        service.command()
    }

    #[test]
    fn exec_start_is_expanded_as_systemd_expands_it() {
        // Flatcar's containerd.service, as it sets the config.
        let flatcar = "[Service]\nEnvironment=CONTAINERD_CONFIG=/usr/share/containerd/config.toml\n\
                       ExecStart=/usr/bin/containerd --config ${CONTAINERD_CONFIG}\n";
        assert_eq!(
            service(&[flatcar]).unwrap(),
            [
                "/usr/bin/containerd",
                "--config",
                "/usr/share/containerd/config.toml"
            ]
        );
        // A drop-in that points it elsewhere wins, as the later file.
        let drop_in = "[Service]\nEnvironment=\"CONTAINERD_CONFIG=/etc/containerd/config.toml\"\n";
        assert_eq!(
            service(&[flatcar, drop_in]).unwrap()[2],
            "/etc/containerd/config.toml"
        );
        // An empty ExecStart= resets; $NAME splits, continuation lines join.
        let reset = "[Service]\nExecStart=\nEnvironment=OPTS='-c /srv/c.toml --log-level debug'\n\
                     ExecStart=-/usr/local/bin/containerd \\\n  $OPTS\n";
        let words = service(&[flatcar, reset]).unwrap();
        assert_eq!(
            words,
            [
                "/usr/local/bin/containerd",
                "-c",
                "/srv/c.toml",
                "--log-level",
                "debug"
            ]
        );
        assert_eq!(
            option_in(&words, "--config", Some("-c")),
            Some("/srv/c.toml")
        );
        assert_eq!(
            option_in(
                &["x".into(), "--config=/a.toml".into()],
                "--config",
                Some("-c")
            ),
            Some("/a.toml")
        );
        // Other sections do not count.
        assert_eq!(service(&["[Unit]\nExecStart=/bin/false\n"]), None);
        // What only a daemon-reload makes systemd read.
        assert!(is_unit_file(Path::new(
            "/etc/systemd/system/containerd.service.d/10-nydus-overlayfs.conf"
        )));
        assert!(!is_unit_file(Path::new("/etc/containerd/config.toml")));
    }
}
