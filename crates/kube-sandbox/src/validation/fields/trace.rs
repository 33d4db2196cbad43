//! What the k8s-openapi types read when they deserialize: a serde `Deserializer` that answers
//! each request with the smallest value the type accepts and records what was asked — a
//! struct's field names (from `deserialize_struct`), lists, maps, scalars — as [`Shape`]s.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Visitor,
    value::StrDeserializer,
};
use serde_json::Value;

use super::{Shape, shape_text};

#[derive(Debug)]
pub(super) struct TraceError(String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

fn json_error(e: serde_json::Error) -> TraceError {
    TraceError(e.to_string())
}

/// The types traced so far.
#[derive(Default)]
pub(super) struct Tracer {
    /// Type name → its fields, in the order the type lists them.
    types: BTreeMap<String, Vec<(String, Shape)>>,
    /// Type name → the field list it gave, to tell two types of one name apart.
    lists: HashMap<String, &'static [&'static str]>,
    /// Types being traced (a recursive type meets itself).
    open: Vec<&'static str>,
    /// (group, kind, type) of each traced root.
    roots: Vec<(String, String, String)>,
}

impl Tracer {
    /// Traces `T`, the type of `group`/`kind` objects.
    pub(super) fn root<T: for<'de> Deserialize<'de>>(
        &mut self,
        group: &str,
        kind: &str,
    ) -> Result<(), TraceError> {
        let mut shape = Shape::Scalar;
        T::deserialize(Probe {
            tracer: self,
            out: &mut shape,
        })?;
        let Shape::Type(ty) = shape else {
            return Err(TraceError(format!("{kind} is not a struct")));
        };
        self.roots.push((group.to_string(), kind.to_string(), ty));
        Ok(())
    }

    /// The table's text (the format of `fields.txt`).
    pub(super) fn render(&self) -> String {
        let mut out = String::from(
            "# The fields of the built-in kinds as the k8s-openapi 1.33 types read them.\n\
             # Generated: UPDATE_FIELD_TABLE=1 cargo test -p kube-sandbox table_is_what_k8s_openapi_reads\n",
        );
        for (group, kind, ty) in &self.roots {
            let group = if group.is_empty() { "core" } else { group };
            out.push_str(&format!("root {group} {kind} {ty}\n"));
        }
        for (name, fields) in &self.types {
            out.push_str(name);
            for (field, shape) in fields {
                out.push(' ');
                out.push_str(field);
                if let Some(text) = shape_text(shape) {
                    out.push(':');
                    out.push_str(&text);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Answers one value's requests and records its shape in `out`.
struct Probe<'a> {
    tracer: &'a mut Tracer,
    out: &'a mut Shape,
}

fn expecting<'de, V: Visitor<'de>>(visitor: &V) -> String {
    format!("{}", visitor as &dyn Expected)
}

macro_rules! scalars {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
                *self.out = Shape::Scalar;
                visitor.$visit($($value)?)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = TraceError;

    scalars! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i8(0),
        deserialize_i16 => visit_i16(0),
        deserialize_i32 => visit_i32(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u8(0),
        deserialize_u16 => visit_u16(0),
        deserialize_u32 => visit_u32(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f32(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('a'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let (shape, value) = match expecting(&visitor).as_str() {
            "IntOrString" | "Quantity" => (Shape::Scalar, Value::from(0)),
            "JSONSchemaPropsOrBool" => (Shape::OrBool, Value::Bool(true)),
            "JSONSchemaPropsOrArray" => (Shape::OrArray, Value::Array(Vec::new())),
            "JSONSchemaPropsOrStringArray" => (Shape::OrStrings, Value::Array(Vec::new())),
            "any valid JSON value" => (Shape::Any, Value::Null),
            other => return Err(TraceError(format!("deserialize_any asked for {other:?}"))),
        };
        *self.out = shape;
        value.deserialize_any(visitor).map_err(json_error)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let (shape, value) = match name {
            "Time" | "MicroTime" => (Shape::Scalar, Value::from("1970-01-01T00:00:00Z")),
            "Quantity" => (Shape::Scalar, Value::from("0")),
            "RawExtension" | "FieldsV1" | "JSON" => (Shape::Any, Value::Object(Default::default())),
            _ => return visitor.visit_newtype_struct(self),
        };
        *self.out = shape;
        visitor.visit_newtype_struct(value).map_err(json_error)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let mut item = Shape::Scalar;
        let value = visitor.visit_seq(One {
            tracer: &mut *self.tracer,
            out: &mut item,
            done: false,
        })?;
        *self.out = Shape::List(Box::new(item));
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let mut item = Shape::Scalar;
        let value = visitor.visit_map(One {
            tracer: &mut *self.tracer,
            out: &mut item,
            done: false,
        })?;
        *self.out = Shape::Map(Box::new(item));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Shape::Type(name.to_string());
        if let Some(seen) = self.tracer.lists.get(name)
            && *seen != fields
        {
            return Err(TraceError(format!("two types are named {name}")));
        }
        if self.tracer.open.contains(&name) {
            // A recursive type (a CRD schema's properties): its fields are being traced.
            return visitor.visit_map(Fields {
                tracer: self.tracer,
                fields: &[],
                next: 0,
                shapes: Vec::new(),
            });
        }
        self.tracer.lists.insert(name.to_string(), fields);
        self.tracer.open.push(name);
        let mut access = Fields {
            tracer: &mut *self.tracer,
            fields,
            next: 0,
            shapes: Vec::new(),
        };
        let value = visitor.visit_map(&mut access)?;
        let shapes = access.shapes;
        self.tracer.open.pop();
        if let Some(seen) = self.tracer.types.get(name)
            && *seen != shapes
        {
            return Err(TraceError(format!("{name} read two ways")));
        }
        self.tracer.types.insert(name.to_string(), shapes);
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError("tuples are not traced".into()))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("tuple struct {name} is not traced")))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, TraceError> {
        Err(TraceError(format!("enum {name} is not traced")))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError("identifiers come from the field list".into()))
    }
}

/// A list of one item, or a map of one entry (key `key`).
struct One<'a> {
    tracer: &'a mut Tracer,
    out: &'a mut Shape,
    done: bool,
}

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        seed.deserialize(Probe {
            tracer: &mut *self.tracer,
            out: &mut *self.out,
        })
        .map(Some)
    }
}

impl<'de> MapAccess<'de> for One<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        seed.deserialize(StrDeserializer::<TraceError>::new("key"))
            .map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, TraceError> {
        seed.deserialize(Probe {
            tracer: &mut *self.tracer,
            out: &mut *self.out,
        })
    }
}

/// A struct's fields, each once, in the order the type lists them. `apiVersion` and `kind` are
/// recorded as scalars and not fed (a resource's visitor checks them against its own).
struct Fields<'a> {
    tracer: &'a mut Tracer,
    fields: &'static [&'static str],
    next: usize,
    shapes: Vec<(String, Shape)>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        while let Some(field) = self.fields.get(self.next) {
            if matches!(*field, "apiVersion" | "kind") {
                self.shapes.push((field.to_string(), Shape::Scalar));
                self.next += 1;
                continue;
            }
            return seed
                .deserialize(StrDeserializer::<TraceError>::new(field))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, TraceError> {
        let field = self.fields[self.next];
        self.next += 1;
        let mut shape = Shape::Scalar;
        let value = seed.deserialize(Probe {
            tracer: &mut *self.tracer,
            out: &mut shape,
        })?;
        self.shapes.push((field.to_string(), shape));
        Ok(value)
    }
}
