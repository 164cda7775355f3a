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
//!   config.toml alone; else it edits config.toml's images table;
//! - config version 1 (no `version` line: Docker's containerd.io ships one
//!   with the CRI plugin disabled): every release reads it (2.x migrates
//!   it), but importing a version 2 file into it makes 1.7 take version 2
//!   for the whole config and refuse the short plugin name `"cri"`. So the
//!   proxy plugin goes into the file itself, its version unchanged, and the
//!   CRI keys too where CRI is on (1.x only: 2.x's migration moves them
//!   only beside a runtimes table, so there the file must be migrated).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use super::config_edit::{ConfigEdit, ManagedKey, parse};
use super::layout::DropIns;
use super::probe::Version;

/// The newest config version this program knows how to switch.
pub const NEWEST_CONFIG_VERSION: i64 = 4;

/// The name of the drop-in enable writes into an imported directory.
pub const DROP_IN_NAME: &str = "nydus-overlayfs.toml";

/// The CRI plugin's table in a version 2 config, and where 1.x reads the
/// snapshotter from.
const CRI_V2: [&str; 2] = ["plugins", "io.containerd.grpc.v1.cri"];
/// The same in a version 1 config (plugins by short name).
const CRI_V1: [&str; 2] = ["plugins", "cri"];
const PROXY_NYDUS: [&str; 2] = ["proxy_plugins", "nydus"];
/// The images plugin's table, config versions 3 and 4.
const IMAGES: [&str; 2] = ["plugins", "io.containerd.cri.v1.images"];

/// The CRI settings the nydus snapshotter needs, beside the snapshotter.
const CRI_SETTINGS: [(&str, bool); 2] = [
    ("disable_snapshot_annotations", false),
    ("discard_unpacked_layers", false),
];

/// The config versions a containerd release reads: 2.x migrates every
/// older version (its `migrations` table), from version 1 on.
pub fn readable_versions(containerd: Version) -> (i64, i64) {
    match (containerd.major, containerd.minor) {
        (0 | 1, _) => (1, 2),
        (2, 0..=2) => (1, 3),
        _ => (1, NEWEST_CONFIG_VERSION),
    }
}

/// The config version a renderer writes for a containerd release (k3s,
/// nodeadm: version 3 for 2.x, 2 before).
pub fn rendered_version(containerd: Option<Version>) -> Option<i64> {
    containerd.map(|v| if v.major >= 2 { 3 } else { 2 })
}

/// The CRI plugin's table where a config of `version` sets the
/// snapshotter, with the table inside it.
fn cri_table(version: i64) -> (&'static [&'static str], &'static [&'static str]) {
    match version {
        1 => (&CRI_V1, &["containerd"]),
        2 => (&CRI_V2, &["containerd"]),
        _ => (&IMAGES, &[]),
    }
}

/// The whole switch in one file of `version`, with no import: the nydus
/// proxy plugin and the CRI keys (a NodeConfig's containerd TOML, which
/// nodeadm merges into its config).
pub fn inline_edit(version: i64) -> ConfigEdit {
    let (table, inner) = cri_table(version);
    ConfigEdit {
        keys: proxy_plugin_keys()
            .into_iter()
            .chain(cri_keys(table, inner))
            .collect(),
        imports: Vec::new(),
        new_file: format!("version = {version}\n"),
    }
}

