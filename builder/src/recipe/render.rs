//! Evaluating a recipe's YAML for one variant: `${{ expr }}` templates (minijinja with
//! rattler-build's delimiters and functions), `context:` variables in order, and
//! `if/then/else` list items — keeping every value's source span for error messages.

use std::collections::BTreeMap;

use marked_yaml::{Node, Span};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};

use super::error::{RecipeError, SourceFile};
use super::pin::{Pin, PinBound, PinFunction};

/// A rendered YAML value that still knows where it came from.
#[derive(Debug, Clone)]
pub enum Rendered {
    Null(Span),
    Scalar(serde_json::Value, Span),
    Seq(Vec<Rendered>, Span),
    Map(Vec<(String, Span, Rendered)>, Span),
}

impl Rendered {
    pub fn span(&self) -> &Span {
        match self {
            Rendered::Null(s)
            | Rendered::Scalar(_, s)
            | Rendered::Seq(_, s)
            | Rendered::Map(_, s) => s,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Rendered::Null(_) => serde_json::Value::Null,
            Rendered::Scalar(v, _) => v.clone(),
            Rendered::Seq(items, _) => items.iter().map(Rendered::to_json).collect(),
            Rendered::Map(entries, _) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Rendered> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The span of `key` itself and its value, in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Span, &Rendered)> {
        match self {
            Rendered::Map(entries, _) => entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, span, value)| (span, value)),
            _ => None,
        }
    }

    /// The item at `index` of a sequence.
    pub fn item(&self, index: usize) -> Option<&Rendered> {
        match self {
            Rendered::Seq(items, _) => items.get(index),
            _ => None,
        }
    }

    /// The items of a sequence (none for anything else).
    pub fn items(&self) -> &[Rendered] {
        match self {
            Rendered::Seq(items, _) => items,
            _ => &[],
        }
    }

    /// The span of the value at a serde path such as `outputs[0].build.number`, or of
    /// the deepest part of it that exists (an unknown key points at its map).
    pub fn span_at(&self, path: &serde_path_to_error::Path) -> Span {
        use serde_path_to_error::Segment;
        let mut node = self;
        for segment in path.iter() {
            let next = match (segment, node) {
                (Segment::Map { key }, Rendered::Map(entries, _)) => {
                    match entries.iter().find(|(k, _, _)| k == key) {
                        Some((_, key_span, value)) => {
                            if matches!(value, Rendered::Null(_)) {
                                return *key_span;
                            }
                            Some(value)
                        }
                        None => None,
                    }
                }
                (Segment::Seq { index }, Rendered::Seq(items, _)) => items.get(*index),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        *node.span()
    }
}

/// The template engine with rattler-build's syntax (`${{ }}`) and helper functions.
pub fn jinja_environment() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .block_delimiters("{%", "%}")
        .variable_delimiters("${{", "}}")
        .comment_delimiters("#{{", "}}#")
        .build()
        .expect("static jinja syntax is valid");
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // `compiler('c')` → `gcc_linux-64` (or the `c_compiler` variant's value, with
    // `c_compiler_version`), as rattler-build renders it; the toolchain module then
    // resolves that name to a package of the channel or a program of the machine.
    env.add_function("compiler", |state: &State, lang: String| {
        compiler_or_stdlib(state, &lang, "compiler")
    });
    env.add_function("stdlib", |state: &State, lang: String| {
        compiler_or_stdlib(state, &lang, "stdlib")
    });
    env.add_function("pin_subpackage", |name: String, kwargs: Kwargs| {
        pin_function(name, kwargs, true)
    });
    env.add_function("pin_compatible", |name: String, kwargs: Kwargs| {
        pin_function(name, kwargs, false)
    });
    env.add_function("cdt", |state: &State, name: String| {
        let lookup = |key: &str| {
            state
                .lookup(key)
                .filter(|v| !v.is_undefined() && !v.is_none())
                .map(|v| v.to_string())
        };
        let cdt_name = lookup("cdt_name").unwrap_or_else(|| "cos6".into());
        let cdt_arch = lookup("cdt_arch").unwrap_or_else(|| platform_arch(state));
        Ok::<_, Error>(match name.split_once(' ') {
            Some((pkg, rest)) => format!("{pkg}-{cdt_name}-{cdt_arch} {rest}"),
            None => format!("{name}-{cdt_name}-{cdt_arch}"),
        })
    });
    env.add_filter("version_to_buildstring", |version: String| {
        let version = version.split_whitespace().next().unwrap_or_default();
        version.split('.').take(2).collect::<Vec<_>>().concat()
    });
    env
}

/// The compilers rattler-build picks when the variant names none (linux): `c` → `gcc`,
/// `cxx` → `gxx`, `fortran` → `gfortran`, any other language its own name (`rust`).
pub fn default_compiler(lang: &str) -> &str {
    match lang {
        "c" => "gcc",
        "cxx" => "gxx",
        "fortran" => "gfortran",
        other => other,
    }
}

