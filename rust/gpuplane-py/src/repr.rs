//! The one `__repr__` of the binding's value classes: `Name(field=value, ...)`, each value
//! written as Python's `repr` writes it ([`PyRepr`]), so that a repr reads like the Python
//! expression that builds the value.

use std::collections::BTreeMap;

/// A value written the way Python's `repr` writes the Python value it converts to.
pub trait PyRepr {
    fn py_repr(&self) -> String;
}

/// `Name(field=value, ...)`: fields in the order added; optional ones only when set.
pub struct Repr {
    name: &'static str,
    fields: Vec<String>,
}

impl Repr {
    pub fn new(name: &'static str) -> Self {
        Repr {
            name,
            fields: Vec::new(),
        }
    }

    /// Adds `key=value`.
    pub fn field(mut self, key: &str, value: impl PyRepr) -> Self {
        self.fields.push(format!("{key}={}", value.py_repr()));
        self
    }

    /// Adds `key=value` only when `shown` (a field at its default is left out).
    pub fn field_if(self, shown: bool, key: &str, value: impl PyRepr) -> Self {
        if shown {
            self.field(key, value)
        } else {
            self
        }
    }

    pub fn finish(self) -> String {
        format!("{}({})", self.name, self.fields.join(", "))
    }
}

/// Text written as it is (a summary such as `<3 hashes>`, or another value's repr).
pub struct Raw(pub String);

/// A ratio shown to four decimals.
pub struct Ratio(pub f64);

/// Strings as Python writes a tuple of them.
pub struct Tuple<'a>(pub &'a [String]);

/// `{k: v, ...}` in the given order.
pub fn dict<K: PyRepr, V: PyRepr>(pairs: impl IntoIterator<Item = (K, V)>) -> Raw {
    let parts: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}: {}", k.py_repr(), v.py_repr()))
        .collect();
    Raw(format!("{{{}}}", parts.join(", ")))
}

impl PyRepr for Raw {
    fn py_repr(&self) -> String {
        self.0.clone()
    }
}

impl PyRepr for Ratio {
    fn py_repr(&self) -> String {
        format!("{:.4}", self.0)
    }
}

impl PyRepr for Tuple<'_> {
    fn py_repr(&self) -> String {
        match self.0 {
            [one] => format!("({},)", one.py_repr()),
            items => format!("({})", joined(items)),
        }
    }
}

impl<T: PyRepr + ?Sized> PyRepr for &T {
    fn py_repr(&self) -> String {
        (**self).py_repr()
    }
}

impl PyRepr for str {
    fn py_repr(&self) -> String {
        quoted(self)
    }
}

impl PyRepr for String {
    fn py_repr(&self) -> String {
        quoted(self)
    }
}

impl PyRepr for bool {
    fn py_repr(&self) -> String {
        if *self { "True" } else { "False" }.into()
    }
}

impl PyRepr for f64 {
    fn py_repr(&self) -> String {
        float(*self)
    }
}

macro_rules! int_repr {
    ($($t:ty),*) => {$(
        impl PyRepr for $t {
            fn py_repr(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
int_repr!(i32, i64, u32, u64, usize);

impl<T: PyRepr> PyRepr for Option<T> {
    fn py_repr(&self) -> String {
        self.as_ref().map_or("None".into(), T::py_repr)
    }
}

impl<T: PyRepr> PyRepr for [T] {
    fn py_repr(&self) -> String {
        format!("[{}]", joined(self))
    }
}

impl<T: PyRepr> PyRepr for Vec<T> {
    fn py_repr(&self) -> String {
        self.as_slice().py_repr()
    }
}

impl<K: PyRepr, V: PyRepr> PyRepr for BTreeMap<K, V> {
    fn py_repr(&self) -> String {
        dict(self.iter()).0
    }
}

fn joined<T: PyRepr>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(T::py_repr).collect();
    parts.join(", ")
}

/// A float as Python writes it: shortest round-trip digits (as Rust's), `nan`, and an
/// exponent with a sign and at least two digits (`1e-06`, `1e+16`).
fn float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    let text = format!("{v:?}");
    let Some((mantissa, exp)) = text.split_once('e') else {
        return text;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// A string quoted the way Python's `repr` quotes it.
fn quoted(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
