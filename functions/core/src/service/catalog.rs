//! The problem catalog: problems listed, read, saved, imported and
//! deleted. A package is checked here and verified by a runner (in place on
//! one machine, as an import job on AWS, finished by the lifecycle).

use coderun_package::Package;
use coderun_protocol::JobResult;
use tracing::info;

use super::{Platform, MAX_PAGE};
use crate::archive;
use crate::domain::*;
use crate::error::{CoreError, PortError};
use crate::problems;
use crate::requests::*;

impl Platform {
    pub async fn list_problems(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Problem>, CoreError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(CoreError::invalid(
                "limit",
                format!("between 1 and {MAX_PAGE}"),
            ));
        }
        Ok(self.ports.problems.list_problems(cursor, limit).await?)
    }

    pub async fn get_problem(&self, id: &str) -> Result<Problem, CoreError> {
        self.ports
            .problems
            .get_problem(id)
            .await?
            .ok_or(CoreError::NotFound("problem"))
    }

    /// An image of a problem's statement (by file name) and its content
    /// type: only the files its record lists, from the version it shows.
    pub async fn statement_image(
        &self,
        id: &str,
        file: &str,
    ) -> Result<(Vec<u8>, &'static str), CoreError> {
        let problem = self.get_problem(id).await?;
        // By its name, or (LaTeX's `\includegraphics{graph}`) its stem.
        let name = |p: &&String| p.rsplit('/').next().unwrap_or_default().to_string();
        let path = problem
            .statement_images
            .iter()
            .find(|p| name(p) == file)
            .or_else(|| {
                let mut stem = problem
                    .statement_images
                    .iter()
                    .filter(|p| name(p).rsplit_once('.').is_some_and(|(s, _)| s == file));
                stem.next().filter(|_| stem.next().is_none())
            })
            .ok_or(CoreError::NotFound("statement image"))?;
        let kind = problems::image_type(path).ok_or(CoreError::NotFound("statement image"))?;
        let bytes = self
            .ports
            .blobs
            .get(&format!("{}/{path}", problem.package_prefix()))
            .await?
            .ok_or(CoreError::NotFound("statement image"))?;
        Ok((bytes, kind))
    }

    pub(super) fn require_setter(who: &Principal) -> Result<(), CoreError> {
        if !who.can_set() {
            return Err(CoreError::Forbidden(
                "managing problems needs the setter or admin role".into(),
            ));
        }
        Ok(())
    }

    /// `POST /problems` (`replace` = `None`) and `PUT /problems/{id}`.
    pub async fn save_problem(
        &self,
        who: &Principal,
        mut req: ProblemRequest,
        replace: Option<&str>,
    ) -> Result<Saved, CoreError> {
        Self::require_setter(who)?;
        if let Some(id) = replace {
            check_problem_id("id", id)?;
            if req.id.as_deref().is_some_and(|given| given != id) {
                return Err(CoreError::invalid("id", "differs from the id in the path"));
            }
            req.id = Some(id.to_string());
        }
        req.validate()?;
        let id = req
            .id
            .clone()
            .ok_or_else(|| CoreError::invalid("id", "is required"))?;
        let dir = tempfile::tempdir().map_err(CoreError::internal)?;
        problems::write_package(&req, dir.path()).map_err(CoreError::internal)?;
        self.register_package(who, dir.path(), Some(id), replace.is_some())
            .await
    }

    /// `POST /problems/import`: a zip or tar.gz package.
    pub async fn import_problem(
        &self,
        who: &Principal,
        bytes: Vec<u8>,
        id: Option<String>,
        replace: bool,
    ) -> Result<Saved, CoreError> {
        Self::require_setter(who)?;
        if let Some(id) = &id {
            check_problem_id("id", id)?;
        }
        let dir = tempfile::tempdir().map_err(CoreError::internal)?;
        let root = unpack_package(bytes, dir.path().to_path_buf()).await?;
        self.register_package(who, &root, id, replace).await
    }

    /// Verifies an unpacked package, stores it as a new version and its
    /// record. Nothing is stored unless it loads and verifies.
    async fn register_package(
        &self,
        who: &Principal,
        root: &std::path::Path,
        id: Option<String>,
        replace: bool,
    ) -> Result<Saved, CoreError> {
        let invalid =
            |e: coderun_package::PackageError| CoreError::invalid("package", e.to_string());
        let pkg = Package::load(root).map_err(invalid)?;
        let id = match id {
            Some(id) => id,
            None => {
                let from_dir = root.file_name().map(|n| n.to_string_lossy().into_owned());
                let slug = problems::slug(from_dir.as_deref().unwrap_or(&pkg.name));
                let slug = if slug.is_empty() {
                    problems::slug(&pkg.name)
                } else {
                    slug
                };
                check_problem_id("id", &slug).map_err(|_| {
                    CoreError::invalid("id", "cannot be derived from the package: pass ?id=")
                })?;
                slug
            }
        };
        let existing = self.ports.problems.get_problem(&id).await?;
        match (&existing, replace) {
            (Some(_), false) => {
                return Err(CoreError::Conflict(format!(
                    "problem {id:?} exists; PUT /problems/{id} (or import with ?replace=true) replaces it"
                )))
            }
            (None, true) => return Err(CoreError::NotFound("problem")),
            _ => {}
        }
        let Some(verifier) = self.ports.verifier.as_ref() else {
            return self
                .stage_import(who, root, id, existing)
                .await
                .map(|job| Saved::Verifying(Box::new(job)));
        };
        let report = verifier
            .verify(root)
            .await?
            .map_err(|m| CoreError::invalid("package", m))?;
        let problem = self
            .store_package(root, &id, &who.user, &report, existing, None)
            .await?;
        Ok(Saved::Problem(Box::new(problem)))
    }

    /// Stores a verified package as a new version, and its record. The
    /// record is written last, only if the problem is still at the version
    /// `existing` has.
    async fn store_package(
        &self,
        root: &std::path::Path,
        id: &str,
        author: &str,
        report: &serde_json::Value,
        existing: Option<Problem>,
        import_id: Option<&str>,
    ) -> Result<Problem, CoreError> {
        // Verification may have derived the time limit (`.timelimit`).
        let pkg = Package::load(root).map_err(|e| CoreError::invalid("package", e.to_string()))?;
        let version = existing.as_ref().map_or(1, |p| p.version + 1);
        let now = self.now();
        let mut problem = problems::record(&pkg, id, version, author, now)
            .map_err(|m| CoreError::invalid("package", m))?;
        problem.verify_report = Some(report.clone());
        problem.import_id = import_id.map(str::to_string);
        if let Some(old) = &existing {
            problem.created_at = old.created_at;
            problem.author = old.author.clone();
        }
        let prefix = problem.package_prefix();
        // As a tree (local runners read it in place) and as one archive
        // (remote runners fetch it by a presigned URL).
        self.ports.blobs.put_dir(&prefix, root).await?;
        let packed = pack(root).await?;
        self.ports
            .blobs
            .put(&format!("{prefix}.tar.gz"), packed)
            .await?;
        match self
            .ports
            .problems
            .put_problem(&problem, existing.as_ref().map(|p| p.version))
            .await
        {
            Ok(()) => {}
            Err(PortError::Conflict(_)) => {
                self.ports
                    .blobs
                    .delete_prefix(&format!("{prefix}/"))
                    .await
                    .ok();
                return Err(CoreError::Conflict(format!(
                    "problem {id:?} was changed meanwhile; try again"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        info!(problem = %id, version, "problem saved");
        Ok(problem)
    }

    /// Where the API cannot run a package's code (AWS), an import becomes a
    /// job: a runner verifies the staged package, and the results handler
    /// stores it ([`Platform::apply_result`]).
    async fn stage_import(
        &self,
        who: &Principal,
        root: &std::path::Path,
        id: String,
        existing: Option<Problem>,
    ) -> Result<Job, CoreError> {
        let mut job = self.new_job(JobKind::Import, who, PACKAGE_LANGUAGE);
        job.problem_id = Some(id);
        job.problem_version = existing.map(|p| p.version);
        job.expires_at = Some(job.created_at + self.settings.run_retention.as_millis() as i64);
        let packed = pack(root).await?;
        self.ports
            .blobs
            .put(&format!("{}.tar.gz", job.staged_package_prefix()), packed)
            .await?;
        Ok(self.accept(job, None, None, None).await?.0)
    }

    /// Ends an import job whose runner verified the package: stores the
    /// package if the report came, and says what became of it.
    pub(super) async fn finish_import(
        &self,
        job: &Job,
        result: &JobResult,
    ) -> Result<Imported, CoreError> {
        let rejected = |why: String| Imported {
            version: None,
            error: Some(why),
        };
        let Some(report) = &result.verify else {
            let why = result.error.clone();
            return Ok(rejected(
                why.unwrap_or_else(|| "the runner sent no report".into()),
            ));
        };
        let id = job.problem_id.clone().unwrap_or_default();
        let existing = self.ports.problems.get_problem(&id).await?;
        let expected = job.problem_version;
        if let Some(p) = &existing {
            // Stored before a crash, by this very import: done. (Its report
            // does not tell: another import of the same package may measure
            // the same times.)
            if p.import_id.as_deref() == Some(job.id.as_str()) {
                return Ok(Imported {
                    version: Some(p.version),
                    error: None,
                });
            }
        }
        if existing.as_ref().map(|p| p.version) != expected {
            return Ok(rejected(format!(
                "problem {id:?} was changed while the package was verified; import it again"
            )));
        }
        let key = format!("{}.tar.gz", job.staged_package_prefix());
        let bytes = self
            .ports
            .blobs
            .get(&key)
            .await?
            .ok_or_else(|| CoreError::internal("the staged package is gone"))?;
        let dir = tempfile::tempdir().map_err(CoreError::internal)?;
        let root = unpack_package(bytes, dir.path().to_path_buf()).await?;
        if report["time_limit_derived"] == serde_json::Value::Bool(true) {
            let t = report["time_limit_ms"]
                .as_u64()
                .ok_or_else(|| CoreError::internal("the report has no time limit"))?;
            Package::load(&root)
                .and_then(|p| p.remember_time_limit(t))
                .map_err(|e| CoreError::invalid("package", e.to_string()))?;
        }
        match self
            .store_package(&root, &id, &job.user, report, existing, Some(&job.id))
            .await
        {
            Ok(p) => Ok(Imported {
                version: Some(p.version),
                error: None,
            }),
            // The setter's to mend: said on the import, not retried.
            Err(
                e @ (CoreError::Invalid { .. }
                | CoreError::TooLarge { .. }
                | CoreError::Conflict(_)),
            ) => Ok(rejected(e.to_string())),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_problem(&self, who: &Principal, id: &str) -> Result<(), CoreError> {
        Self::require_setter(who)?;
        if !self.ports.problems.delete_problem(id).await? {
            return Err(CoreError::NotFound("problem"));
        }
        self.ports.blobs.delete_prefix(&problem_prefix(id)).await?;
        Ok(())
    }
}

/// What saving a problem came to.
#[derive(Debug)]
pub enum Saved {
    /// Verified in place and stored (the report is its `verify_report`).
    Problem(Box<Problem>),
    /// Handed to a runner to verify (`GET /imports/{id}` follows it).
    Verifying(Box<Job>),
}

/// What became of a verified import: the version stored, or why not.
pub(super) struct Imported {
    pub(super) version: Option<u64>,
    pub(super) error: Option<String>,
}

/// Packs a package directory as the tar.gz runners fetch.
async fn pack(root: &std::path::Path) -> Result<Vec<u8>, CoreError> {
    let dir = root.to_path_buf();
    tokio::task::spawn_blocking(move || archive::pack_tar_gz(&dir))
        .await
        .map_err(CoreError::internal)?
        .map_err(CoreError::internal)
}

/// Unpacks a zip or tar.gz package into `into` (with the archive module's
/// limits) and finds its root.
async fn unpack_package(
    bytes: Vec<u8>,
    into: std::path::PathBuf,
) -> Result<std::path::PathBuf, CoreError> {
    let format = archive::Format::sniff(&bytes).ok_or_else(|| {
        CoreError::invalid(
            "package",
            "is neither a zip nor a gzip-compressed tar archive",
        )
    })?;
    tokio::task::spawn_blocking(move || {
        archive::unpack(format, &bytes, &into)?;
        Ok::<_, archive::ArchiveError>(archive::package_root(&into))
    })
    .await
    .map_err(CoreError::internal)?
    .map_err(|e| match e {
        archive::ArchiveError::Io(e) => CoreError::internal(e),
        archive::ArchiveError::TooLarge | archive::ArchiveError::TooManyEntries => {
            CoreError::too_large("package", e.to_string())
        }
        e => CoreError::invalid("package", e.to_string()),
    })?
    .ok_or_else(|| {
        CoreError::invalid(
            "package",
            "no problem.yaml at the top or in a single top directory",
        )
    })
}
