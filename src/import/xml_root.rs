//! Format sniffing for XML inputs: the root element of a document, read
//! with quick-xml from its first 64 KiB (no DTD or entity expansion). The
//! OpenIOC importer, the feed parser (RSS/Atom) and the report sniffing
//! (HTML) all decide by it.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Bytes read to find the root element.
const HEAD_BYTES: usize = 64 * 1024;

/// The local name (namespace prefix dropped) of the first element of
/// `bytes`, or `None` when no element starts in the first 64 KiB or the
/// text before it is not XML. A UTF-8 sequence cut by the 64 KiB limit is
/// ignored.
pub fn root_element(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(HEAD_BYTES)];
    let head = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    let mut r = Reader::from_str(head);
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_element_after_prolog_comments_and_bom() {
        let doc = "\u{feff}<?xml version=\"1.0\"?>\n<!-- c -->\n<rss:rss xmlns:rss=\"x\"><channel/></rss:rss>";
        assert_eq!(root_element(doc.as_bytes()).as_deref(), Some("rss"));
        assert_eq!(root_element(b"<OpenIOC/>").as_deref(), Some("OpenIOC"));
        assert_eq!(root_element(b"just text"), None);
        assert_eq!(root_element(b""), None);
        // An element past 64 KiB is not looked for.
        let mut far = vec![b' '; HEAD_BYTES + 10];
        far.extend_from_slice(b"<ioc/>");
        assert_eq!(root_element(&far), None);
    }
}
