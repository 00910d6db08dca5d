//! Recipe generation from sdist contents built in memory (the integration tests in
//! tests/recipe_new.rs use real sdists from the index).

use super::*;

fn release(project: &str, filename: &str, version: &str) -> SdistRelease {
    SdistRelease {
        project: project.into(),
        version: pep440_rs::Version::from_str(version).unwrap(),
        version_text: version.into(),
        filename: filename.into(),
        url: format!("http://127.0.0.1:9/{filename}"),
        sha256: "ab".repeat(32),
        requires_python: None,
        yanked: false,
        upload_time: None,
    }
}

fn options() -> GenerateOptions {
    GenerateOptions {
        targets: vec![
            TargetInterpreter {
                full_version: "3.13.5".into(),
            },
            TargetInterpreter {
                full_version: "3.14.7".into(),
            },
        ],
        names: NameMap::shipped(),
        available: BTreeSet::new(),
        generated_by: "test".into(),
        generated_at: jiff::Timestamp::from_second(1_764_000_000).unwrap(),
    }
}

fn sdist(files: &[(&str, &str)]) -> Sdist {
    let mut s = Sdist {
        filename: "x.tar.gz".into(),
        ..Default::default()
    };
    for (path, text) in files {
        s.files.push(path.to_string());
        s.texts.insert(path.to_string(), text.to_string());
    }
    s
}

fn req(text: &str) -> Requirement {
    Requirement::from_str(text).unwrap()
}

#[test]
fn conda_specs_from_pep440_specifiers() {
    assert_eq!(conda_spec("a", &req("A")).0, "a");
    assert_eq!(conda_spec("a", &req("A>=1.0,<2")).0, "a >=1.0,<2");
    assert_eq!(conda_spec("a", &req("A==1.2.*")).0, "a 1.2.*");
    assert_eq!(conda_spec("a", &req("A~=1.4.5")).0, "a >=1.4.5,1.4.*");
    assert_eq!(
        conda_spec("a", &req("A===1.0")),
        ("a".to_string(), Some("===1.0".to_string()))
    );
}

#[test]
fn pure_python_hatch_project_is_noarch_with_conditional_requirements() {
    let s = sdist(&[
        (
            "PKG-INFO",
            "Metadata-Version: 2.4\nName: demo-pkg\nVersion: 1.0\nSummary: A demo: with a colon\nLicense-Expression: MIT\nProject-URL: Homepage, https://example.org\nRequires-Python: >=3.9\nRequires-Dist: Typing_Extensions>=4.0; python_version < \"3.14\"\nRequires-Dist: tomli; python_version < \"3.11\"\nRequires-Dist: cffi>=1.0.1; python_version < \"3.14\"\nRequires-Dist: cffi>=2.0.0b1; python_version >= \"3.14\"\nRequires-Dist: idna>=2.5\nRequires-Dist: pytest; extra == \"test\"\nRequires-Dist: torch\n",
        ),
        (
            "pyproject.toml",
            "[build-system]\nrequires = [\"hatchling>=1.20\"]\nbuild-backend = \"hatchling.build\"\n",
        ),
        ("src/demo_pkg/__init__.py", ""),
        ("tests/test_x.py", ""),
        ("tests/data/fixture.c", ""),
    ]);
    let r = GeneratedRecipe::from_sdist(
        &s,
        &release("demo-pkg", "demo_pkg-1.0.tar.gz", "1.0"),
        &options(),
    )
    .unwrap();
    assert!(r.languages.is_empty(), "{:?}", r.languages);
    assert_eq!(r.imports, vec!["demo_pkg"]);
    assert_eq!(r.host[0].spec, "hatchling >=1.20");
    let run: Vec<&str> = r.run.iter().map(|d| d.spec.as_str()).collect();
    // One name with complementary markers: one entry per interpreter set.
    assert_eq!(
        run,
        [
            "typing-extensions >=4.0",
            "cffi >=1.0.1",
            "cffi >=2.0.0b1",
            "idna >=2.5",
            "pytorch"
        ]
    );
    assert_eq!(r.run[0].applies, Applies::Some(vec!["3.13".into()]));
    // A requirement that differs by interpreter makes it per interpreter.
    assert!(!r.noarch);
    assert_eq!(r.left_out.len(), 2, "{:?}", r.left_out);
    assert!(
        r.yaml.contains("then: typing-extensions >=4.0"),
        "{}",
        r.yaml
    );
    assert_eq!(
        r.source_url,
        "mirror://pypi/packages/source/d/demo-pkg/demo_pkg-${{ version }}.tar.gz"
    );
    assert!(!r.pip_check);

    let dir = tempfile::tempdir().unwrap();
    let path = r.write(&dir.path().join("demo-pkg"), false).unwrap();
    let recipe = crate::recipe::Recipe::load(&path).unwrap();
    let mut runs = Vec::new();
    for variant in recipe.variant_combinations() {
        let rendered = recipe.render(&variant).unwrap();
        let out = &rendered.outputs[0];
        assert_eq!(out.name, "demo-pkg");
        assert_eq!(out.about.summary.as_deref(), Some("A demo: with a colon"));
        runs.push((variant.describe(), out.requirements.run.clone()));
    }
    assert!(
        runs.iter()
            .any(|(v, run)| v.contains("3.13")
                && run.iter().any(|d| d.starts_with("typing-extensions"))),
        "{runs:?}"
    );
    assert!(
        runs.iter().any(|(v, run)| v.contains("3.14")
            && !run.iter().any(|d| d.starts_with("typing-extensions"))),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|(v, run)| v.contains("3.14") && run.iter().any(|d| d == "cffi >=2.0.0b1")),
        "{runs:?}"
    );
    assert!(matches!(
        r.write(&dir.path().join("demo-pkg"), false),
        Err(GenerateError::Exists { .. })
    ));
}

