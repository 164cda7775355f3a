//! What containerd makes of its config files, and what switching asks of
//! them, per containerd release and config version (measured with
//! `containerd config dump` on Debian's 1.6, 1.7 and 2.1, and read in
//! containerd's sources for 2.2 and 2.3):
//! - every release loads the nydus snapshotter's `[proxy_plugins.nydus]`
//!   from our drop-in (config version 2, read alike by 1.6 to 2.3) once a
//!   loaded file imports it;
//! - 1.6/1.7 (config version 2): an imported plugin table replaces
//!   config.toml's whole table (CNI path, sandbox image, SystemdCgroup
//!   lost), so the CRI keys go into config.toml itself;
//! - 2.x reading a version 2 config.toml: plugin tables deep-merge, so the
//!   CRI keys come from our version 2 CRI drop-in;
//! - config versions 3 and 4 (2.x; 2.3 writes 4, which moved only the
//!   server's own settings): the keys live in the images plugin's table. If
//!   config.toml already imports a directory of drop-ins (`config default`
//!   does from 2.2), enable writes its own drop-in there and leaves
//!   config.toml alone; else it edits config.toml's images table.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use super::config_edit::{ConfigEdit, ManagedKey, parse};
use super::layout::Layout;
use super::probe::Version;

/// The newest config version this program knows how to switch.
pub const NEWEST_CONFIG_VERSION: i64 = 4;

/// The name of the drop-in enable writes into an imported directory.
pub const DROP_IN_NAME: &str = "nydus-overlayfs.toml";

/// The CRI plugin's table in a version 2 config, and where 1.x reads the
/// snapshotter from.
const CRI_V2: [&str; 2] = ["plugins", "io.containerd.grpc.v1.cri"];
/// The images plugin's table, config versions 3 and 4.
const IMAGES: [&str; 2] = ["plugins", "io.containerd.cri.v1.images"];

/// The CRI settings the nydus snapshotter needs, beside the snapshotter.
const CRI_SETTINGS: [(&str, bool); 2] = [
    ("disable_snapshot_annotations", false),
    ("discard_unpacked_layers", false),
];

/// The config versions a containerd release reads.
pub fn readable_versions(containerd: Version) -> (i64, i64) {
    match (containerd.major, containerd.minor) {
        (0 | 1, _) => (1, 2),
        (2, 0..=2) => (2, 3),
        _ => (2, NEWEST_CONFIG_VERSION),
    }
}

/// A parsed containerd config file: its version (1 when absent, as
/// containerd reads it) and imports.
pub struct ConfigFile {
    pub version: i64,
    pub imports: Vec<String>,
    doc: DocumentMut,
}

impl ConfigFile {
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let doc = parse(text)?;
        let version = match doc.get("version") {
            None => 1,
            Some(item) => item
                .as_integer()
                .ok_or_else(|| "'version' is not a number".to_string())?,
        };
        let imports = match doc.get("imports") {
            None => Vec::new(),
            Some(item) => item
                .as_array()
                .ok_or("'imports' is not an array")?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or("'imports' holds a non-string")
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(ConfigFile {
            version,
            imports,
            doc,
        })
    }

    fn get(&self, path: &[&str]) -> Option<&Item> {
        let mut item = self.doc.as_item();
        for name in path {
            item = item.as_table_like()?.get(name)?;
        }
        Some(item)
    }

    fn has_table(&self, path: &[&str]) -> bool {
        self.get(path).is_some_and(Item::is_table_like)
    }
}

/// Which file the switch edits for containerd, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub path: PathBuf,
    pub edit: ConfigEdit,
}

/// Why the switch for containerd cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// containerd's release is needed and unknown.
    UnknownRelease,
    /// The config file cannot be switched: why, and what to do.
    Config(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownRelease => f.write_str("cannot tell containerd's version: containerd is not installed (or not on systemd's PATH); install it, or pass --containerd-version"),
            Refusal::Config(why) => f.write_str(why),
        }
    }
}

