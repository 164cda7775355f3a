//! The overlay mount a helper invocation asks for, built from its options.
//!
//! Layer paths are kept unescaped (as the filesystem names them); every other
//! overlayfs option is kept as written, in order, for the kernel to read.

use std::fmt;
use std::path::PathBuf;

use rustix::mount::MountFlags;

use crate::error::{Error, quoted};
use crate::options::{self, LayerKey, Word};

/// The kernel's limit on lower layers (OVL_MAX_STACK), data-only ones included.
pub const MAX_LAYERS: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub path: Vec<u8>,
    /// A data-only layer (after `::` in lowerdir, or `datadir+`).
    pub data_only: bool,
}

/// An overlayfs option other than the layer directories, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataOption {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    /// The option table knows it as overlayfs's: its value may be shown,
    /// and mount(2) keeps it under `-s`.
    pub known: bool,
}

/// Everything either mount path needs to make one overlay mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayMount {
    pub source: Vec<u8>,
    pub target: PathBuf,
    pub flags: MountFlags,
    pub lower: Vec<Layer>,
    pub upper: Option<Vec<u8>>,
    pub work: Option<Vec<u8>>,
    pub data: Vec<DataOption>,
    /// Nydus-only option keys that were dropped, for `-v`.
    pub dropped: Vec<&'static str>,
    /// `-s`: an option overlayfs does not know is left out instead of failing
    /// the mount. The new mount API asks overlayfs about each option; mount(2)
    /// takes them all in one string, so there an option the table does not
    /// know as overlayfs's is left out.
    pub sloppy: bool,
}

/// What a directory of the mount is to overlayfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Lower layer `n` (from 1) of `of` lower layers, data-only ones included.
    Lower {
        n: usize,
        of: usize,
    },
    /// A data-only lower layer, counted as [`Role::Lower`] is.
    DataOnly {
        n: usize,
        of: usize,
    },
    Upper,
    Work,
}

impl Role {
    /// The fsconfig key that hands overlayfs a directory of this role.
    pub fn key(self) -> &'static str {
        match self {
            Role::Lower { .. } => "lowerdir+",
            Role::DataOnly { .. } => "datadir+",
            Role::Upper => "upperdir",
            Role::Work => "workdir",
        }
    }
}

/// One directory of the mount: its role and its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dir<'m> {
    pub role: Role,
    pub path: &'m [u8],
}

/// Names the directory for messages: which layer, and its path.
impl fmt::Display for Dir<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = quoted(self.path);
        match self.role {
            Role::Lower { n, of } => write!(f, "lowerdir layer {n} of {of} {path}"),
            Role::DataOnly { n, of } => write!(f, "data-only layer {n} of {of} {path}"),
            Role::Upper => write!(f, "upperdir {path}"),
            Role::Work => write!(f, "workdir {path}"),
        }
    }
}

/// How the options are written out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form<'a> {
    /// For mount(2): no flag words (they are bits), every value as given,
    /// without the options `-s` leaves out; lower layers relative to
    /// `relative_to` when given (each must be `relative_to/rest`).
    Kernel { relative_to: Option<&'a [u8]> },
    /// For people (`-v`, `-f`): the flag words first, and the value of every
    /// option the table does not know as overlayfs's hidden.
    Shown,
}

/// Which way the lower layers were given; overlayfs refuses a mix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LowerForm {
    List,
    Appended,
}

impl OverlayMount {
    /// Reads the options of one invocation (each `-o` separately) into a mount.
    pub fn from_options(
        source: &[u8],
        target: PathBuf,
        option_strings: &[&[u8]],
    ) -> Result<Self, Error> {
        let mut mount = OverlayMount {
            source: source.to_vec(),
            target,
            flags: MountFlags::empty(),
            lower: Vec::new(),
            upper: None,
            work: None,
            data: Vec::new(),
            dropped: Vec::new(),
            sloppy: false,
        };
        let mut effects = Vec::new();
        let mut lower_form = None;
        for word in options::words(option_strings) {
            match options::classify(word) {
                Word::Flag(effect) => effects.push(effect),
                Word::UserspaceOnly => {}
                Word::NydusOnly(key) => {
                    if !mount.dropped.contains(&key) {
                        mount.dropped.push(key);
                    }
                }
                Word::Refused => {
                    return Err(Error::usage(format!(
                        "option {} asks for another kind of mount; this helper only mounts a new overlay, use mount(8) for that",
                        quoted(word)
                    )));
                }
                Word::Layer { key, name, value } => {
                    mount.add_dir(key, name, value, &mut lower_form)?;
                }
                Word::Data { key, value, shown } => mount.data.push(DataOption {
                    key: key.to_vec(),
                    value: value.map(<[u8]>::to_vec),
                    known: shown,
                }),
            }
        }
        mount.flags = options::resolve_flags(effects);
        mount.check_complete()?;
        Ok(mount)
    }

