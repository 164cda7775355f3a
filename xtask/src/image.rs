//! The node-installer image (`make image`, docs/packages.md): one image per
//! architecture, FROM scratch, holding the two release binaries, under one
//! OCI image index, written as an OCI image layout and packed as an OCI
//! archive (a tar of the layout, what `skopeo copy oci-archive:FILE` reads):
//!
//!   cargo xtask image OUTDIR ARCH=RELEASE_DIR...
//!
//! writes OUTDIR/nydus-overlayfs-installer-VERSION.tar. The layout's
//! index.json names one descriptor, the image index, with
//! `org.opencontainers.image.ref.name` = VERSION, so that both
//! `oci-archive:FILE` and `oci-archive:FILE:VERSION` name it.
//!
//! Reproducible by construction: every byte is a function of the binaries,
//! LICENSE, Cargo.toml's version and license, and SOURCE_DATE_EPOCH. Nothing
//! is read from the file system's metadata: each tar header is written field
//! by field (ustar, names in byte order, owner 0:0, fixed modes, mtime =
//! SOURCE_DATE_EPOCH, no pax headers), gzip carries no name or time, and
//! JSON keys come in the order written here (serde_json's preserve_order).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const IMAGE_NAME: &str = "nydus-overlayfs-installer";
const DESCRIPTION: &str = "Installs the nydus-overlayfs mount helper on a node from a privileged \
    DaemonSet, with the node's root mounted at /host";
/// What the DaemonSet's container runs: the setup command's installer, on
/// the node's root.
const ENTRYPOINT: &[&str] = &["/usr/sbin/nydus-overlayfs-setup"];
const CMD: &[&str] = &["--root", "/host", "installer"];
/// The conventional default PATH (what image builders give a FROM scratch
/// image), so that a runtime adds none of its own.
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The binaries, from each architecture's release directory, into /usr/sbin.
const BINARIES: &[&str] = &["nydus-overlayfs", "nydus-overlayfs-setup"];

const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The architectures an image can be made for, in the index's order: the
/// Debian name (the Makefile's ARCH), the OCI platform's architecture and
/// variant, and the ELF e_machine its binaries must have.
struct Platform {
    arch: &'static str,
    variant: Option<&'static str>,
    elf_machine: u16,
}

const PLATFORMS: &[Platform] = &[
    Platform {
        arch: "amd64",
        variant: None,
        elf_machine: 62, // EM_X86_64
    },
    Platform {
        arch: "arm64",
        variant: Some("v8"),
        elf_machine: 183, // EM_AARCH64
    },
];

/// A content-addressed blob of the layout.
struct Blob {
    digest: String,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: sha256(&bytes),
            bytes,
        }
    }

    fn json(value: &Value) -> Blob {
        Blob::new(serde_json::to_vec(value).expect("a JSON value serialises"))
    }

    fn descriptor(&self, media_type: &str) -> Value {
        json!({ "mediaType": media_type, "digest": self.digest, "size": self.bytes.len() })
    }
}

fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut digest = String::from("sha256:");
    for byte in hash.iter() {
        digest.push_str(&format!("{byte:02x}"));
    }
    digest
}

/// What Cargo.toml and the environment say about this build.
struct Meta {
    version: String,
    license: String,
    epoch: u64,
}

impl Meta {
    fn read() -> io::Result<Meta> {
        let manifest: toml_edit::DocumentMut = std::fs::read_to_string("Cargo.toml")?
            .parse()
            .map_err(io::Error::other)?;
        let field = |key: &str| {
            manifest["package"][key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| io::Error::other(format!("Cargo.toml has no package.{key}")))
        };
        let epoch = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| {
                io::Error::other(
                    "SOURCE_DATE_EPOCH is unset or not a number of seconds \
                     (make image sets it: the last commit's time)",
                )
            })?;
        Ok(Meta {
            version: field("version")?,
            license: field("license")?,
            epoch,
        })
    }

    /// The image's labels, also the manifests' and the index's annotations.
    fn labels(&self) -> Value {
        json!({
            "org.opencontainers.image.title": IMAGE_NAME,
            "org.opencontainers.image.description": DESCRIPTION,
            "org.opencontainers.image.version": self.version,
            "org.opencontainers.image.licenses": self.license,
            "org.opencontainers.image.created": rfc3339(self.epoch),
        })
    }
}

