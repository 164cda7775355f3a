//! What switching asks of one TOML file — keys with our values, entries for
//! containerd's `imports` — and the format-preserving editor that applies
//! it: comments, order, spacing and quote style of everything else are
//! kept. An edit can be applied, checked ("applying changes nothing") and
//! reverted key by key.

use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

/// One managed key: the tables leading to it, the key, and our value.
#[derive(Clone, Debug)]
pub struct ManagedKey {
    pub path: Vec<String>,
    pub value: Value,
}

impl PartialEq for ManagedKey {
    fn eq(&self, other: &ManagedKey) -> bool {
        self.path == other.path && same_value(&self.value, &other.value)
    }
}

impl ManagedKey {
    pub fn new(path: &[&str], value: impl Into<Value>) -> ManagedKey {
        ManagedKey {
            path: path.iter().map(|s| s.to_string()).collect(),
            value: value.into(),
        }
    }

    fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// What switching the node asks of one TOML file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigEdit {
    pub keys: Vec<ManagedKey>,
    /// Entries for the top-level `imports` array (containerd's drop-ins).
    pub imports: Vec<String>,
    /// What to start from when the file does not exist yet.
    pub new_file: String,
}

impl ConfigEdit {
    /// The file with the switch applied.
    pub fn apply(&self, current: Option<&str>) -> Result<String, String> {
        let mut doc = parse(current.unwrap_or(&self.new_file))?;
        for import in &self.imports {
            add_import(&mut doc, import)?;
        }
        for key in &self.keys {
            set_key(&mut doc, key)?;
        }
        Ok(doc.to_string())
    }

    /// Whether `current` already has everything the switch asks for.
    pub fn is_applied(&self, current: Option<&str>) -> bool {
        current.is_some() && self.apply(current).ok().as_deref() == current
    }

    /// `current` with each managed key that still holds our value given back
    /// its value in `original` (or removed), our imports removed, and tables
    /// we created and left empty removed.
    pub fn revert(&self, current: &str, original: Option<&str>) -> Result<String, String> {
        let mut doc = parse(current)?;
        let original = parse(original.unwrap_or(""))?;
        for import in &self.imports {
            remove_import(&mut doc, import, original.contains_key("imports"));
        }
        for key in &self.keys {
            revert_key(&mut doc, key, &original);
        }
        Ok(doc.to_string())
    }

    /// Both switches' keys and imports: what two enables asked for in all.
    pub fn union(mut self, other: &ConfigEdit) -> ConfigEdit {
        for key in &other.keys {
            if !self.keys.iter().any(|k| k.path == key.path) {
                self.keys.push(key.clone());
            }
        }
        for import in &other.imports {
            if !self.imports.contains(import) {
                self.imports.push(import.clone());
            }
        }
        self
    }
}

pub fn parse(text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>().map_err(|e| {
        format!(
            "not valid TOML: {}",
            e.to_string().lines().next().unwrap_or("")
        )
    })
}

/// The table at `path`, created (as implicit tables, so no empty headers are
/// written) when `create` is set.
fn table_at<'a>(
    doc: &'a mut DocumentMut,
    path: &[String],
    create: bool,
) -> Result<Option<&'a mut dyn TableLike>, String> {
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for (depth, name) in path.iter().enumerate() {
        if table.get(name).is_none() {
            if !create {
                return Ok(None);
            }
            let mut new = Table::new();
            new.set_implicit(true);
            table.insert(name, Item::Table(new));
        }
        table = table
            .get_mut(name)
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| format!("'{}' is not a table", path[..=depth].join(".")))?;
    }
    Ok(Some(table))
}

/// Whether two values mean the same, however they are written.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        _ => a.clone().decorated("", "").to_string() == b.clone().decorated("", "").to_string(),
    }
}

fn set_key(doc: &mut DocumentMut, key: &ManagedKey) -> Result<(), String> {
    let (name, tables) = key.path.split_last().expect("a managed key has a name");
    table_at(doc, tables, true)?;
    let indent = lookup(doc, tables).map(indentation).unwrap_or_default();
    let table = table_at(doc, tables, false)?.expect("created just above");
    match table.get_mut(name) {
        None => {
            table.insert(name, Item::Value(key.value.clone()));
            if let Some(mut new_key) = table.key_mut(name) {
                new_key.leaf_decor_mut().set_prefix(indent);
            }
        }
        Some(Item::Value(existing)) => {
            if !same_value(existing, &key.value) {
                let decor = existing.decor().clone();
                *existing = styled_like(existing, &key.value);
                *existing.decor_mut() = decor;
            }
        }
        Some(_) => return Err(format!("'{}' is a table, expected a value", key.dotted())),
    }
    Ok(())
}

