//! Subsonic responses: one tree, rendered as XML (the Subsonic default) or
//! JSON (`f=json`, `f=jsonp`).
//!
//! Subsonic's two encodings are the same document: an element's attributes
//! become JSON fields, a child element becomes a JSON object, and a repeated
//! child element becomes a JSON array. The tree says which children repeat
//! ([`Child::List`]), so a list of one is still an array in JSON, and an
//! empty list is `[]` in JSON and nothing in XML.

use std::fmt::Write as _;

/// The Subsonic REST API version this server speaks.
pub const API_VERSION: &str = "1.16.1";
/// The `type` this server reports (OpenSubsonic).
pub const SERVER_TYPE: &str = "bae-server";

/// A scalar value: an attribute, or an item of a list of scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// Text.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean (`true`/`false` in both encodings).
    Bool(bool),
    /// A decimal number.
    Float(f64),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Str(s.to_owned())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Str(s)
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Val {
        Val::Str(s.clone())
    }
}
impl From<i64> for Val {
    fn from(n: i64) -> Val {
        Val::Int(n)
    }
}
impl From<u64> for Val {
    fn from(n: u64) -> Val {
        Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Val {
    fn from(n: usize) -> Val {
        Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<i32> for Val {
    fn from(n: i32) -> Val {
        Val::Int(i64::from(n))
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::Bool(b)
    }
}
impl From<f64> for Val {
    fn from(f: f64) -> Val {
        Val::Float(f)
    }
}

/// The children of an element under one name.
#[derive(Debug, Clone, PartialEq)]
pub enum Child {
    /// One element: a JSON object.
    One(Elem),
    /// Repeated elements: a JSON array (even of one or none).
    List(Vec<Elem>),
    /// Repeated text elements (`<versions>1</versions>`): a JSON array of scalars.
    Values(Vec<Val>),
}

/// An element: attributes, then named children, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Elem {
    attrs: Vec<(&'static str, Val)>,
    children: Vec<(&'static str, Child)>,
}

impl Elem {
    /// An element with nothing in it.
    pub fn new() -> Elem {
        Elem::default()
    }

    /// Adds an attribute.
    pub fn attr(mut self, name: &'static str, value: impl Into<Val>) -> Elem {
        self.attrs.push((name, value.into()));
        self
    }

    /// Adds an attribute if there is a value.
    pub fn opt<V: Into<Val>>(self, name: &'static str, value: Option<V>) -> Elem {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Adds one child element.
    pub fn one(mut self, name: &'static str, child: Elem) -> Elem {
        self.children.push((name, Child::One(child)));
        self
    }

    /// Adds a repeated child element.
    pub fn list(mut self, name: &'static str, children: Vec<Elem>) -> Elem {
        self.children.push((name, Child::List(children)));
        self
    }

    /// Adds repeated text children.
    pub fn values(mut self, name: &'static str, values: Vec<Val>) -> Elem {
        self.children.push((name, Child::Values(values)));
        self
    }

    /// The attribute `name`, if set (for tests).
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// The encoding a client asked for with `f`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `application/xml`, the default.
    Xml,
    /// `application/json`.
    Json,
    /// JSON wrapped in `callback(...)`.
    Jsonp(String),
}

impl Format {
    /// The format for the `f` and `callback` parameters. An unknown `f`
    /// falls back to XML, as Subsonic does.
    pub fn from_params(f: Option<&str>, callback: Option<&str>) -> Format {
        match f {
            Some("json") => Format::Json,
            Some("jsonp") => match callback {
                Some(cb)
                    if !cb.is_empty()
                        && cb
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.$".contains(c)) =>
                {
                    Format::Jsonp(cb.to_owned())
                }
                _ => Format::Json,
            },
            _ => Format::Xml,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Xml => "text/xml; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Jsonp(_) => "application/javascript; charset=utf-8",
        }
    }
}

/// A whole response document: `status="ok"` with a payload, or a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    ok: bool,
    payload: Vec<(&'static str, Child)>,
}

impl Envelope {
    /// A successful response with no payload (`ping`).
    pub fn ok() -> Envelope {
        Envelope {
            ok: true,
            payload: Vec::new(),
        }
    }

    /// A successful response with one payload element.
    pub fn with(name: &'static str, payload: Elem) -> Envelope {
        Envelope {
            ok: true,
            payload: vec![(name, Child::One(payload))],
        }
    }

    /// A successful response whose payload is a list (`openSubsonicExtensions`).
    pub fn with_list(name: &'static str, payload: Vec<Elem>) -> Envelope {
        Envelope {
            ok: true,
            payload: vec![(name, Child::List(payload))],
        }
    }

    /// A failed response: `<error code=".." message=".."/>`.
    pub fn error(code: u32, message: &str) -> Envelope {
        Envelope {
            ok: false,
            payload: vec![(
                "error",
                Child::One(
                    Elem::new()
                        .attr("code", i64::from(code))
                        .attr("message", message),
                ),
            )],
        }
    }

    fn root(&self) -> Elem {
        Elem {
            attrs: vec![
                ("status", Val::from(if self.ok { "ok" } else { "failed" })),
                ("version", Val::from(API_VERSION)),
                ("type", Val::from(SERVER_TYPE)),
                ("serverVersion", Val::from(env!("CARGO_PKG_VERSION"))),
                ("openSubsonic", Val::Bool(true)),
            ],
            children: self.payload.clone(),
        }
    }

    /// The document in `format`.
    pub fn render(&self, format: &Format) -> String {
        let root = self.root();
        match format {
            Format::Xml => {
                let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
                out.push('\n');
                write_xml(
                    &mut out,
                    "subsonic-response",
                    &root,
                    Some(r#" xmlns="http://subsonic.org/restapi""#),
                );
                out
            }
            Format::Json => json_document(&root),
            Format::Jsonp(callback) => format!("{callback}({});", json_document(&root)),
        }
    }
}

fn json_document(root: &Elem) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("subsonic-response".to_owned(), json_elem(root));
    serde_json::Value::Object(doc).to_string()
}

fn json_val(v: &Val) -> serde_json::Value {
    match v {
        Val::Str(s) => serde_json::Value::String(s.clone()),
        Val::Int(n) => serde_json::Value::from(*n),
        Val::Bool(b) => serde_json::Value::Bool(*b),
        Val::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
    }
}

fn json_elem(e: &Elem) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (name, value) in &e.attrs {
        map.insert((*name).to_owned(), json_val(value));
    }
    for (name, child) in &e.children {
        let value = match child {
            Child::One(c) => json_elem(c),
            Child::List(cs) => serde_json::Value::Array(cs.iter().map(json_elem).collect()),
            Child::Values(vs) => serde_json::Value::Array(vs.iter().map(json_val).collect()),
        };
        map.insert((*name).to_owned(), value);
    }
    serde_json::Value::Object(map)
}

fn xml_text(v: &Val) -> String {
    match v {
        Val::Str(s) => s.clone(),
        Val::Int(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Float(f) => f.to_string(),
    }
}

/// Escapes text for an XML attribute or element. Characters XML 1.0 cannot
/// carry at all (most C0 controls) become U+FFFD.
fn escape_xml(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn write_xml(out: &mut String, name: &str, e: &Elem, extra: Option<&str>) {
    out.push('<');
    out.push_str(name);
    if let Some(extra) = extra {
        out.push_str(extra);
    }
    for (attr, value) in &e.attrs {
        out.push(' ');
        out.push_str(attr);
        out.push_str("=\"");
        escape_xml(out, &xml_text(value));
        out.push('"');
    }
    let has_children = e.children.iter().any(|(_, c)| match c {
        Child::One(_) => true,
        Child::List(cs) => !cs.is_empty(),
        Child::Values(vs) => !vs.is_empty(),
    });
    if !has_children {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for (child_name, child) in &e.children {
        match child {
            Child::One(c) => write_xml(out, child_name, c, None),
            Child::List(cs) => {
                for c in cs {
                    write_xml(out, child_name, c, None);
                }
            }
            Child::Values(vs) => {
                for v in vs {
                    out.push('<');
                    out.push_str(child_name);
                    out.push('>');
                    escape_xml(out, &xml_text(v));
                    out.push_str("</");
                    out.push_str(child_name);
                    out.push('>');
                }
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope::with(
            "artists",
            Elem::new().attr("ignoredArticles", "The").list(
                "index",
                vec![Elem::new().attr("name", "A").list(
                    "artist",
                    vec![
                        Elem::new()
                            .attr("id", "1")
                            .attr("name", "AC/DC & <Friends> \"x\"")
                            .attr("albumCount", 2i64)
                            .opt::<i64>("year", None),
                    ],
                )],
            ),
        )
    }

    #[test]
    fn xml_has_attributes_and_repeated_children() {
        let xml = sample().render(&Format::Xml);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<subsonic-response xmlns=\"http://subsonic.org/restapi\" status=\"ok\" version=\"1.16.1\""), "{xml}");
        assert!(
            xml.contains(r#"<artists ignoredArticles="The"><index name="A"><artist id="1" name="AC/DC &amp; &lt;Friends&gt; &quot;x&quot;" albumCount="2"/></index></artists>"#),
            "{xml}"
        );
    }

    #[test]
    fn json_lists_are_arrays_even_of_one() {
        let json: serde_json::Value =
            serde_json::from_str(&sample().render(&Format::Json)).unwrap();
        let r = &json["subsonic-response"];
        assert_eq!(r["status"], "ok");
        assert_eq!(r["openSubsonic"], true);
        assert_eq!(r["artists"]["index"][0]["artist"][0]["albumCount"], 2);
        assert_eq!(
            r["artists"]["index"][0]["artist"][0]["name"],
            "AC/DC & <Friends> \"x\""
        );
        assert!(r["artists"]["index"][0]["artist"][0].get("year").is_none());
    }

    #[test]
    fn errors_and_empty_lists() {
        let e = Envelope::error(10, "Required parameter is missing: id");
        let xml = e.render(&Format::Xml);
        assert!(xml.contains(r#"status="failed""#), "{xml}");
        assert!(
            xml.contains(r#"<error code="10" message="Required parameter is missing: id"/>"#),
            "{xml}"
        );
        let json: serde_json::Value = serde_json::from_str(&e.render(&Format::Json)).unwrap();
        assert_eq!(json["subsonic-response"]["error"]["code"], 10);

        let empty = Envelope::with("albumList2", Elem::new().list("album", vec![]));
        assert!(empty.render(&Format::Xml).contains("<albumList2/>"));
        let json: serde_json::Value = serde_json::from_str(&empty.render(&Format::Json)).unwrap();
        assert_eq!(
            json["subsonic-response"]["albumList2"]["album"],
            serde_json::json!([])
        );
    }

    #[test]
    fn values_and_jsonp() {
        let e = Envelope::with_list(
            "openSubsonicExtensions",
            vec![
                Elem::new()
                    .attr("name", "formPost")
                    .values("versions", vec![Val::Int(1)]),
            ],
        );
        let xml = e.render(&Format::Xml);
        assert!(
            xml.contains(r#"<openSubsonicExtensions name="formPost"><versions>1</versions></openSubsonicExtensions>"#),
            "{xml}"
        );
        let jsonp = e.render(&Format::Jsonp("cb".into()));
        assert!(jsonp.starts_with("cb({\"subsonic-response\""), "{jsonp}");
        assert_eq!(
            Format::from_params(Some("jsonp"), Some("alert(1)")),
            Format::Json,
            "a callback that is not a plain name is refused"
        );
    }

    #[test]
    fn control_characters_never_break_the_xml() {
        let e = Envelope::with("x", Elem::new().attr("name", "a\u{1}b\tc"));
        assert!(
            e.render(&Format::Xml).contains("name=\"a\u{FFFD}b&#9;c\""),
            "{}",
            e.render(&Format::Xml)
        );
    }
}