/// The switch for containerd's config at `config_path`, whose text is
/// `config` (`None`: no such file), given containerd's release when known.
pub fn target(
    containerd: Option<Version>,
    config_path: &Path,
    config: Option<&str>,
) -> Result<Target, Refusal> {
    let proxy = Layout::proxy_plugin_dropin().display().to_string();
    let in_config = |edit: ConfigEdit| Target {
        path: config_path.to_path_buf(),
        edit,
    };
    let Some(text) = config else {
        let containerd = containerd.ok_or(Refusal::UnknownRelease)?;
        return Ok(in_config(version_2_edit(containerd, proxy)));
    };
    let file = ConfigFile::parse(text).map_err(Refusal::Config)?;
    let version = file.version;
    if version > NEWEST_CONFIG_VERSION {
        return Err(Refusal::Config(format!(
            "config version {version} is newer than version {NEWEST_CONFIG_VERSION}, the newest this nydus-overlayfs-setup knows: upgrade nydus-overlayfs"
        )));
    }
    if let Some(containerd) = containerd {
        let (oldest, newest) = readable_versions(containerd);
        if !(oldest..=newest).contains(&version) {
            return Err(Refusal::Config(format!(
                "config version {version}, but containerd {}.{} reads versions {oldest} to {newest} only and will not start with it: fix the file first ('containerd config default' prints one it reads)",
                containerd.major, containerd.minor
            )));
        }
    }
    match version {
        1 => Err(Refusal::Config("config version 1 (no 'version' key), which names plugins differently: make it version 2 first ('containerd config default' prints one to start from)".to_string())),
        2 => {
            let containerd = containerd.ok_or(Refusal::UnknownRelease)?;
            Ok(in_config(version_2_edit(containerd, proxy)))
        }
        _ => {
            let edit = ConfigEdit {
                keys: cri_keys(&IMAGES, &[]),
                imports: vec![proxy],
                new_file: format!("version = {version}\n"),
            };
            Ok(match drop_in_path(config_path, &file.imports) {
                Some(path) => Target { path, edit },
                None => in_config(edit),
            })
        }
    }
}

/// A version 2 config: on 1.x the CRI keys in config.toml itself; on 2.x
/// our CRI drop-in beside the proxy one.
fn version_2_edit(containerd: Version, proxy: String) -> ConfigEdit {
    let new_file = "version = 2\n".to_string();
    if containerd.major < 2 {
        ConfigEdit {
            keys: cri_keys(&CRI_V2, &["containerd"]),
            imports: vec![proxy],
            new_file,
        }
    } else {
        ConfigEdit {
            keys: Vec::new(),
            imports: vec![proxy, Layout::cri_dropin().display().to_string()],
            new_file,
        }
    }
}

fn cri_keys(table: &[&'static str], inner: &[&'static str]) -> Vec<ManagedKey> {
    let at = |key: &'static str| [table, inner, &[key]].concat();
    std::iter::once(ManagedKey::new(&at("snapshotter"), "nydus"))
        .chain(
            CRI_SETTINGS
                .iter()
                .map(|(key, value)| ManagedKey::new(&at(key), *value)),
        )
        .collect()
}

/// Where enable puts its drop-in when config.toml imports a directory of
/// drop-ins as `DIR/*.toml` (what `config default` writes from 2.2 on).
pub fn drop_in_path(config_path: &Path, imports: &[String]) -> Option<PathBuf> {
    imports.iter().find_map(|import| {
        let dir = import.strip_suffix("/*.toml")?;
        (!has_glob(dir)).then(|| absolute_import(config_path, dir).join(DROP_IN_NAME))
    })
}

/// Whether containerd expands an import as a glob: only `*` makes it one.
fn has_glob(text: &str) -> bool {
    text.contains('*')
}

/// An import as containerd reads it: relative to the importing file's
/// directory.
pub fn absolute_import(importer: &Path, import: &str) -> PathBuf {
    importer.parent().unwrap_or(Path::new("/")).join(import)
}

/// The settings containerd ends up with that decide whether it uses the
/// nydus snapshotter, once config.toml and everything it imports is merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effective {
    /// `[proxy_plugins.nydus]`'s address, when it is a snapshotter.
    pub nydus_plugin_address: Option<String>,
    pub snapshotter: Option<String>,
    pub disable_snapshot_annotations: Option<bool>,
    pub discard_unpacked_layers: Option<bool>,
}

impl Effective {
    /// Whether CRI pulls and mounts images with the nydus snapshotter, as
    /// nydus-snapshotter needs it (annotations passed, layers kept).
    pub fn uses_nydus(&self) -> bool {
        self.nydus_plugin_address.is_some()
            && self.snapshotter.as_deref() == Some("nydus")
            && self.disable_snapshot_annotations == Some(false)
            && self.discard_unpacked_layers != Some(true)
    }
}

/// The files containerd loads, in its order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Each file with its text: config.toml first, then each import (globs
    /// expanded and sorted), then theirs, breadth first; each file once.
    pub files: Vec<(PathBuf, String)>,
    /// Imports named without a glob that do not exist: containerd refuses
    /// to start. (importing file, import)
    pub missing: Vec<(PathBuf, PathBuf)>,
    /// Loaded files containerd cannot parse, and why: it refuses to start.
    pub invalid: Vec<(PathBuf, String)>,
}