#[test]
fn legacy_setuptools_cython_project_is_compiled_and_skips_old_pythons() {
    let s = sdist(&[
        (
            "PKG-INFO",
            "Metadata-Version: 1.1\nName: fastthing\nVersion: 2.0\nRequires-Python: >=3.14\nLicense: BSD\n",
        ),
        ("setup.py", "from setuptools import setup\nsetup()\n"),
        ("fastthing.egg-info/top_level.txt", "fastthing\n"),
        ("fastthing.egg-info/requires.txt", "attrs\n[docs]\nsphinx\n"),
        ("fastthing/_speed.pyx", "# distutils: language = c++\n"),
        ("fastthing/__init__.py", ""),
    ]);
    let r = GeneratedRecipe::from_sdist(
        &s,
        &release("fastthing", "fastthing-2.0.tar.gz", "2.0"),
        &options(),
    )
    .unwrap();
    assert_eq!(r.languages, vec![Language::Cxx]);
    assert!(r.legacy_setuptools);
    let host: Vec<&str> = r.host.iter().map(|d| d.spec.as_str()).collect();
    assert_eq!(host, ["setuptools", "wheel"]);
    assert_eq!(r.run_source, RequirementsSource::RequiresTxt);
    assert_eq!(r.run[0].spec, "attrs");
    assert_eq!(r.skip_python, vec!["3.13"]);
    assert!(r.yaml.contains("${{ compiler('cxx') }}"), "{}", r.yaml);

    let dir = tempfile::tempdir().unwrap();
    let path = r.write(&dir.path().join("fastthing"), false).unwrap();
    let recipe = crate::recipe::Recipe::load(&path).unwrap();
    for variant in recipe.variant_combinations() {
        let rendered = recipe.render(&variant).unwrap();
        let skipped = rendered.outputs[0].skipped;
        assert_eq!(
            skipped,
            variant.describe().contains("3.13"),
            "{}",
            variant.describe()
        );
    }

    let mut too_new = s;
    too_new.texts.insert(
        "PKG-INFO".into(),
        "Metadata-Version: 2.1\nName: fastthing\nVersion: 2.0\nRequires-Python: >=3.15\n".into(),
    );
    let err = GeneratedRecipe::from_sdist(
        &too_new,
        &release("fastthing", "fastthing-2.0.tar.gz", "2.0"),
        &options(),
    )
    .unwrap_err();
    assert!(matches!(err, GenerateError::NoInterpreter { .. }), "{err}");
}