/// Seconds since the epoch as RFC 3339 in UTC, e.g. 2026-12-07T17:01:00Z
/// (days to a civil date: Howard Hinnant's `civil_from_days`).
fn rfc3339(epoch: u64) -> String {
    let (days, secs) = ((epoch / 86400) as i64, epoch % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One member of a tar archive: a directory (no contents) or a file.
struct Member<'a> {
    path: String,
    mode: u32,
    contents: Option<&'a [u8]>,
}

impl<'a> Member<'a> {
    fn dir(path: &str) -> Member<'a> {
        Member {
            path: path.to_string(),
            mode: 0o755,
            contents: None,
        }
    }

    fn file(path: &str, mode: u32, contents: &'a [u8]) -> Member<'a> {
        Member {
            path: path.to_string(),
            mode,
            contents: Some(contents),
        }
    }
}

/// A tar archive of `members` in byte order of their paths, each header
/// written field by field: ustar, owner 0:0 with no names, `mtime`.
fn tar(mut members: Vec<Member>, mtime: u64) -> io::Result<Vec<u8>> {
    members.sort_by(|a, b| a.path.cmp(&b.path));
    let mut archive = tar::Builder::new(Vec::new());
    for member in &members {
        let contents = member.contents.unwrap_or_default();
        let mut header = tar::Header::new_ustar();
        header.set_path(&member.path)?;
        header.set_entry_type(match member.contents {
            Some(_) => tar::EntryType::Regular,
            None => tar::EntryType::Directory,
        });
        header.set_mode(member.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_size(contents.len() as u64);
        header.set_cksum();
        archive.append(&header, contents)?;
    }
    archive.into_inner()
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The release binaries of `platform` from `dir`, refused if they are not
/// ELF programs of that architecture.
fn read_binaries(platform: &Platform, dir: &Path) -> io::Result<Vec<Vec<u8>>> {
    BINARIES
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let bytes = std::fs::read(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let machine = bytes
                .get(..20)
                .filter(|head| head.starts_with(b"\x7fELF"))
                .map(|head| u16::from_le_bytes([head[18], head[19]]));
            if machine != Some(platform.elf_machine) {
                return Err(io::Error::other(format!(
                    "{}: not an ELF program for {}",
                    path.display(),
                    platform.arch
                )));
            }
            Ok(bytes)
        })
        .collect()
}

/// The image of one platform: its layer, config and manifest blobs, and the
/// index's descriptor of the manifest.
fn image(
    platform: &Platform,
    binaries: &[Vec<u8>],
    license: &[u8],
    meta: &Meta,
) -> io::Result<(Vec<Blob>, Value)> {
    let mut members = vec![
        Member::dir("host/"),
        Member::dir("usr/"),
        Member::dir("usr/sbin/"),
        Member::dir("usr/share/"),
        Member::dir("usr/share/doc/"),
        Member::dir("usr/share/doc/nydus-overlayfs/"),
        Member::file("usr/share/doc/nydus-overlayfs/copyright", 0o644, license),
    ];
    for (name, bytes) in BINARIES.iter().zip(binaries) {
        members.push(Member::file(&format!("usr/sbin/{name}"), 0o755, bytes));
    }
    let layer_tar = tar(members, meta.epoch)?;
    let diff_id = sha256(&layer_tar);
    let layer = Blob::new(gzip(&layer_tar)?);

    let created = rfc3339(meta.epoch);
    let mut config = json!({ "created": created, "architecture": platform.arch });
    if let Some(variant) = platform.variant {
        config["variant"] = variant.into();
    }
    config["os"] = "linux".into();
    config["config"] = json!({
        "User": "0:0",
        "Env": [PATH_ENV],
        "Entrypoint": ENTRYPOINT,
        "Cmd": CMD,
        "WorkingDir": "/",
        "Labels": meta.labels(),
    });
    config["rootfs"] = json!({ "type": "layers", "diff_ids": [diff_id] });
    config["history"] = json!([{
        "created": created,
        "created_by": "cargo xtask image",
        "comment": "the release binaries and the license, on nothing (FROM scratch)",
    }]);
    let config = Blob::json(&config);

    let manifest = Blob::json(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.descriptor(CONFIG_TYPE),
        "layers": [layer.descriptor(LAYER_TYPE)],
        "annotations": meta.labels(),
    }));
    let mut descriptor = manifest.descriptor(MANIFEST_TYPE);
    let mut os_arch = json!({ "architecture": platform.arch, "os": "linux" });
    if let Some(variant) = platform.variant {
        os_arch["variant"] = variant.into();
    }
    descriptor["platform"] = os_arch;
    Ok((vec![layer, config, manifest], descriptor))
}

