//! [`Text`]: a request field that is a JSON string and nothing else.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A JSON string, and only a string. poem-openapi's `String` also takes a number or a boolean
/// (`"name": false` becomes `"false"`), which the document (`type: string`) calls invalid, so
/// every string field of a request body is a `Text`: anything else is 400 `invalid_request`.
/// The document shows it as a plain string, and validators see the inner `String`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Text(pub(crate) String);

impl Text {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_string_is_text() {
        assert_eq!(Text::parse_from_json(Some(Value::from("Ada"))).ok(), Some(Text("Ada".to_owned())));
        for other in [Value::from(false), Value::from(12), Value::Null, serde_json::json!(["a"]), serde_json::json!({})]
        {
            assert!(Text::parse_from_json(Some(other.clone())).is_err(), "{other}");
        }
        assert!(Text::parse_from_json(None).is_err());
        assert_eq!(Text::schema_ref(), String::schema_ref());
    }
}