#[test]
fn meson_and_cmake_declare_their_languages() {
    let meson = "project(\n  'python-siphash24', 'c', 'cython',\n  license: 'Apache-2.0 or LGPL',\n  default_options: ['c_std=c11'],\n)\npy.extension_module(\n  'siphash24',\n  pyx,\n)\n";
    assert_eq!(
        meson_languages(meson).into_iter().collect::<Vec<_>>(),
        vec![Language::C]
    );
    assert_eq!(meson_extension_modules(meson), vec!["siphash24"]);
    assert_eq!(
        meson_languages("project('x', ['cpp', 'fortran'], version: '1')")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![Language::Cxx, Language::Fortran]
    );
    assert_eq!(
        cmake_languages("cmake_minimum_required(VERSION 3.15)\nproject(${SKBUILD_PROJECT_NAME} LANGUAGES C CXX)")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![Language::C, Language::Cxx]
    );
    assert_eq!(
        cmake_languages("project(foo VERSION 1.0 LANGUAGES CXX)")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![Language::Cxx]
    );
    assert_eq!(
        cmake_languages("project(foo)")
            .into_iter()
            .collect::<Vec<_>>(),
        vec![Language::C, Language::Cxx]
    );
    let s = sdist(&[
        ("PKG-INFO", "Metadata-Version: 2.1\nName: siphash24\nVersion: 1.9\n"),
        (
            "pyproject.toml",
            "[build-system]\nrequires = [\"meson-python>=0.18\", \"cython>=3.1\"]\nbuild-backend = \"mesonpy\"\n",
        ),
        ("meson.build", meson),
        ("siphash24.pyx.in", ""),
        ("test.py", ""),
    ]);
    let r = GeneratedRecipe::from_sdist(
        &s,
        &release("siphash24", "siphash24-1.9.tar.gz", "1.9"),
        &options(),
    )
    .unwrap();
    assert_eq!(r.languages, vec![Language::C]);
    assert!(!r.noarch);
    assert_eq!(r.imports, vec!["siphash24"]);
}

#[test]
fn a_project_mypyc_compiles_is_not_noarch() {
    // pytokens 0.4.1's layout: pure Python in the sdist, compiled by mypycify at build.
    let files = |setup: &'static str| {
        sdist(&[
            (
                "PKG-INFO",
                "Metadata-Version: 2.4\nName: pytokens\nVersion: 0.4.1\nSummary: A tokenizer\nLicense: MIT\n",
            ),
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"setuptools>=69\", \"wheel\", \"mypy\"]\nbuild-backend = \"setuptools.build_meta\"\n",
            ),
            ("setup.py", setup),
            ("src/pytokens/__init__.py", ""),
        ])
    };
    let generate = |s: &Sdist| {
        GeneratedRecipe::from_sdist(
            s,
            &release("pytokens", "pytokens-0.4.1.tar.gz", "0.4.1"),
            &options(),
        )
        .unwrap()
    };
    let r = generate(&files(
        "from mypyc.build import mypycify\nsetup(ext_modules=mypycify([\"src/pytokens/__init__.py\"]))\n",
    ));
    assert!(!r.noarch, "{}", r.yaml);
    assert_eq!(r.languages, [Language::C]);
    assert!(
        r.not_noarch_because[0].contains("mypyc"),
        "{:?}",
        r.not_noarch_because
    );
    assert!(r.yaml.contains("compiler('c')"), "{}", r.yaml);
    // mypy as a build requirement alone (type checking at build) compiles nothing.
    assert!(generate(&files("setup()\n")).noarch);
}