    fn add_dir(
        &mut self,
        layer: LayerKey,
        key: &[u8],
        value: Option<&[u8]>,
        lower_form: &mut Option<LowerForm>,
    ) -> Result<(), Error> {
        // A value of only a backslash unescapes to no path either.
        let value = match value {
            Some(v) if !options::unescape(v).is_empty() => v,
            _ => {
                return Err(Error::usage(format!(
                    "option {} needs a directory path",
                    quoted(key)
                )));
            }
        };
        match layer {
            LayerKey::Upper => set_once(&mut self.upper, key, options::unescape(value)),
            LayerKey::Work => set_once(&mut self.work, key, options::unescape(value)),
            LayerKey::LowerList | LayerKey::LowerAppended | LayerKey::DataAppended => {
                let form = if layer == LayerKey::LowerList {
                    LowerForm::List
                } else {
                    LowerForm::Appended
                };
                match *lower_form {
                    Some(LowerForm::List) if form == LowerForm::List => {
                        return Err(Error::usage(
                            "option 'lowerdir' given twice; give all lower layers in one lowerdir",
                        ));
                    }
                    Some(previous) if previous != form => {
                        return Err(Error::usage(
                            "options 'lowerdir' and 'lowerdir+'/'datadir+' cannot be mixed; use one form",
                        ));
                    }
                    _ => *lower_form = Some(form),
                }
                if form == LowerForm::List {
                    self.lower = split_lowerdir(value)?;
                } else {
                    let data_only = layer == LayerKey::DataAppended;
                    self.lower.push(Layer {
                        path: options::unescape(value),
                        data_only,
                    });
                }
                Ok(())
            }
        }
    }

    fn check_complete(&self) -> Result<(), Error> {
        if !self.lower.iter().any(|l| !l.data_only) {
            return Err(Error::usage(
                "no lower layer given: overlay needs lowerdir=DIR[:DIR…] in the options",
            ));
        }
        if self.lower.len() > MAX_LAYERS {
            return Err(Error::usage(format!(
                "{} lower layers given; overlayfs stacks at most {MAX_LAYERS}",
                self.lower.len()
            )));
        }
        let regular_layers = self.lower.iter().filter(|l| !l.data_only).count();
        if self.upper.is_none() && self.work.is_none() && regular_layers < 2 {
            return Err(Error::usage(
                "a read-only overlay (no upperdir) needs at least 2 lower layers; add a layer or an upperdir and workdir",
            ));
        }
        match (&self.upper, &self.work) {
            (Some(_), None) => Err(Error::usage(
                "upperdir given without workdir; overlayfs needs both",
            )),
            (None, Some(_)) => Err(Error::usage(
                "workdir given without upperdir; overlayfs needs both",
            )),
            _ => Ok(()),
        }
    }
}

impl OverlayMount {
    /// The same mount with `-s` set as given.
    pub fn with_sloppy(self, sloppy: bool) -> Self {
        OverlayMount { sloppy, ..self }
    }

