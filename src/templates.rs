//! Jinja2 templates (cargo feature `templates`) through minijinja:
//! inheritance, includes, loops, filters; HTML autoescaping for `.html`,
//! `.htm` and `.xml`; compiled templates cached and, unless turned off,
//! reloaded when a file in the folder changes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use minijinja::{Environment, ErrorKind};

use crate::error::{Error, Result};

/// How often the folder is checked for changes while reloading is on.
const RESCAN: Duration = Duration::from_secs(1);

/// A template folder.
pub struct Templates {
    env: RwLock<Environment<'static>>,
    root: PathBuf,
    reload: bool,
    /// (last check, fingerprint then).
    scan: Mutex<(Option<Instant>, u64)>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("root", &self.root)
            .field("reload", &self.reload)
            .finish()
    }
}

/// A fingerprint of everything under `dir` (paths, sizes, modification
/// times; order-independent): any change (an edit, a file added or
/// deleted, a time set back by `cp -p`) changes it.
fn fingerprint(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut sum = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            }
            let mut h = std::collections::hash_map::DefaultHasher::new();
            e.path().hash(&mut h);
            meta.len().hash(&mut h);
            meta.modified().ok().hash(&mut h);
            sum = sum.wrapping_add(h.finish());
        }
    }
    sum
}

impl Templates {
    /// Templates from the folder `dir` (which must exist).
    pub fn new(dir: &str, reload: bool) -> Result<Self> {
        let root = std::fs::canonicalize(dir).map_err(|_| Error::NotFound(format!("no folder at {dir:?}").into()))?;
        if !root.is_dir() {
            return Err(Error::NotFound(format!("{dir:?} is not a folder").into()));
        }
        let mut env = Environment::new();
        let base = root.clone();
        // A name cannot leave the folder: no dot segments, no backslashes,
        // and the file found must resolve inside the folder.
        env.set_loader(move |name: &str| {
            if name.is_empty()
                || name
                    .split('/')
                    .any(|s| s.is_empty() || s.starts_with('.') || s.contains('\\'))
            {
                return Ok(None);
            }
            match std::fs::canonicalize(base.join(name)) {
                Ok(real) if real.starts_with(&base) && real.is_file() => {
                    std::fs::read_to_string(&real).map(Some).map_err(|e| {
                        minijinja::Error::new(ErrorKind::InvalidOperation, format!("cannot read {name}: {e}"))
                    })
                }
                _ => Ok(None),
            }
        });
        Ok(Templates {
            env: RwLock::new(env),
            root,
            reload,
            scan: Mutex::new((None, 0)),
        })
    }

    /// Drops compiled templates when a file changed (at most one check per
    /// second).
    fn maybe_reload(&self) {
        if !self.reload {
            return;
        }
        let mut scan = self.scan.lock().unwrap_or_else(|e| e.into_inner());
        if scan.0.is_some_and(|t| t.elapsed() < RESCAN) {
            return;
        }
        let now = fingerprint(&self.root);
        let changed = scan.0.is_some() && now != scan.1;
        *scan = (Some(Instant::now()), now);
        drop(scan);
        if changed {
            self.env.write().unwrap_or_else(|e| e.into_inner()).clear_templates();
        }
    }

    /// Renders `name` with `context`, a JSON object text (NULL: empty).
    pub fn render_json(&self, name: &str, context: Option<&str>) -> Result<String> {
        let ctx: serde_json::Value = match context {
            None => serde_json::Value::Object(Default::default()),
            Some(text) => crate::json::parse(text)?,
        };
        if !ctx.is_object() {
            return Err(Error::invalid("template context must be a JSON object"));
        }
        self.maybe_reload();
        let env = self.env.read().unwrap_or_else(|e| e.into_inner());
        let describe = |e: minijinja::Error| -> Error {
            let at = match (e.name(), e.line()) {
                (Some(n), Some(l)) => format!("{n}:{l}: "),
                (Some(n), None) => format!("{n}: "),
                _ => format!("{name}: "),
            };
            let detail = match (e.kind(), e.detail()) {
                (ErrorKind::TemplateNotFound, Some(d)) => format!("template not found: {d}"),
                (_, Some(d)) => d.to_owned(),
                (k, None) => k.to_string(),
            };
            Error::invalid(format!("template error: {at}{detail}"))
        };
        // Only the template asked for being missing is MR_ENOTFOUND; a
        // missing include or base is an error of the template (MR_EINVAL)
        // and the message names it.
        let tmpl = env.get_template(name).map_err(|e| {
            if e.kind() == ErrorKind::TemplateNotFound && e.name().is_none_or(|n| n == name) && e.line().is_none() {
                Error::NotFound(format!("template {name:?} not found").into())
            } else {
                describe(e)
            }
        })?;
        tmpl.render(minijinja::Value::from_serialize(&ctx)).map_err(describe)
    }
}

impl crate::server::shared::Render for Templates {
    fn render(&self, name: &str, context: Option<&str>) -> Result<String> {
        self.render_json(name, context)
    }
}
