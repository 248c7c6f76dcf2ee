//! The few things the client reads in SAML documents, as a flat list of elements:
//! each with its local name (namespace prefixes dropped: the documents are checked by
//! their structure, and signatures by libxmlsec1), its attributes, its text and its
//! parent. Entity and character references in text are resolved.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

/// One element of a document.
#[derive(Debug, Clone)]
pub(super) struct Element {
    pub index: usize,
    pub parent: Option<usize>,
    /// The local name.
    pub name: String,
    /// Local names and unescaped values.
    pub attributes: Vec<(String, String)>,
    /// The text directly inside it.
    pub text: String,
}

impl Element {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The nearest ancestor of `element` named `name`.
pub(super) fn ancestor<'e>(
    elements: &'e [Element],
    element: &Element,
    name: &str,
) -> Option<&'e Element> {
    let mut at = element.parent;
    while let Some(index) = at {
        let candidate = elements.get(index)?;
        if candidate.name == name {
            return Some(candidate);
        }
        at = candidate.parent;
    }
    None
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.split_once(':') {
        Some((_, local)) => local.to_owned(),
        None => name.into_owned(),
    }
}

fn element(start: &BytesStart<'_>, index: usize, parent: Option<usize>) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("a malformed attribute: {e}"))?;
        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        // Namespace declarations are not attributes of the document's content.
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|e| format!("a malformed attribute value: {e}"))?;
        attributes.push((local(key.as_bytes()), value.into_owned()));
    }
    Ok(Element {
        index,
        parent,
        name: local(start.name().as_ref()),
        attributes,
        text: String::new(),
    })
}

/// Every element of `xml`, in document order (the root first).
pub(super) fn parse(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(start) => {
                let index = elements.len();
                elements.push(element(&start, index, open.last().copied())?);
                open.push(index);
            }
            Event::Empty(start) => {
                let index = elements.len();
                elements.push(element(&start, index, open.last().copied())?);
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Text(text) => {
                if let Some(current) = open.last().and_then(|i| elements.get_mut(*i)) {
                    let text = text.decode().map_err(|e| format!("not UTF-8: {e}"))?;
                    current.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                if let Some(current) = open.last().and_then(|i| elements.get_mut(*i)) {
                    current.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|e| format!("a bad character reference: {e}"))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| format!("not UTF-8: {e}"))?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("an unknown entity &{name};"))?
                            .to_owned()
                    }
                };
                if let Some(current) = open.last().and_then(|i| elements.get_mut(*i)) {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if elements.is_empty() {
        return Err("no root element".into());
    }
    Ok(elements)
}