pub fn write(out_dir: &Path, arches: &[PathBuf]) -> io::Result<()> {
    let meta = Meta::read()?;
    let license = std::fs::read("LICENSE")?;

    // ARCH=DIR arguments, taken in the order of PLATFORMS.
    let mut given: Vec<(&str, &Path)> = Vec::new();
    for arg in arches {
        let (arch, dir) = arg
            .to_str()
            .and_then(|arg| arg.split_once('='))
            .ok_or_else(|| io::Error::other(format!("{}: not ARCH=DIR", arg.display())))?;
        if !PLATFORMS.iter().any(|p| p.arch == arch) || given.iter().any(|(a, _)| *a == arch) {
            return Err(io::Error::other(format!(
                "{arch}: not one of amd64, arm64, or given twice"
            )));
        }
        given.push((arch, Path::new(dir)));
    }
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    for platform in PLATFORMS {
        let Some((_, dir)) = given.iter().find(|(arch, _)| *arch == platform.arch) else {
            continue;
        };
        let binaries = read_binaries(platform, dir)?;
        let (image_blobs, descriptor) = image(platform, &binaries, &license, &meta)?;
        blobs.extend(image_blobs);
        manifests.push(descriptor);
    }
    if manifests.is_empty() {
        return Err(io::Error::other("no ARCH=DIR given"));
    }

    let index = Blob::json(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": manifests,
        "annotations": meta.labels(),
    }));
    let mut index_descriptor = index.descriptor(INDEX_TYPE);
    index_descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": meta.version });
    let layout_index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [index_descriptor],
    }))
    .expect("a JSON value serialises");
    let index_digest = index.digest.clone();
    blobs.push(index);

    let mut members = vec![
        Member::file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#),
        Member::file("index.json", 0o644, &layout_index),
        Member::dir("blobs/"),
        Member::dir("blobs/sha256/"),
    ];
    blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
    blobs.dedup_by(|a, b| a.digest == b.digest);
    for blob in &blobs {
        let path = format!("blobs/{}", blob.digest.replacen(':', "/", 1));
        members.push(Member::file(&path, 0o644, &blob.bytes));
    }
    let archive = tar(members, meta.epoch)?;

    std::fs::create_dir_all(out_dir)?;
    let out = out_dir.join(format!("{IMAGE_NAME}-{}.tar", meta.version));
    let partial = out.with_extension("tar.partial");
    std::fs::write(&partial, &archive)?;
    std::fs::rename(&partial, &out)?;
    println!(
        "{}: {} bytes; image index {index_digest} (oci-archive:{}:{}), {}",
        out.display(),
        archive.len(),
        out.display(),
        meta.version,
        manifests
            .iter()
            .map(|m| format!(
                "{} manifest {}",
                m["platform"]["architecture"].as_str().unwrap_or_default(),
                m["digest"].as_str().unwrap_or_default()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