/// The files containerd loads from `root_config`. `read(path)` gives a
/// file's text and `list(dir)` a directory's names.
pub fn load_order(
    root_config: &Path,
    read: &mut dyn FnMut(&Path) -> Option<String>,
    list: &mut dyn FnMut(&Path) -> Vec<String>,
) -> Loaded {
    let mut loaded = Loaded::default();
    let mut pending: Vec<(Option<PathBuf>, PathBuf)> = vec![(None, root_config.to_path_buf())];
    while !pending.is_empty() {
        let (importer, path) = pending.remove(0);
        if loaded.files.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let Some(text) = read(&path) else {
            if let Some(importer) = importer {
                loaded.missing.push((importer, path));
            }
            continue;
        };
        let imports = match ConfigFile::parse(&text) {
            Ok(file) => file.imports,
            Err(why) => {
                loaded.invalid.push((path.clone(), why));
                Vec::new()
            }
        };
        for import in imports {
            let import = absolute_import(&path, &import);
            let name = import.file_name().map(|n| n.to_string_lossy().into_owned());
            match (import.parent(), name) {
                (Some(dir), Some(pattern)) if has_glob(&pattern) => {
                    let mut names: Vec<String> = list(dir)
                        .into_iter()
                        .filter(|n| glob_matches(&pattern, n))
                        .collect();
                    names.sort();
                    pending.extend(names.into_iter().map(|n| (None, dir.join(n))));
                }
                _ => pending.push((Some(path.clone()), import)),
            }
        }
        loaded.files.push((path, text));
    }
    loaded
}

