//! Keys of rattler-build's v1 recipe format that ftforge parses but does not carry out
//! are refused here, each with its YAML location and what to do instead — a recipe
//! never means more than ftforge builds. docs/recipes.md lists the same keys.

use serde_json::Value;

use super::error::{RecipeError, SourceFile};
use super::render::Rendered;

/// One refused key: its dotted path below a section (`build`, a test, a source), the
/// values that are harmless (ftforge does exactly that), and the help shown.
struct Rule {
    path: &'static str,
    allowed: fn(&Value) -> bool,
    help: &'static str,
}

/// A value that asks for nothing: absent, null, false, or empty.
fn inert(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

const BUILD: &[Rule] = &[
    Rule {
        path: "files",
        allowed: inert,
        help: "ftforge packages every file an output's script adds to $PREFIX; give each output its own script to split files",
    },
    Rule {
        path: "always_copy_files",
        allowed: inert,
        help: "ftforge does not hard-link files on install differently per file; remove the key",
    },
    Rule {
        path: "always_include_files",
        allowed: inert,
        help: "ftforge packages only files the build adds; install the file from the build script instead",
    },
    Rule {
        path: "dynamic_linking.binary_relocation",
        allowed: |v| matches!(v, Value::Null | Value::Bool(true)),
        help: "ftforge always relocates: rpaths become $ORIGIN-relative and the prefix is replaced on install",
    },
    Rule {
        path: "dynamic_linking.rpath_allowlist",
        allowed: inert,
        help: "rpaths outside the prefix are dropped; use `dynamic_linking.rpaths` for directories inside it",
    },
    Rule {
        path: "dynamic_linking.overdepending_behavior",
        allowed: |v| matches!(v, Value::Null) || v.as_str() == Some("ignore"),
        help: "ftforge does not check for run requirements a package's files never load; remove the key",
    },
    Rule {
        path: "prefix_detection",
        allowed: inert,
        help: "ftforge detects the build prefix in every file (text and binary) and records it in paths.json; remove the key",
    },
    Rule {
        path: "merge_build_and_host_envs",
        allowed: |v| matches!(v, Value::Null | Value::Bool(true)),
        help: "ftforge always merges them: build requirements from the channel are installed into the host prefix, the machine's tools are found on PATH",
    },
    Rule {
        path: "python.skip_pyc_compilation",
        allowed: inert,
        help: "ftforge does not compile .pyc files into packages; remove the key",
    },
    Rule {
        path: "python.use_python_app_entrypoint",
        allowed: inert,
        help: "python.app entry points exist on macOS only; ftforge builds for linux",
    },
    Rule {
        path: "variant.ignore_keys",
        allowed: inert,
        help: "ftforge puts every variant key the recipe mentions into the hash; remove the key from variants.yaml instead",
    },
    Rule {
        path: "variant.down_prioritize_variant",
        allowed: inert,
        help: "use `extra.track_features` to make a solver prefer another build",
    },
    Rule {
        path: "script.interpreter",
        allowed: |v| v.is_null() || v.as_str() == Some("bash"),
        help: "build scripts run with bash",
    },
    Rule {
        path: "script.cwd",
        allowed: inert,
        help: "build scripts run in $SRC_DIR; `cd` in the script",
    },
    Rule {
        path: "script.secrets",
        allowed: inert,
        help: "pass what the build needs with `script.env`",
    },
];

const TEST: &[Rule] = &[
    Rule {
        path: "requirements",
        allowed: inert,
        help: "a test environment holds the package and its interpreter; install tools from the test script itself",
    },
    Rule {
        path: "files",
        allowed: inert,
        help: "tests run in the build's work directory; refer to $RECIPE_DIR from the script",
    },
    Rule {
        path: "package_contents",
        allowed: inert,
        help: "check files from a test script: `test -f $PREFIX/…`",
    },
    Rule {
        path: "downstream",
        allowed: inert,
        help: "build the downstream recipe in the same `ftforge build` run",
    },
    Rule {
        path: "python.python_version",
        allowed: inert,
        help: "python tests run on the interpreter of the variant being built",
    },
    Rule {
        path: "script.file",
        allowed: inert,
        help: "write the test's lines under `script:` (or `script.content`)",
    },
    Rule {
        path: "script.env",
        allowed: inert,
        help: "set variables in the test's lines (`export NAME=value`)",
    },
    Rule {
        path: "script.interpreter",
        allowed: |v| v.is_null() || v.as_str() == Some("bash"),
        help: "test scripts run with bash",
    },
    Rule {
        path: "script.cwd",
        allowed: inert,
        help: "`cd` in the test's lines",
    },
    Rule {
        path: "script.secrets",
        allowed: inert,
        help: "tests get no secrets",
    },
];

const SOURCE: &[Rule] = &[
    Rule {
        path: "md5",
        allowed: inert,
        help: "ftforge verifies downloads by `sha256` (required); replace `md5:` with it",
    },
    Rule {
        path: "use_gitignore",
        allowed: |v| matches!(v, Value::Null | Value::Bool(false)),
        help: "ftforge copies a `path:` source whole, .gitignore'd files included; write `use_gitignore: false` or remove the key",
    },
];

const TOP: &[Rule] = &[Rule {
    path: "schema_version",
    allowed: |v| v.is_null() || v.as_u64() == Some(1),
    help: "ftforge reads rattler-build's recipe format version 1",
}];

const OUTPUT: &[Rule] = &[Rule {
    path: "source",
    allowed: inert,
    help: "put every source at the top level (`source:`); outputs share the recipe's sources",
}];

/// Refuses every key of a rendered recipe that ftforge would not act on.
pub(crate) fn refuse_unsupported(file: &SourceFile, root: &Rendered) -> Result<(), RecipeError> {
    check(file, root, "", TOP)?;
    for (i, source) in root
        .get("source")
        .map(sources)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        check(file, source, &format!("source[{i}]."), SOURCE)?;
    }
    let mut sections = vec![(String::new(), root)];
    if let Some(outputs) = root.get("outputs") {
        for (i, output) in outputs.items().iter().enumerate() {
            check(file, output, &format!("outputs[{i}]."), OUTPUT)?;
            sections.push((format!("outputs[{i}]."), output));
        }
    }
    for (prefix, section) in sections {
        if let Some(build) = section.get("build") {
            check(file, build, &format!("{prefix}build."), BUILD)?;
            script_file_and_content(file, build, &format!("{prefix}build."))?;
        }
        if let Some(tests) = section.get("tests") {
            for (i, test) in tests.items().iter().enumerate() {
                check(file, test, &format!("{prefix}tests[{i}]."), TEST)?;
            }
        }
    }
    Ok(())
}