/// `[proxy_plugins.nydus]` as the package's drop-in declares it, key by
/// key (one source for the socket path).
fn proxy_plugin_keys() -> Vec<ManagedKey> {
    let doc = parse(include_str!(
        "../../packaging/containerd/nydus-snapshotter.toml"
    ))
    .expect("the package's drop-in is TOML");
    let table = doc["proxy_plugins"]["nydus"]
        .as_table_like()
        .expect("the package's drop-in declares [proxy_plugins.nydus]");
    table
        .iter()
        .filter_map(|(key, item)| {
            let mut path = PROXY_NYDUS.to_vec();
            path.push(key);
            item.as_value().map(|v| ManagedKey::new(&path, v.clone()))
        })
        .collect()
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

    /// Whether the file disables the CRI plugin, by its short name (config
    /// version 1) or its URI.
    pub fn disables_cri(&self) -> bool {
        self.get(&["disabled_plugins"])
            .and_then(Item::as_array)
            .is_some_and(|plugins| {
                plugins
                    .iter()
                    .filter_map(|p| p.as_str())
                    .any(|p| p == "cri" || p == CRI_V2[1])
            })
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
    drop_ins: &DropIns,
    config_path: &Path,
    config: Option<&str>,
) -> Result<Target, Refusal> {
    let proxy = drop_ins.proxy_plugin.display().to_string();
    let in_config = |edit: ConfigEdit| Target {
        path: config_path.to_path_buf(),
        edit,
    };
    let Some(text) = config else {
        let containerd = containerd.ok_or(Refusal::UnknownRelease)?;
        return Ok(in_config(version_2_edit(containerd, proxy, drop_ins)));
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
        1 => version_1_edit(containerd, &file).map(in_config),
        2 => {
            let containerd = containerd.ok_or(Refusal::UnknownRelease)?;
            Ok(in_config(version_2_edit(containerd, proxy, drop_ins)))
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

/// A version 1 config, switched in itself with its version kept.
fn version_1_edit(containerd: Option<Version>, file: &ConfigFile) -> Result<ConfigEdit, Refusal> {
    let new_file = String::new();
    if file.disables_cri() {
        return Ok(ConfigEdit {
            keys: proxy_plugin_keys(),
            imports: Vec::new(),
            new_file,
        });
    }
    match containerd.ok_or(Refusal::UnknownRelease)? {
        v if v.major < 2 => Ok(ConfigEdit {
            new_file,
            ..inline_edit(1)
        }),
        v => Err(Refusal::Config(format!(
            "config version 1 (no 'version' line) with the CRI plugin on: containerd {}.{} keeps its CRI settings only from a migrated file; save the output of 'containerd config migrate' as this file, then run enable again",
            v.major, v.minor
        ))),
    }
}

/// A version 2 config: on 1.x the CRI keys in config.toml itself; on 2.x
/// our CRI drop-in beside the proxy one.
fn version_2_edit(containerd: Version, proxy: String, drop_ins: &DropIns) -> ConfigEdit {
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
            imports: vec![proxy, drop_ins.cri.display().to_string()],
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
    /// The CRI plugin is disabled (`disabled_plugins`): no Kubernetes.
    pub cri_disabled: bool,
}

impl Effective {
    /// Whether containerd has the nydus snapshotter and, where its CRI
    /// plugin runs, CRI pulls and mounts images with it as nydus-snapshotter
    /// needs (annotations passed, layers kept).
    pub fn uses_nydus(&self) -> bool {
        self.nydus_plugin_address.is_some() && (self.cri_disabled || self.cri_uses_nydus())
    }

    fn cri_uses_nydus(&self) -> bool {
        self.snapshotter.as_deref() == Some("nydus")
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
    let cri_disabled = files.iter().any(ConfigFile::disables_cri);
    let release = match (release, files.first().map(|root| root.version)) {
        (Some(release), _) => release,
        // With CRI off, no key's meaning depends on the release.
        (None, Some(_)) if cri_disabled => Version::new(1, 7, 0),
        // Versions 3 and 4 are 2.x's alone (4: 2.3's).
        (None, Some(4)) => Version::new(2, 3, 0),
        (None, Some(3)) => Version::new(2, 0, 0),
        (None, _) => return None,
    };
    let mut effective = Effective {
        cri_disabled,
        ..Effective::default()
    };
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
        let cri_of = |file: &ConfigFile| {
            let (table, inner) = cri_table(file.version);
            (file.version <= 2 && file.has_table(table)).then(|| [table, inner].concat())
        };
        if let Some((last, table)) = files.iter().rev().find_map(|f| cri_of(f).map(|t| (f, t))) {
            effective.merge_cri(last, &table);
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
        let drop_ins = DropIns::packaged();
        files.insert(drop_ins.proxy_plugin, PROXY.to_string());
        files.insert(drop_ins.cri, CRI.to_string());
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

            let target = target(
                v(release),
                &DropIns::packaged(),
                Path::new(CONFIG),
                Some(config),
            )
            .unwrap();
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
            assert!(target(None, &DropIns::packaged(), Path::new(CONFIG), Some(config)).is_ok());
        }
        assert_eq!(
            target(None, &DropIns::packaged(), Path::new(CONFIG), Some(DEBIAN)),
            Err(Refusal::UnknownRelease)
        );
        assert_eq!(
            target(None, &DropIns::packaged(), Path::new(CONFIG), None),
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
            &DropIns::packaged(),
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
            refused(Some("2.2.7"), V2_3_DEFAULT).contains("containerd 2.2 reads versions 1 to 3")
        );
        // Version 1 with CRI on: 1.x is switched in the file, 2.x is told
        // to migrate it.
        assert!(
            target(
                v("1.6.20"),
                &DropIns::packaged(),
                Path::new(CONFIG),
                Some("[plugins.cri]\n")
            )
            .is_ok()
        );
        assert!(refused(Some("2.1"), "[plugins.cri]\n").contains("'containerd config migrate'"));
        assert!(refused(Some("2.1"), "version = 'x'\n").contains("'version' is not a number"));
    }

    #[test]
    fn dockers_version_1_config_is_switched_in_itself_with_its_version_kept() {
        let docker = "disabled_plugins = [\"cri\"]\n\n#root = \"/var/lib/containerd\"\n";
        for release in ["1.6.20", "1.7.24", "2.1.9", "2.3.4"] {
            let target = target(
                v(release),
                &DropIns::packaged(),
                Path::new(CONFIG),
                Some(docker),
            )
            .unwrap();
            assert_eq!(target.path, Path::new(CONFIG), "{release}");
            assert!(
                target.edit.imports.is_empty(),
                "{release}: no version 2 import"
            );
            let switched = target.edit.apply(Some(docker)).unwrap();
            let mut kept = switched.lines();
            assert!(
                docker.lines().all(|line| kept.any(|l| l == line)),
                "{release}: every line kept, in order: {switched}"
            );
            let file = ConfigFile::parse(&switched).unwrap();
            assert_eq!(file.version, 1, "{release}");
            let loaded = vec![(PathBuf::from(CONFIG), switched)];
            let effective = effective(&loaded, v(release)).unwrap();
            assert!(
                effective.cri_disabled && effective.uses_nydus(),
                "{release}: {effective:?}"
            );
        }
        let unswitched = vec![(PathBuf::from(CONFIG), docker.to_string())];
        assert!(!effective(&unswitched, v("1.7")).unwrap().uses_nydus());
        // With CRI on, 1.x reads the CRI keys under the short name.
        let edit = target(
            v("1.7.24"),
            &DropIns::packaged(),
            Path::new(CONFIG),
            Some(""),
        )
        .unwrap()
        .edit;
        let loaded = vec![(PathBuf::from(CONFIG), edit.apply(Some("")).unwrap())];
        assert!(effective(&loaded, v("1.7")).unwrap().uses_nydus());
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