/// A file name against a pattern of `*` (as Go's filepath.Match: `*`
/// matches any run of characters, a leading dot included).
fn glob_matches(pattern: &str, name: &str) -> bool {
    fn matches(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| matches(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && matches(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

/// The settings the loaded files add up to, for containerd `release`
/// (`None`: unknown, when a version 2 file's meaning depends on it).
/// Read in containerd's `LoadConfig`, `mergeConfig` and the CRI images
/// plugin's config migration:
/// - `[proxy_plugins.nydus]` is replaced whole by a later file's;
/// - 1.x: a later file's CRI plugin table replaces the whole table;
/// - 2.x: plugin tables deep-merge, later files winning; version 2 keys
///   under the CRI plugin's `containerd` table move to the images table
///   only where a `containerd.runtimes` table is beside them (2.0–2.2: in
///   the merged config, and only when its version — the last file's that
///   names one — is 2; 2.3+: file by file).
pub fn effective(files: &[(PathBuf, String)], release: Option<Version>) -> Option<Effective> {
    let files: Vec<ConfigFile> = files
        .iter()
        .filter_map(|(_, text)| ConfigFile::parse(text).ok())
        .collect();
    let release = match (release, files.first().map(|root| root.version)) {
        (Some(release), _) => release,
        // Versions 3 and 4 are 2.x's alone (4: 2.3's).
        (None, Some(4)) => Version::new(2, 3, 0),
        (None, Some(3)) => Version::new(2, 0, 0),
        (None, _) => return None,
    };
    let mut effective = Effective::default();
    for file in &files {
        if let Some(plugin) = file
            .get(&["proxy_plugins", "nydus"])
            .and_then(Item::as_table_like)
        {
            let is_snapshotter = plugin.get("type").and_then(Item::as_str) == Some("snapshot");
            effective.nydus_plugin_address = plugin
                .get("address")
                .and_then(Item::as_str)
                .filter(|_| is_snapshotter)
                .map(str::to_string);
        }
    }
    let cri_containerd = [&CRI_V2[..], &["containerd"]].concat();
    let has_runtimes =
        |file: &ConfigFile| file.has_table(&[&cri_containerd[..], &["runtimes"]].concat());
    if release.major < 2 {
        if let Some(last) = files
            .iter()
            .rev()
            .find(|f| f.version == 2 && f.has_table(&CRI_V2))
        {
            effective.merge_cri(last, &cri_containerd);
        }
        return Some(effective);
    }
    if release.minor >= 3 || release.major > 2 {
        for file in &files {
            effective.merge_cri(file, &IMAGES);
            if file.version == 2 && has_runtimes(file) {
                effective.merge_cri(file, &cri_containerd);
            }
        }
    } else {
        for file in &files {
            effective.merge_cri(file, &IMAGES);
        }
        let merged_version = files.iter().rev().map(|f| f.version).find(|v| *v != 0);
        if merged_version == Some(2) && files.iter().any(has_runtimes) {
            for file in files.iter().filter(|f| f.version == 2) {
                effective.merge_cri(file, &cri_containerd);
            }
        }
    }
    Some(effective)
}

impl Effective {
    /// Takes the CRI keys `file` sets in `table`, over what came before.
    fn merge_cri(&mut self, file: &ConfigFile, table: &[&str]) {
        let at = |key: &str| file.get(&[table, &[key]].concat());
        if let Some(value) = at("snapshotter").and_then(Item::as_str) {
            self.snapshotter = Some(value.to_string());
        }
        if let Some(value) = at("disable_snapshot_annotations").and_then(Item::as_bool) {
            self.disable_snapshot_annotations = Some(value);
        }
        if let Some(value) = at("discard_unpacked_layers").and_then(Item::as_bool) {
            self.discard_unpacked_layers = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = include_str!("../../tests/fixtures/containerd-debian-shipped.toml");
    const V2_2_DEFAULT: &str =
        include_str!("../../tests/fixtures/containerd-2.2.7-config-default.toml");
    const V2_3_DEFAULT: &str =
        include_str!("../../tests/fixtures/containerd-2.3.4-config-default.toml");
    const PROXY: &str = include_str!("../../packaging/containerd/nydus-snapshotter.toml");
    const CRI: &str = include_str!("../../packaging/containerd/nydus-cri.toml");
    const CONFIG: &str = "/etc/containerd/config.toml";

    fn v(text: &str) -> Option<Version> {
        Version::parse(text)
    }

    /// What containerd loads from these files, config.toml first.
    fn load_from(files: &std::collections::BTreeMap<PathBuf, String>) -> Loaded {
        let mut read = |p: &Path| files.get(p).cloned();
        let mut list = |dir: &Path| -> Vec<String> {
            files
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        load_order(Path::new(CONFIG), &mut read, &mut list)
    }

    /// The files containerd loads once `target` is written into a node
    /// holding `config` and the package's drop-ins.
    fn loads(config: &str, target: &Target) -> Vec<(PathBuf, String)> {
        let mut files = std::collections::BTreeMap::new();
        files.insert(PathBuf::from(CONFIG), config.to_string());
        files.insert(Layout::proxy_plugin_dropin(), PROXY.to_string());
        files.insert(Layout::cri_dropin(), CRI.to_string());
        let current = files.get(&target.path).map(String::as_str);
        let switched = target.edit.apply(current).unwrap();
        files.insert(target.path.clone(), switched);
        let loaded = load_from(&files);
        assert!(loaded.missing.is_empty(), "{:?}", loaded.missing);
        loaded.files
    }

    #[test]
    fn each_config_version_is_switched_where_containerd_reads_it() {
        // (release, config, the file enable edits)
        let cases = [
            ("1.6.20", DEBIAN, CONFIG),
            ("1.7.24", DEBIAN, CONFIG),
            ("2.1.9", DEBIAN, CONFIG),
            (
                "2.2.7",
                V2_2_DEFAULT,
                "/etc/containerd/conf.d/nydus-overlayfs.toml",
            ),
            (
                "2.3.4",
                V2_3_DEFAULT,
                "/etc/containerd/conf.d/nydus-overlayfs.toml",
            ),
        ];
        for (release, config, edited) in cases {
            let before = vec![(PathBuf::from(CONFIG), config.to_string())];
            let unswitched = effective(&before, v(release)).unwrap();
            assert!(!unswitched.uses_nydus(), "{release}: {unswitched:?}");

            let target = target(v(release), Path::new(CONFIG), Some(config)).unwrap();
            assert_eq!(target.path, Path::new(edited), "{release}");
            let loaded = loads(config, &target);
            let switched = effective(&loaded, v(release)).unwrap();
            assert!(
                switched.uses_nydus(),
                "{release}: {switched:?} from {loaded:#?}"
            );
            assert_eq!(
                switched.nydus_plugin_address.as_deref(),
                Some("/run/containerd-nydus/containerd-nydus-grpc.sock")
            );
            if edited != CONFIG {
                // The drop-in: config.toml's own version, never higher.
                let version = ConfigFile::parse(config).unwrap().version;
                let dropin = &loaded
                    .iter()
                    .find(|(p, _)| p == Path::new(edited))
                    .unwrap()
                    .1;
                assert!(
                    dropin.starts_with(&format!("version = {version}\n")),
                    "{dropin}"
                );
            }
        }
    }

    #[test]
    fn versions_3_and_4_need_no_release_and_version_2_does() {
        for config in [V2_2_DEFAULT, V2_3_DEFAULT] {
            assert!(target(None, Path::new(CONFIG), Some(config)).is_ok());
        }
        assert_eq!(
            target(None, Path::new(CONFIG), Some(DEBIAN)),
            Err(Refusal::UnknownRelease)
        );
        assert_eq!(
            target(None, Path::new(CONFIG), None),
            Err(Refusal::UnknownRelease)
        );
        // Without one, status can still tell a version 3 or 4 node.
        let loaded = vec![(PathBuf::from(CONFIG), V2_3_DEFAULT.to_string())];
        assert!(effective(&loaded, None).is_some());
        let loaded = vec![(PathBuf::from(CONFIG), DEBIAN.to_string())];
        assert!(effective(&loaded, None).is_none());
    }

    #[test]
    fn configs_containerd_cannot_read_are_refused_with_what_to_do() {
        let refused = |release: Option<&str>, config: &str| match target(
            release.and_then(v),
            Path::new(CONFIG),
            Some(config),
        ) {
            Err(Refusal::Config(why)) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(Some("2.4.0"), "version = 5\n"),
            "config version 5 is newer than version 4, the newest this nydus-overlayfs-setup knows: upgrade nydus-overlayfs"
        );
        assert!(refused(None, "version = 5\n").contains("version 5"));
        assert_eq!(
            refused(Some("1.7.24"), V2_2_DEFAULT),
            "config version 3, but containerd 1.7 reads versions 1 to 2 only and will not start with it: fix the file first ('containerd config default' prints one it reads)"
        );
        assert!(
            refused(Some("2.2.7"), V2_3_DEFAULT).contains("containerd 2.2 reads versions 2 to 3")
        );
        assert!(refused(Some("1.6.20"), "[plugins.cri]\n").starts_with("config version 1"));
        assert!(refused(Some("2.1"), "version = 'x'\n").contains("'version' is not a number"));
    }

    #[test]
    fn a_hand_switched_config_counts_and_1x_imports_replace_the_cri_table() {
        let by_hand = format!(
            "{DEBIAN}\n[proxy_plugins.nydus]\n  type = \"snapshot\"\n  address = \"/run/n.sock\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"nydus\"\n  disable_snapshot_annotations = false\n"
        );
        let loaded = vec![(PathBuf::from(CONFIG), by_hand.clone())];
        assert!(effective(&loaded, v("1.6")).unwrap().uses_nydus());
        // 2.1 migrates those version 2 keys only beside a runtimes table.
        assert!(!effective(&loaded, v("2.1")).unwrap().uses_nydus());
        let with_runtimes = format!(
            "{by_hand}[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n"
        );
        let loaded = vec![(PathBuf::from(CONFIG), with_runtimes)];
        assert!(effective(&loaded, v("2.1")).unwrap().uses_nydus());
        assert!(effective(&loaded, v("2.3")).unwrap().uses_nydus());
        // On 1.x a later file's CRI table replaces the whole table.
        let mut loaded = vec![(PathBuf::from(CONFIG), by_hand)];
        loaded.push((
            PathBuf::from("/etc/containerd/other.toml"),
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/x\"\n".into(),
        ));
        assert_eq!(effective(&loaded, v("1.7")).unwrap().snapshotter, None);
    }

    #[test]
    fn imports_load_breadth_first_with_sorted_globs_and_missing_ones_reported() {
        let files: std::collections::BTreeMap<PathBuf, String> = [
            (
                CONFIG,
                "version = 3\nimports = ['conf.d/*.toml', '/opt/a.toml', '/opt/gone.toml']\n",
            ),
            (
                "/etc/containerd/conf.d/b.toml",
                "version = 3\nimports = ['/opt/c.toml']\n",
            ),
            ("/etc/containerd/conf.d/a.toml", "version = 3\n"),
            ("/etc/containerd/conf.d/a.toml.bak", "version = 3\n"),
            ("/opt/a.toml", "version = 3\n"),
            ("/opt/c.toml", "version = 3\n"),
        ]
        .into_iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
        let loaded = load_from(&files);
        let order: Vec<&str> = loaded
            .files
            .iter()
            .map(|(p, _)| p.to_str().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                CONFIG,
                "/etc/containerd/conf.d/a.toml",
                "/etc/containerd/conf.d/b.toml",
                "/opt/a.toml",
                "/opt/c.toml"
            ]
        );
        assert_eq!(
            loaded.missing,
            [(PathBuf::from(CONFIG), PathBuf::from("/opt/gone.toml"))]
        );
    }
}