    /// Every directory of the mount, in the order overlayfs is handed them:
    /// the lower layers (data-only ones included), then upperdir and workdir.
    pub fn dirs(&self) -> impl Iterator<Item = Dir<'_>> {
        let of = self.lower.len();
        let lower = self.lower.iter().enumerate().map(move |(i, layer)| {
            let n = i + 1;
            let role = if layer.data_only {
                Role::DataOnly { n, of }
            } else {
                Role::Lower { n, of }
            };
            Dir {
                role,
                path: &layer.path,
            }
        });
        let upper_work = match (&self.upper, &self.work) {
            (Some(upper), Some(work)) => Some([(Role::Upper, upper), (Role::Work, work)]),
            _ => None,
        };
        lower.chain(
            upper_work
                .into_iter()
                .flatten()
                .map(|(role, path)| Dir { role, path }),
        )
    }

    /// Writes the options, comma-separated, in `form`; the one writer of
    /// both the mount(2) data and the printed mount.
    pub fn write_options(&self, form: Form<'_>, out: &mut Vec<u8>) {
        let start = out.len();
        let next = |out: &mut Vec<u8>| {
            if out.len() > start {
                out.push(b',');
            }
        };
        if form == Form::Shown {
            for word in options::flag_words(self.flags) {
                next(out);
                out.extend_from_slice(word.as_bytes());
            }
        }
        // common_parent() guarantees each path is `parent/rest`.
        let skip = match form {
            Form::Kernel {
                relative_to: Some(parent),
            } => parent.len() + 1,
            _ => 0,
        };
        next(out);
        out.extend_from_slice(b"lowerdir=");
        out.extend(join_lowerdir(
            self.lower.iter().map(|l| (&l.path[skip..], l.data_only)),
        ));
        for (key, dir) in [(&b"upperdir="[..], &self.upper), (b"workdir=", &self.work)] {
            if let Some(dir) = dir {
                next(out);
                out.extend_from_slice(key);
                out.extend(options::escape(dir, b","));
            }
        }
        for option in &self.data {
            let value = match (form, &option.value) {
                (Form::Kernel { .. }, _) if self.sloppy && !option.known => continue,
                (_, None) => None,
                (Form::Shown, Some(_)) if !option.known => Some(&b"<hidden>"[..]),
                (_, Some(value)) => Some(&value[..]),
            };
            next(out);
            out.extend_from_slice(&option.key);
            if let Some(value) = value {
                out.push(b'=');
                out.extend_from_slice(value);
            }
        }
    }

    /// The option string for mount(2) (see [`Form::Kernel`]).
    pub fn kernel_data(&self, relative_to: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_options(Form::Kernel { relative_to }, &mut out);
        out
    }
}

fn set_once(slot: &mut Option<Vec<u8>>, key: &[u8], path: Vec<u8>) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::usage(format!(
            "option {} given twice; give it once",
            quoted(key)
        )));
    }
    *slot = Some(path);
    Ok(())
}

/// Splits a `lowerdir=` value: `L1:L2…` and then, optionally, data-only
/// layers each introduced by `::` (`L1:L2::D1::D2`).
pub fn split_lowerdir(value: &[u8]) -> Result<Vec<Layer>, Error> {
    let mut layers = Vec::new();
    let mut in_data_layers = false;
    let mut expect_data_layer = false;
    for piece in options::split_escaped(value, b':') {
        match (piece.is_empty(), expect_data_layer) {
            (true, false) if !layers.is_empty() => {
                in_data_layers = true;
                expect_data_layer = true;
            }
            (false, _) if expect_data_layer || !in_data_layers => {
                expect_data_layer = false;
                // A lone trailing backslash unescapes to nothing.
                let path = options::unescape(piece);
                if path.is_empty() {
                    return Err(malformed_lowerdir());
                }
                layers.push(Layer {
                    path,
                    data_only: in_data_layers,
                });
            }
            _ => return Err(malformed_lowerdir()),
        }
    }
    if expect_data_layer {
        return Err(malformed_lowerdir());
    }
    Ok(layers)
}

fn malformed_lowerdir() -> Error {
    Error::usage(
        "option 'lowerdir' has an empty layer path; separate layers with ':' (and data-only layers with '::')",
    )
}

/// Writes a `lowerdir=` value overlayfs reads back as exactly these layers.
pub fn join_lowerdir<'a>(paths: impl IntoIterator<Item = (&'a [u8], bool)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (path, data_only)) in paths.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(if data_only { b"::" } else { b":" });
        }
        out.extend(options::escape(path, b":,"));
    }
    out
}

