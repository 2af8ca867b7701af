//! Integration tests of the `scim` crate through its public API: the documents it puts on
//! the wire (snapshotted with insta) and the RFC's own examples.

mod bulk;
mod discovery;
mod lists;

use serde_json::Value;

/// Panics, naming the JSON path, if `value` holds a `null` anywhere: Entra ID wants absent
/// values omitted, never sent as `null`.
fn assert_no_nulls(value: &Value, at: &str) {
    match value {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_no_nulls(item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(obj) => {
            for (key, item) in obj {
                assert_no_nulls(item, &format!("{at}.{key}"));
            }
        }
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
