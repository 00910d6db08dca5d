//! A job of the build graph: one recipe rendered once for one variant, with the
//! interpreter ABI it targets and the package names it produces and needs. Every later
//! stage (graph, key, build, judge, records) reads this instead of rendering again.

use ftforge_interpreter::PythonAbi;

use crate::recipe::{NoArch, Recipe, RecipeError, RenderedOutput, RenderedRecipe};
use crate::variants::Variant;

/// The variant key naming the interpreter a job builds against.
pub const PYTHON_KEY: &str = "python";
/// The variant key saying whether that interpreter is free-threaded.
pub const FREETHREADING_KEY: &str = "is_freethreading";
/// Outputs named so are interpreters: their tests gate publishing, they are not judged.
pub const INTERPRETER_PACKAGE: &str = "python";

/// One (recipe, variant) pair, rendered.
#[derive(Debug, Clone)]
pub struct Job<'r> {
    pub recipe: &'r Recipe,
    pub rendered: RenderedRecipe,
    /// The interpreter ABI of the variant, if it has a `python` key.
    pub abi: Option<PythonAbi>,
    /// A short human name: `python 3.14.7 cp314t`.
    pub name: String,
}

/// The interpreter ABI a variant builds for, if it has a `python` key.
pub fn variant_abi(variant: &Variant) -> Option<PythonAbi> {
    let spec = variant.get_str(PYTHON_KEY)?;
    PythonAbi::from_variant_spec(&spec, variant.is_true(FREETHREADING_KEY)).ok()
}

impl<'r> Job<'r> {
    /// Renders `recipe` for `variant` (the only place a job's recipe is rendered).
    pub fn new(recipe: &'r Recipe, variant: &Variant) -> Result<Self, RecipeError> {
        let rendered = recipe.render(variant)?;
        let abi = variant_abi(variant);
        let first = rendered
            .outputs
            .first()
            .map(|o| format!("{} {}", o.name, o.version))
            .unwrap_or_default();
        let name = match abi {
            Some(abi) => format!("{first} {abi}"),
            None => first,
        };
        Ok(Self {
            recipe,
            rendered,
            abi,
            name,
        })
    }

    pub fn variant(&self) -> &Variant {
        &self.rendered.variant
    }

    /// The outputs this variant builds (not skipped by the recipe).
    pub fn outputs(&self) -> impl Iterator<Item = &RenderedOutput> {
        self.rendered.outputs.iter().filter(|o| !o.skipped)
    }

    /// Every output is skipped for this variant.
    pub fn all_skipped(&self) -> bool {
        !self.rendered.outputs.is_empty() && self.rendered.outputs.iter().all(|o| o.skipped)
    }

    /// Package names the outputs produce.
    pub fn produces(&self) -> impl Iterator<Item = &str> {
        self.rendered.outputs.iter().map(|o| o.name.as_str())
    }

    /// Package names the outputs need (build, host and run requirements).
    pub fn needs(&self) -> Vec<String> {
        self.rendered
            .outputs
            .iter()
            .flat_map(|o| {
                o.requirements
                    .build
                    .iter()
                    .chain(&o.requirements.host)
                    .chain(&o.requirements.run)
            })
            .filter_map(|s| s.split_whitespace().next().map(String::from))
            .collect()
    }

    /// The package this job builds is one file for several variants of its recipe: a
    /// `noarch: python` package (every interpreter), or an abi3t package (every
    /// interpreter from 3.15 on). The first variant of the group builds it; the others
    /// judge that file on their own interpreter.
    pub fn shared_build(&self) -> Option<SharedBuild> {
        let outputs = || self.rendered.outputs.iter().filter(|o| !o.is_interpreter());
        outputs().next()?;
        if outputs().all(RenderedOutput::is_noarch_python) {
            Some(SharedBuild::NoarchPython)
        } else if outputs().all(|o| o.abi3t) {
            Some(SharedBuild::Abi3t)
        } else {
            None
        }
    }

    /// The job builds the interpreter itself.
    pub fn builds_interpreter(&self) -> bool {
        self.rendered.outputs.iter().any(|o| o.is_interpreter())
    }

    /// The first output that is judged (not the interpreter), for verdicts of a job
    /// that produced no package.
    pub fn judged_output(&self) -> Option<&RenderedOutput> {
        self.rendered.outputs.iter().find(|o| !o.is_interpreter())
    }
}

/// How one package serves several variants of a recipe ([`Job::shared_build`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SharedBuild {
    /// `noarch: python`: one file for every interpreter.
    NoarchPython,
    /// `python.version_independent` on 3.15+: one abi3t file for every 3.15+ interpreter.
    Abi3t,
}

impl SharedBuild {
    /// How the progress view says a later variant reused the file.
    pub fn describe(&self) -> &'static str {
        match self {
            SharedBuild::NoarchPython => "noarch",
            SharedBuild::Abi3t => "abi3t",
        }
    }
}

impl RenderedOutput {
    /// An interpreter package (its tests gate publishing; it gets no verdict).
    pub fn is_interpreter(&self) -> bool {
        self.name == INTERPRETER_PACKAGE
    }

    pub fn is_noarch_python(&self) -> bool {
        self.noarch == Some(NoArch::Python)
    }

    /// Its files are laid out and linked as `noarch: python` (`site-packages/…`, placed
    /// by the installer in the environment's site-packages): `noarch: python` packages,
    /// and abi3t packages, one platform file for lib/python3.15t and lib/python3.15 alike.
    pub fn links_as_noarch_python(&self) -> bool {
        self.is_noarch_python() || self.abi3t
    }
}