/// The effective mount as `mount -v` would show it, with the value of every
/// option that is not a known overlayfs option hidden.
impl fmt::Display for OverlayMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut options = Vec::new();
        self.write_options(Form::Shown, &mut options);
        write!(
            f,
            "{} on {} type overlay ({})",
            String::from_utf8_lossy(&self.source),
            self.target.display(),
            String::from_utf8_lossy(&options)
        )?;
        if !self.dropped.is_empty() {
            write!(
                f,
                "; dropped Nydus-only options: {}",
                self.dropped.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount_of(options: &[&str]) -> Result<OverlayMount, Error> {
        let strings: Vec<&[u8]> = options.iter().map(|s| s.as_bytes()).collect();
        OverlayMount::from_options(b"overlay", PathBuf::from("/mnt"), &strings)
    }

    fn paths(layers: &[Layer]) -> Vec<(String, bool)> {
        layers
            .iter()
            .map(|l| (String::from_utf8(l.path.clone()).unwrap(), l.data_only))
            .collect()
    }

    #[test]
    fn snapshotter_options_become_an_overlay_without_nydus_keys() {
        let m = mount_of(&[
            "volatile,lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/3/fs,workdir=/s/3/work,extraoption=c2VjcmV0,dev,suid",
        ])
        .unwrap();
        assert_eq!(
            paths(&m.lower),
            [("/s/2/fs".into(), false), ("/s/1/fs".into(), false)]
        );
        assert_eq!(m.upper.as_deref(), Some(&b"/s/3/fs"[..]));
        assert_eq!(m.work.as_deref(), Some(&b"/s/3/work"[..]));
        assert_eq!(
            m.data,
            [DataOption {
                key: b"volatile".to_vec(),
                value: None,
                known: true,
            }]
        );
        assert_eq!(m.flags, MountFlags::empty());
        assert_eq!(m.dropped, ["extraoption"]);
    }

    #[test]
    fn several_option_strings_are_one_list() {
        let m = mount_of(&[
            "lowerdir=/l",
            "upperdir=/u,workdir=/w",
            "nodev",
            "io.katacontainers.volume=e30=",
        ])
        .unwrap();
        assert_eq!(m.flags, MountFlags::NODEV);
        assert_eq!(m.dropped, ["io.katacontainers.volume"]);
        assert!(m.upper.is_some() && m.work.is_some());
    }

    #[test]
    fn lowerdir_lists_split_and_unescape() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("/a", &[("/a", false)]),
            ("/a:/b:/c", &[("/a", false), ("/b", false), ("/c", false)]),
            ("/a\\:b:/c\\,d", &[("/a:b", false), ("/c,d", false)]),
            (
                "/a:/b::/d1::/d2",
                &[("/a", false), ("/b", false), ("/d1", true), ("/d2", true)],
            ),
            ("/back\\\\slash", &[("/back\\slash", false)]),
        ];
        for (value, expected) in cases {
            let got = split_lowerdir(value.as_bytes()).unwrap();
            let expected: Vec<(String, bool)> =
                expected.iter().map(|(p, d)| (p.to_string(), *d)).collect();
            assert_eq!(paths(&got), expected, "lowerdir={value}");
            let joined = join_lowerdir(got.iter().map(|l| (l.path.as_slice(), l.data_only)));
            assert_eq!(
                split_lowerdir(&joined).unwrap(),
                got,
                "round trip of {value}"
            );
        }
    }

    #[test]
    fn malformed_lowerdir_lists_are_refused() {
        for value in [
            ":/a",
            "/a:",
            "/a::",
            "/a:::/b",
            "/a::/d1:/d2",
            "::/d",
            "\\",
            "/a:\\",
        ] {
            let err = split_lowerdir(value.as_bytes()).unwrap_err();
            assert_eq!(err.exit_code(), 1, "lowerdir={value}");
            assert!(
                err.to_string().contains("empty layer path"),
                "lowerdir={value}: {err}"
            );
        }
    }

    #[test]
    fn appended_layers_keep_their_order() {
        let m = mount_of(&["lowerdir+=/a,lowerdir+=/b\\,c,datadir+=/d,upperdir=/u,workdir=/w"])
            .unwrap();
        assert_eq!(
            paths(&m.lower),
            [
                ("/a".into(), false),
                ("/b,c".into(), false),
                ("/d".into(), true)
            ]
        );
    }

    #[test]
    fn bad_option_sets_are_usage_errors_naming_the_problem() {
        let cases: &[(&[&str], &str)] = &[
            (&[""], "no lower layer"),
            (&["extraoption=c2VjcmV0"], "no lower layer"),
            (&["upperdir=/u,workdir=/w"], "no lower layer"),
            (
                &["lowerdir=/a,bind"],
                "'bind' asks for another kind of mount",
            ),
            (
                &["lowerdir=/a,remount"],
                "'remount' asks for another kind of mount",
            ),
            (&["lowerdir=/a,lowerdir=/b"], "'lowerdir' given twice"),
            (
                &["lowerdir=/a,upperdir=/u,upperdir=/v,workdir=/w"],
                "'upperdir' given twice",
            ),
            (&["lowerdir=/a,lowerdir+=/b"], "cannot be mixed"),
            (&["lowerdir=/a,upperdir=/u"], "without workdir"),
            (&["lowerdir=/a,workdir=/w"], "without upperdir"),
            (&["lowerdir="], "'lowerdir' needs a directory path"),
            (
                &["lowerdir=/a,upperdir"],
                "'upperdir' needs a directory path",
            ),
            (&["lowerdir=::/d"], "empty layer path"),
            (&["lowerdir=/a,ro"], "needs at least 2 lower layers"),
            (&["lowerdir=/a::/d,ro"], "needs at least 2 lower layers"),
        ];
        for (options, expected) in cases {
            let err = mount_of(options).unwrap_err();
            assert_eq!(err.exit_code(), 1, "{options:?}");
            assert!(err.to_string().contains(expected), "{options:?}: got {err}");
        }
    }

    #[test]
    fn layer_count_is_limited_to_the_kernel_maximum() {
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("/l{i}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        assert_eq!(
            mount_of(&[&format!("lowerdir={}", list(500))])
                .unwrap()
                .lower
                .len(),
            500
        );
        assert_eq!(
            mount_of(&[&format!("lowerdir={}", list(2))])
                .unwrap()
                .lower
                .len(),
            2
        );
        let err = mount_of(&[&format!("lowerdir={}", list(501))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "501 lower layers given; overlayfs stacks at most 500"
        );
    }

    #[test]
    fn display_hides_values_of_unknown_and_nydus_options() {
        let m = mount_of(&["lowerdir=/a:/b,upperdir=/u,workdir=/w,token=hunter2,index=off,extraoption=c2VjcmV0,nodev,ro"]).unwrap();
        let shown = m.to_string();
        assert_eq!(
            shown,
            "overlay on /mnt type overlay (ro,nodev,relatime,lowerdir=/a:/b,upperdir=/u,workdir=/w,token=<hidden>,index=off); dropped Nydus-only options: extraoption"
        );
        assert!(!shown.contains("hunter2") && !shown.contains("c2VjcmV0"));
    }

    #[test]
    fn each_directory_knows_its_role_name_and_key() {
        let m = mount_of(&["lowerdir=/a:/b::/d,upperdir=/u,workdir=/w"]).unwrap();
        let dirs: Vec<(String, &str)> = m.dirs().map(|d| (d.to_string(), d.role.key())).collect();
        assert_eq!(
            dirs,
            [
                ("lowerdir layer 1 of 3 '/a'".to_string(), "lowerdir+"),
                ("lowerdir layer 2 of 3 '/b'".to_string(), "lowerdir+"),
                ("data-only layer 3 of 3 '/d'".to_string(), "datadir+"),
                ("upperdir '/u'".to_string(), "upperdir"),
                ("workdir '/w'".to_string(), "workdir"),
            ]
        );
        let read_only = mount_of(&["lowerdir=/a:/b"]).unwrap();
        assert_eq!(read_only.dirs().count(), 2);
    }

    #[test]
    fn kernel_data_is_the_shown_mount_without_flags_hiding_or_skipped_options() {
        let m = mount_of(&[
            "lowerdir=/l/a\\,b:/l/c::/l/d,upperdir=/u\\,v,workdir=/w,token=hunter2,index=off,volatile,nodev",
        ])
        .unwrap();
        assert_eq!(
            String::from_utf8(m.kernel_data(None)).unwrap(),
            "lowerdir=/l/a\\,b:/l/c::/l/d,upperdir=/u\\,v,workdir=/w,token=hunter2,index=off,volatile"
        );
        assert_eq!(
            String::from_utf8(m.kernel_data(Some(b"/l"))).unwrap(),
            "lowerdir=a\\,b:c::d,upperdir=/u\\,v,workdir=/w,token=hunter2,index=off,volatile"
        );
        let sloppy = m.clone().with_sloppy(true);
        assert_eq!(
            String::from_utf8(sloppy.kernel_data(None)).unwrap(),
            "lowerdir=/l/a\\,b:/l/c::/l/d,upperdir=/u\\,v,workdir=/w,index=off,volatile"
        );
        assert_eq!(
            sloppy.to_string(),
            "overlay on /mnt type overlay (rw,nodev,relatime,lowerdir=/l/a\\,b:/l/c::/l/d,upperdir=/u\\,v,workdir=/w,token=<hidden>,index=off,volatile)"
        );
    }
}