/// The C library rattler-build's conda-forge configuration names for linux (`c_stdlib:
/// sysroot`); other languages have no default.
pub fn default_stdlib(lang: &str) -> Option<&'static str> {
    (lang == "c").then_some("sysroot")
}

/// `{name}_{target_platform}` with the `{lang}_{kind}_version` variant value appended,
/// exactly as rattler-build renders `compiler()` and `stdlib()`.
fn compiler_or_stdlib(state: &State, lang: &str, kind: &str) -> Result<String, Error> {
    let lookup = |key: &str| {
        state
            .lookup(key)
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    };
    let platform = lookup("target_platform").unwrap_or_else(|| super::target_platform().into());
    let name = lookup(&format!("{lang}_{kind}")).or_else(|| match kind {
        "compiler" => Some(default_compiler(lang).to_string()),
        _ => default_stdlib(lang).map(String::from),
    });
    let Some(name) = name else {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("no {kind} is known for `{lang}`: add `{lang}_{kind}` to a variants file"),
        ));
    };
    Ok(match lookup(&format!("{lang}_{kind}_version")) {
        Some(v) if v.chars().all(|c| c.is_alphanumeric() || c == '.') => {
            format!("{name}_{platform} ={v}")
        }
        Some(v) => format!("{name}_{platform} {v}"),
        None => format!("{name}_{platform}"),
    })
}

fn platform_arch(state: &State) -> String {
    let platform = state
        .lookup("target_platform")
        .map(|v| v.to_string())
        .unwrap_or_else(|| super::target_platform().into());
    match platform.split_once('-').map(|(_, arch)| arch) {
        Some("64") | None => "x86_64".into(),
        Some("aarch64") => "aarch64".into(),
        Some("ppc64le") => "ppc64le".into(),
        Some(other) => other.into(),
    }
}

/// `pin_subpackage(name, exact=…, lower_bound=…, upper_bound=…, build=…)` and
/// `pin_compatible(…)`: checks the arguments as rattler-build does and returns the
/// pin in rattler-build's intermediate form, applied once versions are known.
fn pin_function(name: String, kwargs: Kwargs, subpackage: bool) -> Result<String, Error> {
    let invalid = |message: String| Error::new(ErrorKind::InvalidOperation, message);
    rattler_conda_types::PackageName::try_from(name.as_str())
        .map_err(|e| invalid(format!("`{name}` is not a package name: {e}")))?;
    for old in ["min_pin", "max_pin"] {
        if kwargs.has(old) {
            let new = if old == "min_pin" {
                "lower_bound"
            } else {
                "upper_bound"
            };
            return Err(invalid(format!(
                "`{old}` is not supported by the v1 recipe format: use `{new}`"
            )));
        }
    }
    let mut pin = Pin::new(name);
    if let Some(exact) = kwargs.get::<Option<bool>>("exact")? {
        pin.exact = exact;
        if exact
            && ["lower_bound", "upper_bound", "build"]
                .iter()
                .any(|k| kwargs.has(k))
        {
            return Err(invalid(
                "`exact=True` pins version and build: it takes no other argument".into(),
            ));
        }
    }
    let bound = |key: &str| -> Result<Option<Option<PinBound>>, Error> {
        if !kwargs.has(key) {
            return Ok(None);
        }
        let value = kwargs.get::<Option<String>>(key)?;
        value
            .map(|v| PinBound::try_from(v).map_err(|e| invalid(format!("`{key}`: {e}"))))
            .transpose()
            .map(Some)
    };
    if let Some(lower) = bound("lower_bound")? {
        pin.lower_bound = lower;
    }
    if let Some(upper) = bound("upper_bound")? {
        pin.upper_bound = upper;
    }
    pin.build = kwargs.get::<Option<String>>("build")?;
    kwargs.assert_all_used()?;
    let function = if subpackage {
        PinFunction::Subpackage(pin)
    } else {
        PinFunction::Compatible(pin)
    };
    Ok(function.render())
}

/// Renders nodes against a growing set of variables.
pub struct Renderer<'a> {
    pub env: &'a Environment<'static>,
    pub file: &'a SourceFile,
    pub vars: BTreeMap<String, Value>,
}

