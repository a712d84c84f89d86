//! JSON for handlers: a builder for response bodies addressed by dotted
//! paths (the seed's `resp.json.hello = "world!"`), and lookups into a
//! request's JSON body, so C needs no JSON library.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Splits `a.b.c` into keys; empty keys are refused.
fn keys(path: &str) -> Result<Vec<&str>> {
    if path.is_empty() {
        return Err(Error::invalid("empty JSON path"));
    }
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(Error::invalid(
            "JSON path has an empty key (\"a..b\", a leading or trailing dot)",
        ));
    }
    Ok(keys)
}

/// Sets `value` at `path` in the object `doc`, creating nested objects.
/// Setting below something that is not an object (`n.sub` when `n` is a
/// number) fails and changes nothing.
pub(crate) fn set_path(doc: &mut Map<String, Value>, path: &str, value: Value) -> Result<()> {
    let keys = keys(path)?;
    // Check first, so a failure changes nothing.
    let mut probe = Some(&*doc);
    for key in &keys[..keys.len() - 1] {
        probe = match probe.and_then(|m| m.get(*key)) {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(Error::invalid(format!("JSON path {path:?}: {key:?} is not an object"))),
        };
    }
    let mut node = doc;
    for key in &keys[..keys.len() - 1] {
        let entry = node
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = entry else {
            unreachable!("checked above")
        };
        node = next;
    }
    node.insert(keys[keys.len() - 1].to_owned(), value);
    Ok(())
}

/// The value at `path` in `doc` (None when absent).
pub(crate) fn get_path<'v>(doc: &'v Value, path: &str) -> Result<Option<&'v Value>> {
    let mut node = doc;
    for key in keys(path)? {
        node = match node {
            Value::Object(m) => match m.get(key) {
                Some(v) => v,
                None => return Ok(None),
            },
            // Arrays by index: "items.0.name".
            Value::Array(a) => match key.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(node))
}

/// Parses and validates a JSON text.
pub(crate) fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

/// A finite number as JSON.
pub(crate) fn number(v: f64) -> Result<Value> {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| Error::invalid("JSON numbers must be finite (no NaN or infinity)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_objects_in_order() {
        let mut doc = Map::new();
        set_path(&mut doc, "hello", Value::from("world!")).unwrap();
        set_path(&mut doc, "a.b.c", Value::from(1)).unwrap();
        set_path(&mut doc, "a.b.d", Value::from(true)).unwrap();
        set_path(&mut doc, "a.x", Value::Null).unwrap();
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"hello":"world!","a":{"b":{"c":1,"d":true},"x":null}}"#
        );
        // Below a non-object: refused, nothing changed.
        assert!(set_path(&mut doc, "hello.sub", Value::from(1)).is_err());
        assert!(set_path(&mut doc, "a.b.c.d", Value::from(1)).is_err());
        assert!(set_path(&mut doc, "", Value::from(1)).is_err());
        assert!(set_path(&mut doc, "a..b", Value::from(1)).is_err());
        assert!(set_path(&mut doc, ".a", Value::from(1)).is_err());
        assert_eq!(doc.len(), 2);
        // Replacing an object by a value is allowed at the leaf.
        set_path(&mut doc, "a", Value::from("flat")).unwrap();
        assert_eq!(serde_json::to_string(&doc).unwrap(), r#"{"hello":"world!","a":"flat"}"#);
    }

    #[test]
    fn escapes_and_numbers() {
        let mut doc = Map::new();
        set_path(&mut doc, "s", Value::from("q\"\\\n\u{1}é€😀")).unwrap();
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            "{\"s\":\"q\\\"\\\\\\n\\u0001é€😀\"}"
        );
        assert!(number(f64::NAN).is_err());
        assert!(number(f64::INFINITY).is_err());
        assert_eq!(number(1.5).unwrap(), Value::from(1.5));
    }

    #[test]
    fn looks_up_paths() {
        let v = parse(r#"{"a":{"b":[{"c":"x"},2]},"n":1}"#).unwrap();
        assert_eq!(get_path(&v, "a.b.0.c").unwrap(), Some(&Value::from("x")));
        assert_eq!(get_path(&v, "a.b.1").unwrap(), Some(&Value::from(2)));
        assert_eq!(get_path(&v, "a.b.7").unwrap(), None);
        assert_eq!(get_path(&v, "n.x").unwrap(), None);
        assert_eq!(get_path(&v, "missing").unwrap(), None);
        assert!(get_path(&v, "a..b").is_err());
        assert!(parse("{").is_err());
    }
}