/// The indentation of a new key in `table`: that of its other keys, else
/// one step (two spaces) deeper than its header.
fn indentation(table: &Item) -> String {
    let whitespace = |prefix: Option<&toml_edit::RawString>| {
        let text = prefix.and_then(|p| p.as_str()).unwrap_or("");
        text.rsplit('\n')
            .next()
            .unwrap_or("")
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect::<String>()
    };
    if let Some((key, _)) = table
        .as_table_like()
        .and_then(|t| t.get_values().into_iter().next())
    {
        return whitespace(key.last().and_then(|k| k.leaf_decor().prefix()));
    }
    match table.as_table() {
        Some(header) => {
            let indent = whitespace(header.decor().prefix());
            if indent.is_empty() {
                indent
            } else {
                indent + "  "
            }
        }
        None => String::new(),
    }
}

/// `ours`, written with the quote style of the string it replaces.
fn styled_like(existing: &Value, ours: &Value) -> Value {
    let literal =
        existing.as_str().is_some() && existing.to_string().trim_start().starts_with('\'');
    match ours.as_str() {
        Some(text) if literal && !text.contains(['\'', '\n']) => {
            format!("'{text}'").parse().unwrap_or_else(|_| ours.clone())
        }
        _ => ours.clone(),
    }
}

fn revert_key(doc: &mut DocumentMut, key: &ManagedKey, original: &DocumentMut) {
    let (name, tables) = key.path.split_last().expect("a managed key has a name");
    let original_value = lookup(original, &key.path)
        .and_then(Item::as_value)
        .cloned();
    let Ok(Some(table)) = table_at(doc, tables, false) else {
        return;
    };
    let Some(Item::Value(current)) = table.get_mut(name) else {
        return;
    };
    if !same_value(current, &key.value) {
        return; // changed since by someone else: theirs now
    }
    match original_value {
        Some(value) => {
            let decor = current.decor().clone();
            *current = value.decorated("", "");
            *current.decor_mut() = decor;
        }
        None => {
            table.remove(name);
        }
    }
    // Remove tables we created that are now empty, innermost first.
    for depth in (1..=tables.len()).rev() {
        let path = &tables[..depth];
        let empty = matches!(table_at(doc, path, false), Ok(Some(t)) if t.is_empty());
        if !empty || lookup(original, path).is_some() {
            break;
        }
        if let Ok(Some(parent)) = table_at(doc, &path[..depth - 1], false) {
            parent.remove(&path[depth - 1]);
        }
    }
}

fn lookup<'a>(doc: &'a DocumentMut, path: &[String]) -> Option<&'a Item> {
    let mut item = doc.as_item();
    for name in path {
        item = item.as_table_like()?.get(name)?;
    }
    Some(item)
}

fn add_import(doc: &mut DocumentMut, import: &str) -> Result<(), String> {
    match doc.get_mut("imports") {
        None => {
            let mut imports = Array::new();
            imports.push(import);
            doc.insert("imports", Item::Value(Value::Array(imports)));
        }
        Some(item) => {
            let imports = item.as_array_mut().ok_or("'imports' is not an array")?;
            if !imports.iter().any(|v| v.as_str() == Some(import)) {
                imports.push(import);
            }
        }
    }
    Ok(())
}

