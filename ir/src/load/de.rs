//! serde deserialisation straight from a [`Node`] tree, so typed conversion
//! needs no intermediate JSON value.

use serde::de::value::{BorrowedStrDeserializer, Error, MapDeserializer, SeqDeserializer};
use serde::de::{Deserializer, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::node::{Node, NodeKind};

impl<'de> Deserializer<'de> for &'de Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_borrowed_str(s),
            NodeKind::Seq(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            NodeKind::Map(entries) => {
                let pairs = entries
                    .iter()
                    .map(|(key, _, value)| (BorrowedStrDeserializer::new(key.as_str()), value));
                let mut map = MapDeserializer::new(pairs);
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    /// A null is a missing optional value, as in JSON.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// A string names a unit variant; anything else goes through `deserialize_any`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.kind {
            NodeKind::Str(s) => {
                let variant: BorrowedStrDeserializer<'de, Error> = BorrowedStrDeserializer::new(s);
                variant.deserialize_enum(name, variants, visitor)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, Error> for &'de Node {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1 as core;
    use serde::Deserialize;

    use super::*;
    use crate::load::node::parse_documents;
    use crate::source::SourceFile;

    fn node(text: &str) -> Node {
        let file = Arc::new(SourceFile {
            name: "t.yaml".to_string(),
            text: text.to_string(),
        });
        let (mut docs, errors) = parse_documents(&file);
        assert!(errors.is_empty());
        docs.remove(0)
    }

    #[test]
    fn pod_deserialises_like_json() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {app: web}}\nspec:\n  containers: [{name: c, ports: [{containerPort: 80, name: http}]}]\n";
        let doc = node(text);
        let direct = core::Pod::deserialize(&doc).unwrap();
        let via_json: core::Pod = serde_json::from_value(doc.to_json()).unwrap();
        assert_eq!(direct, via_json);
    }

    #[test]
    fn null_is_none() {
        let doc = node("name: ~\n");
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta::deserialize(&doc);
        assert_eq!(meta.unwrap().name, None);
    }

    #[test]
    fn wrong_type_names_both_types() {
        let doc = node("containers: {a: b}\n");
        let error = core::PodSpec::deserialize(&doc).unwrap_err();
        assert_eq!(error.to_string(), "invalid type: map, expected a sequence");
    }

    #[test]
    fn unit_variant_from_string() {
        #[derive(Deserialize, Debug, PartialEq)]
        enum Mode {
            Fast,
        }
        let doc = node("Fast\n");
        assert_eq!(Mode::deserialize(&doc).unwrap(), Mode::Fast);
    }
}
