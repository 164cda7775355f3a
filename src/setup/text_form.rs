//! The byte form of a config file that its TOML does not carry: a UTF-8
//! byte-order mark and CRLF line endings. The TOML editor works on plain
//! LF text; the form puts the file's own bytes back around it, so a switch
//! changes only the lines it means to.

/// How a file's text is written on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextForm {
    bom: bool,
    crlf: bool,
}

const BOM: &str = "\u{feff}";

impl TextForm {
    /// The file's form, and its text as the editor reads it.
    pub fn decode(bytes: &[u8]) -> Result<(TextForm, String), String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        let (bom, text) = match text.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        // CRLF only when every line ends so: a file with mixed endings is
        // left to the editor as it is.
        let lines = text.matches('\n').count();
        let crlf = lines > 0 && text.matches("\r\n").count() == lines;
        let text = if crlf {
            text.replace("\r\n", "\n")
        } else {
            text.to_string()
        };
        Ok((TextForm { bom, crlf }, text))
    }

    /// `text` written in this form.
    pub fn encode(self, text: &str) -> Vec<u8> {
        let mut out = String::with_capacity(text.len() + 8);
        if self.bom {
            out.push_str(BOM);
        }
        if self.crlf {
            out.push_str(&text.replace('\n', "\r\n"));
        } else {
            out.push_str(text);
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_and_crlf_come_back() {
        for original in [
            "a = 1\r\nb = 2\r\n".as_bytes(),
            "\u{feff}a = 1\nb = 2\n".as_bytes(),
            "\u{feff}a = 1\r\n".as_bytes(),
            "a = 1\nb = 2\r\n".as_bytes(),
            b"",
        ] {
            let (form, text) = TextForm::decode(original).unwrap();
            assert!(!text.starts_with(BOM));
            assert_eq!(form.encode(&text), original);
        }
        let (form, text) = TextForm::decode(b"a = 1\r\n").unwrap();
        assert_eq!(text, "a = 1\n");
        assert_eq!(form.encode("a = 1\nb = 2\n"), b"a = 1\r\nb = 2\r\n");
        assert!(TextForm::decode(b"\xff").is_err());
    }
}