fn remove_import(doc: &mut DocumentMut, import: &str, keep_key: bool) {
    let Some(imports) = doc.get_mut("imports").and_then(Item::as_array_mut) else {
        return;
    };
    imports.retain(|v| v.as_str() != Some(import));
    if imports.is_empty() && !keep_key {
        doc.remove("imports");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"# my containerd
version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "pause:3.9"   # pinned
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
"#;

    fn switch() -> ConfigEdit {
        let cri = ["plugins", "io.containerd.grpc.v1.cri", "containerd"];
        ConfigEdit {
            keys: vec![
                ManagedKey::new(&[&cri[..], &["snapshotter"]].concat(), "nydus"),
                ManagedKey::new(&[&cri[..], &["discard_unpacked_layers"]].concat(), false),
                ManagedKey::new(&["proxy", "nydus", "type"], "snapshot"),
            ],
            imports: vec!["/usr/share/x.toml".into()],
            new_file: "version = 2\n".into(),
        }
    }

    #[test]
    fn apply_keeps_comments_order_and_spacing() {
        let applied = switch().apply(Some(CONFIG)).unwrap();
        assert!(
            applied
                .starts_with("# my containerd\nversion = 2\nimports = [\"/usr/share/x.toml\"]\n"),
            "{applied}"
        );
        assert!(
            applied.contains("    sandbox_image = \"pause:3.9\"   # pinned\n"),
            "{applied}"
        );
        assert!(
            applied.contains("      snapshotter = \"nydus\"\n"),
            "{applied}"
        );
        assert!(
            applied.contains("\n      discard_unpacked_layers = false\n"),
            "indented like its sibling: {applied}"
        );
        assert!(
            applied.contains("[proxy.nydus]\ntype = \"snapshot\"\n"),
            "{applied}"
        );
        assert!(
            !applied.contains("[proxy]\n"),
            "implicit parent table gets no header: {applied}"
        );
    }

    #[test]
    fn applying_twice_changes_nothing_and_revert_restores() {
        let once = switch().apply(Some(CONFIG)).unwrap();
        assert_eq!(switch().apply(Some(&once)).unwrap(), once);
        assert!(switch().is_applied(Some(&once)));
        assert!(!switch().is_applied(Some(CONFIG)));
        assert!(!switch().is_applied(None));
        assert_eq!(switch().revert(&once, Some(CONFIG)).unwrap(), CONFIG);
    }

    #[test]
    fn revert_keeps_what_others_changed_since() {
        let once = switch().apply(Some(CONFIG)).unwrap();
        let edited = once.replace("snapshotter = \"nydus\"", "snapshotter = \"stargz\"")
            + "[extra]\nx = 1\n";
        let reverted = switch().revert(&edited, Some(CONFIG)).unwrap();
        assert!(reverted.contains("snapshotter = \"stargz\""), "{reverted}");
        assert!(reverted.contains("[extra]\nx = 1\n"), "{reverted}");
        assert!(
            !reverted.contains("imports")
                && !reverted.contains("discard_unpacked_layers")
                && !reverted.contains("proxy"),
            "{reverted}"
        );
    }

    #[test]
    fn a_new_file_is_created_and_reverts_to_nothing_of_ours() {
        let created = switch().apply(None).unwrap();
        assert!(created.starts_with("version = 2\nimports = "), "{created}");
        let reverted = switch().revert(&created, None).unwrap();
        assert_eq!(reverted, "version = 2\n");
    }

    #[test]
    fn existing_imports_are_extended_and_kept() {
        let config = "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n";
        let applied = switch().apply(Some(config)).unwrap();
        assert!(
            applied
                .contains("imports = [\"/etc/containerd/conf.d/*.toml\", \"/usr/share/x.toml\"]"),
            "{applied}"
        );
        let reverted = switch().revert(&applied, Some(config)).unwrap();
        assert!(reverted.starts_with(config), "{reverted}");
    }

    #[test]
    fn new_keys_are_indented_and_strings_keep_their_quotes() {
        let config = "version = 3\n[plugins]\n  [plugins.'cri']\n    snapshotter = 'overlayfs'\n  [plugins.'empty']\n";
        let switch = ConfigEdit {
            keys: vec![
                ManagedKey::new(&["plugins", "cri", "snapshotter"], "nydus"),
                ManagedKey::new(&["plugins", "cri", "other"], false),
                ManagedKey::new(&["plugins", "empty", "x"], true),
            ],
            ..ConfigEdit::default()
        };
        let applied = switch.apply(Some(config)).unwrap();
        assert_eq!(
            applied,
            "version = 3\n[plugins]\n  [plugins.'cri']\n    snapshotter = 'nydus'\n    other = false\n  [plugins.'empty']\n    x = true\n"
        );
        assert_eq!(switch.revert(&applied, Some(config)).unwrap(), config);
    }

    #[test]
    fn a_value_where_a_table_is_expected_is_an_error() {
        let err = switch().apply(Some("plugins = 3\n")).unwrap_err();
        assert_eq!(err, "'plugins' is not a table");
        assert!(
            switch()
                .apply(Some("version = ["))
                .unwrap_err()
                .starts_with("not valid TOML")
        );
    }
}