impl Renderer<'_> {
    fn context(&self) -> Value {
        Value::from(self.vars.clone())
    }

    fn jinja_error(&self, span: &Span, what: &str, err: minijinja::Error) -> RecipeError {
        let mut message = format!("cannot evaluate {what}: {}", err.kind());
        if let Some(detail) = err.detail() {
            message.push_str(&format!(": {detail}"));
        }
        let help = if err.kind() == ErrorKind::UndefinedError {
            let names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
            format!("variables available here: {}", names.join(", "))
        } else {
            "docs/recipes.md lists the functions, their arguments and the variables".into()
        };
        self.file.error(Some(span), message).with_help(help)
    }

    /// Renders a template string; a string without `${{` is returned as it is.
    pub fn render_str(&self, text: &str, span: &Span) -> Result<String, RecipeError> {
        if !text.contains("${{") {
            return Ok(text.to_string());
        }
        self.env
            .render_str(text, self.context())
            .map_err(|e| self.jinja_error(span, &format!("`{text}`"), e))
    }

    /// Evaluates an `if:` condition.
    pub fn condition(&self, expr: &str, span: &Span) -> Result<bool, RecipeError> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| self.jinja_error(span, &format!("the condition `{expr}`"), e))?;
        let value = compiled
            .eval(self.context())
            .map_err(|e| self.jinja_error(span, &format!("the condition `{expr}`"), e))?;
        Ok(value.is_true())
    }

    /// Renders `context:` in order, adding each variable for the ones after it.
    pub fn render_context(&mut self, node: &Node) -> Result<(), RecipeError> {
        let Some(map) = node.as_mapping() else {
            return Err(self.file.error(
                Some(node.span()),
                "`context` must be a mapping of names to values",
            ));
        };
        for (key, value) in map.iter() {
            let rendered = self.render(value)?;
            let json = rendered.to_json();
            self.vars
                .insert(key.as_str().to_string(), Value::from_serialize(&json));
        }
        Ok(())
    }

    pub fn render(&self, node: &Node) -> Result<Rendered, RecipeError> {
        match node {
            Node::Scalar(scalar) => {
                let span = *scalar.span();
                let text = scalar.as_str();
                if text.contains("${{") {
                    let out = self.render_str(text, &span)?;
                    Ok(Rendered::Scalar(coerce(&out), span))
                } else if scalar.may_coerce() {
                    if text.is_empty() || text == "~" || text == "null" {
                        Ok(Rendered::Null(span))
                    } else {
                        Ok(Rendered::Scalar(coerce(text), span))
                    }
                } else {
                    Ok(Rendered::Scalar(
                        serde_json::Value::String(text.to_string()),
                        span,
                    ))
                }
            }
            Node::Sequence(seq) => {
                let mut items = Vec::new();
                for item in seq.iter() {
                    self.render_item(item, &mut items)?;
                }
                Ok(Rendered::Seq(items, *seq.span()))
            }
            Node::Mapping(map) => {
                let mut entries = Vec::new();
                for (key, value) in map.iter() {
                    entries.push((key.as_str().to_string(), *key.span(), self.render(value)?));
                }
                Ok(Rendered::Map(entries, *map.span()))
            }
        }
    }

    /// A list item: plain, or `if: COND / then: … / else: …` spliced into the list.
    fn render_item(&self, item: &Node, out: &mut Vec<Rendered>) -> Result<(), RecipeError> {
        let Some(map) = item.as_mapping() else {
            out.push(self.render(item)?);
            return Ok(());
        };
        let Some(cond) = map.get_node("if") else {
            out.push(self.render(item)?);
            return Ok(());
        };
        for (key, _) in map.iter() {
            if !matches!(key.as_str(), "if" | "then" | "else") {
                return Err(self
                    .file
                    .error(
                        Some(key.span()),
                        format!("unexpected key `{}` in a conditional item", key.as_str()),
                    )
                    .with_help(
                        "a conditional list item has exactly `if:`, `then:` and optionally `else:`",
                    ));
            }
        }
        let cond_text = cond
            .as_scalar()
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| {
                self.file.error(
                    Some(cond.span()),
                    "`if:` must be an expression such as `linux` or `python == \"3.14\"`",
                )
            })?;
        let branch = if self.condition(&cond_text, cond.span())? {
            map.get_node("then").ok_or_else(|| {
                self.file
                    .error(Some(map.span()), "a conditional item needs `then:`")
            })?
        } else {
            match map.get_node("else") {
                Some(node) => node,
                None => return Ok(()),
            }
        };
        match branch {
            Node::Sequence(seq) => {
                for inner in seq.iter() {
                    self.render_item(inner, out)?;
                }
            }
            other => out.push(self.render(other)?),
        }
        Ok(())
    }
}

/// YAML's plain-scalar typing for the values recipes use: booleans and integers.
fn coerce(text: &str) -> serde_json::Value {
    match text {
        "true" | "True" => serde_json::Value::Bool(true),
        "false" | "False" => serde_json::Value::Bool(false),
        _ => match text.parse::<i64>() {
            // `+1` and `007` stay strings, as YAML 1.2's core schema has them.
            Ok(i) if !(text.starts_with('+') || text.len() > 1 && text.starts_with('0')) => {
                i.into()
            }
            _ => serde_json::Value::String(text.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coercion_keeps_versions_as_strings() {
        assert_eq!(coerce("0"), serde_json::json!(0));
        assert_eq!(coerce("100"), serde_json::json!(100));
        assert_eq!(coerce("true"), serde_json::json!(true));
        assert_eq!(coerce("3.14"), serde_json::json!("3.14"));
        assert_eq!(coerce("007"), serde_json::json!("007"));
    }
}