/// `source:` is one mapping or a list of them.
fn sources(node: &Rendered) -> Vec<&Rendered> {
    match node {
        Rendered::Seq(items, _) => items.iter().collect(),
        other => vec![other],
    }
}

fn check(
    file: &SourceFile,
    section: &Rendered,
    prefix: &str,
    rules: &[Rule],
) -> Result<(), RecipeError> {
    for rule in rules {
        let mut node = section;
        let mut found = None;
        let parts: Vec<&str> = rule.path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some((key_span, value)) = node.entry(part) else {
                break;
            };
            if i + 1 == parts.len() {
                found = Some((key_span, value));
            }
            node = value;
        }
        if let Some((span, value)) = found {
            if !(rule.allowed)(&value.to_json()) {
                return Err(file
                    .error(
                        Some(span),
                        format!("`{prefix}{}` is not supported by ftforge yet", rule.path),
                    )
                    .with_label("not carried out by ftforge")
                    .with_help(rule.help));
            }
        }
    }
    Ok(())
}

/// A build script given both as a file and as lines would run only the file.
fn script_file_and_content(
    file: &SourceFile,
    build: &Rendered,
    prefix: &str,
) -> Result<(), RecipeError> {
    let Some(script) = build.get("script") else {
        return Ok(());
    };
    if let (Some(_), Some((span, _))) = (script.get("file"), script.entry("content")) {
        return Err(file
            .error(
                Some(span),
                format!("`{prefix}script` has both `file` and `content`; only one can run"),
            )
            .with_help("keep `file:` (a script next to the recipe) or `content:` (its lines)"));
    }
    Ok(())
}
