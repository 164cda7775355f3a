//! Amazon EKS's nodeadm (AL2023 AMIs) rewrites /etc/containerd/config.toml
//! at every boot from its own template, then merges the containerd TOML of
//! every NodeConfig (`spec.containerd.config`) over it, key by key, the
//! NodeConfig's values winning (nodeadm's `util.Merge`, in
//! `internal/containerd/config.go`). `nodeadm-run.service` reads NodeConfig
//! drop-ins from /etc/eks/nodeadm.d/, and re-runs that config phase when
//! they change what the boot's user data said. So the switch that lasts is
//! a NodeConfig drop-in there; this module writes ours, reads everyone's,
//! and renders the merge as nodeadm would, for status.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table};

use super::rootfs::NodeFs;

/// Our drop-in's name in nodeadm's directory.
pub const DROP_IN_NAME: &str = "90-nydus-overlayfs.yaml";

/// A NodeConfig document that carries `containerd_toml`.
pub fn node_config(containerd_toml: &str) -> String {
    let indented: String = containerd_toml
        .lines()
        .map(|line| {
            if line.is_empty() {
                "\n".to_string()
            } else {
                format!("      {line}\n")
            }
        })
        .collect();
    format!(
        "# Written by nydus-overlayfs-setup enable: nodeadm merges this over containerd's\n\
         # config at every boot. nydus-overlayfs-setup disable removes it.\n\
         apiVersion: node.eks.aws/v1alpha1\n\
         kind: NodeConfig\n\
         spec:\n  containerd:\n    config: |\n{indented}"
    )
}

/// The containerd TOML of each NodeConfig drop-in in `dir`, in name order.
pub fn parts(node: &NodeFs, dir: &Path) -> Vec<(PathBuf, String)> {
    let mut names: Vec<String> = node
        .list(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let path = dir.join(name);
            let bytes = node.read(&path).ok().flatten()?;
            containerd_config(&String::from_utf8_lossy(&bytes)).map(|toml| (path, toml))
        })
        .collect()
}

/// `spec.containerd.config` of a NodeConfig written as YAML with a block
/// scalar (`config: |`), the form nodeadm's documentation uses.
fn containerd_config(yaml: &str) -> Option<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut in_containerd = None;
    for (i, line) in lines.iter().enumerate() {
        let key = line.trim();
        if key == "containerd:" {
            in_containerd = Some(indent(line));
            continue;
        }
        let Some(parent) = in_containerd else {
            continue;
        };
        if !key.is_empty() && indent(line) <= parent {
            in_containerd = None;
            continue;
        }
        let Some(style) = key.strip_prefix("config:") else {
            continue;
        };
        if !matches!(style.trim(), "|" | "|-" | "|+") {
            return None;
        }
        let body: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
            .copied()
            .collect();
        let margin = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| indent(l))
            .min()?;
        return Some(
            body.iter()
                .map(|l| format!("{}\n", l.get(margin..).unwrap_or("")))
                .collect(),
        );
    }
    None
}

/// containerd's config as nodeadm leaves it: `config` (what it rendered
/// last, or nothing before the first boot) with each part merged over it.
pub fn render(config: Option<&str>, parts: &[(PathBuf, String)]) -> String {
    let mut merged: DocumentMut = config.unwrap_or("").parse().unwrap_or_default();
    for (_, part) in parts {
        if let Ok(part) = part.parse::<DocumentMut>() {
            merge(merged.as_table_mut(), part.as_table());
        }
    }
    merged.to_string()
}

/// Every key of `over` into `base`, tables merged key by key, anything
/// else replaced.
fn merge(base: &mut Table, over: &Table) {
    for (key, item) in over.iter() {
        match (
            base.get_mut(key).and_then(Item::as_table_mut),
            item.as_table(),
        ) {
            (Some(inner), Some(over_inner)) => merge(inner, over_inner),
            _ => {
                base.insert(key, item.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_node_config_reads_back_and_merges_over_the_rendered_config() {
        let toml =
            "version = 3\n\n[plugins.'io.containerd.cri.v1.images']\nsnapshotter = \"nydus\"\n";
        let yaml = node_config(toml);
        assert_eq!(containerd_config(&yaml).as_deref(), Some(toml));
        let rendered = "version = 3\n[plugins.'io.containerd.cri.v1.images']\n\
                        snapshotter = \"overlayfs\"\ndiscard_unpacked_layers = true\n";
        let merged = render(
            Some(rendered),
            &[(PathBuf::from("/x.yaml"), toml.to_string())],
        );
        let doc: DocumentMut = merged.parse().unwrap();
        let images = &doc["plugins"]["io.containerd.cri.v1.images"];
        assert_eq!(images["snapshotter"].as_str(), Some("nydus"));
        assert_eq!(images["discard_unpacked_layers"].as_bool(), Some(true));
    }

    #[test]
    fn a_node_config_with_other_sections_and_documents_is_read() {
        let yaml = "---\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: c\n  \
                    containerd:\n    config: |\n      [grpc]\n      address = \"/run/foo.sock\"\n  kubelet:\n    flags: []\n";
        assert_eq!(
            containerd_config(yaml).as_deref(),
            Some("[grpc]\naddress = \"/run/foo.sock\"\n")
        );
        assert_eq!(containerd_config("spec:\n  kubelet: {}\n"), None);
    }
}
