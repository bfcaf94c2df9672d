//! The runner as a Fargate task of `template.yaml` starts it, in a real OCI
//! runtime (runc, as under ECS's containerd):
//!
//! * PID 1 of fresh pid, mount, network, ipc and uts namespaces, as root;
//! * capabilities derived from the template: Docker's default set minus the
//!   task definition's `Drop`, plus its `Add` (every task definition must
//!   say the same);
//! * a Docker-like seccomp profile: no new namespaces (Fargate forbids user
//!   namespaces), no mount; run once with Landlock and once with its
//!   system calls answering ENOSYS (Fargate's kernel is undocumented);
//! * a read-only root, `/tmp` the only writable volume, a 64 MiB
//!   `/dev/shm`. The root is the runner image's own where
//!   `CODERUN_RUNNER_ROOTFS` names it (`infra/runner-rootfs` builds it from
//!   the image's package list; `scripts/test` does), else the host's `/usr`
//!   and `/etc`, read-only;
//! * the manifest and result as presigned URLs in the environment, served
//!   by an S3 stand-in that checks each URL's signature and expiry, on
//!   127.0.0.1 of the task's own network namespace.
//!
//! Jobs: a hello in every language family, the judge of problems with
//! cheating submissions, and the hostile programs, each with its exact
//! verdict.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use runner_task::protocol::{
    Input, JobResult, JobState, JudgeResult, Manifest, ProblemRef, RunStatus, Verdict, Work,
};
use runner_task::sandbox::{Layer, Limits};
use serde_json::json;
use sha2::Sha256;

use crate::helpers::{bin, limits, problems_dir, scaled};

/// Docker's default capabilities (moby `oci/caps/defaults.go`), which a
/// Fargate container starts from.
const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The capabilities a runner container gets from `template.yaml`.
fn template_capabilities() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let list = |v: &serde_yaml::Value| -> Vec<String> {
        v.as_sequence()
            .map(|s| s.iter().map(|c| c.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut sets = Vec::new();
    for (name, res) in doc["Resources"].as_mapping().unwrap() {
        if res["Type"].as_str() != Some("AWS::ECS::TaskDefinition") {
            continue;
        }
        let container = &res["Properties"]["ContainerDefinitions"][0];
        assert_eq!(
            container["ReadonlyRootFilesystem"].as_bool(),
            Some(true),
            "{name:?}: the root must be read-only"
        );
        assert!(
            res["Properties"].get("TaskRoleArn").is_none(),
            "{name:?}: a runner holds no credentials"
        );
        let caps = &container["LinuxParameters"]["Capabilities"];
        let (drop, add) = (list(&caps["Drop"]), list(&caps["Add"]));
        let mut set: Vec<String> = DOCKER_DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect();
        for c in add {
            if !set.contains(&c) {
                set.push(c);
            }
        }
        set.sort();
        sets.push((name.as_str().unwrap_or_default().to_string(), set));
    }
    assert!(sets.len() >= 8, "runner task definitions: {sets:?}");
    for (name, set) in &sets {
        assert_eq!(set, &sets[0].1, "{name} differs from {}", sets[0].0);
    }
    sets.swap_remove(0).1
}

// ---- The S3 stand-in --------------------------------------------------

type Objects = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Objects behind presigned URLs: `/{key}?X-Expires=…&X-Signature=…`, the
/// signature an HMAC of the method, key and expiry. Anything else is 403.
struct Standin {
    port: u16,
    /// The network namespace it listens in (the task's).
    netns: String,
    secret: Vec<u8>,
    objects: Objects,
}

impl Standin {
    fn start() -> Standin {
        let secret: Vec<u8> = (0..32).map(|i| (i * 37 + 11) as u8).collect();
        let objects: Objects = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (key, store) = (secret.clone(), Arc::clone(&objects));
        std::thread::spawn(move || {
            // A network namespace of this thread's own, its loopback up:
            // the task's, which the container joins.
            // SAFETY: unshare of the network namespace affects this thread only.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            loopback_up();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            // SAFETY: gettid has no failure mode.
            let tid = unsafe { libc::gettid() };
            let ns = format!("/proc/{}/task/{tid}/ns/net", std::process::id());
            tx.send((listener.local_addr().unwrap().port(), ns))
                .unwrap();
            for conn in listener.incoming().flatten() {
                let (key, store) = (key.clone(), Arc::clone(&store));
                std::thread::spawn(move || serve(conn, &key, &store));
            }
        });
        let (port, netns) = rx.recv().unwrap();
        Standin {
            port,
            netns,
            secret,
            objects,
        }
    }

    fn put(&self, key: &str, body: Vec<u8>) {
        self.objects.lock().unwrap().insert(key.to_string(), body);
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }

    /// A presigned URL for `method` on `key`, valid for ten minutes.
    fn presign(&self, method: &str, key: &str) -> String {
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        format!(
            "http://127.0.0.1:{}/{key}?X-Expires={expires}&X-Signature={}",
            self.port,
            signature(&self.secret, method, key, expires)
        )
    }
}

fn signature(secret: &[u8], method: &str, key: &str, expires: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request, then the connection closes.
fn serve(conn: TcpStream, secret: &[u8], objects: &Objects) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut length = 0usize;
    let mut if_none_match = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            if k.eq_ignore_ascii_case("if-none-match") && v.trim() == "*" {
                if_none_match = true;
            }
        }
    }
    let mut body = vec![0u8; length.min(512 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, reply) = answer(&method, &target, body, if_none_match, secret, objects);
    let mut conn = reader.into_inner();
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = conn.write_all(&reply);
}

fn answer(
    method: &str,
    target: &str,
    body: Vec<u8>,
    if_none_match: bool,
    secret: &[u8],
    objects: &Objects,
) -> (&'static str, Vec<u8>) {
    let denied = (
        "403 Forbidden",
        b"<Error><Code>AccessDenied</Code></Error>".to_vec(),
    );
    let Some((path, query)) = target.split_once('?') else {
        return denied;
    };
    let key = path.trim_start_matches('/');
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let (Some(expires), Some(sig)) = (
        param("X-Expires").and_then(|e| e.parse::<u64>().ok()),
        param("X-Signature"),
    ) else {
        return denied;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if expires < now || signature(secret, method, key, expires) != sig {
        return denied;
    }
    match method {
        "GET" => match objects.lock().unwrap().get(key) {
            Some(b) => ("200 OK", b.clone()),
            None => ("404 Not Found", Vec::new()),
        },
        "PUT" => {
            // S3's conditional write: only while the key does not exist.
            let mut objects = objects.lock().unwrap();
            if if_none_match && objects.contains_key(key) {
                return ("412 Precondition Failed", Vec::new());
            }
            objects.insert(key.to_string(), body);
            ("200 OK", Vec::new())
        }
        _ => denied,
    }
}

/// Brings this thread's network namespace's loopback device up.
fn loopback_up() {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; 16],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: a datagram socket for the interface ioctls, closed below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    assert!(s >= 0);
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq.
    unsafe {
        assert_eq!(libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req), 0);
        req.flags |= libc::IFF_UP as libc::c_short;
        assert_eq!(libc::ioctl(s, libc::SIOCSIFFLAGS, &req), 0);
        libc::close(s);
    }
}

// ---- The task ------------------------------------------------------------

/// A runner task definition, played by runc.
struct Task {
    caps: Vec<String>,
    landlock: bool,
    standin: Standin,
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    state: PathBuf,
    /// The image's root file system, if built (else the host's, bound).
    image: Option<PathBuf>,
}

/// A task's container, running.
struct Running {
    child: std::process::Child,
    name: String,
    scratch: PathBuf,
}

/// One task at a time on this host (see [`Task::job`]).
fn one_task_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the image puts the runner, and so the task definition runs it.
const RUNNER_IN_IMAGE: &str = "/usr/local/bin/runner-task";

impl Task {
    fn new(landlock: bool) -> Task {
        let caps = template_capabilities();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let rootfs = bundle.join("rootfs");
        for d in ["usr", "etc", "proc", "dev", "sys", "tmp", "coderun"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        for l in ["bin", "lib", "lib64", "sbin"] {
            if Path::new("/usr").join(l).exists() {
                std::os::unix::fs::symlink(format!("usr/{l}"), rootfs.join(l)).unwrap();
            }
        }
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let image = std::env::var_os("CODERUN_RUNNER_ROOTFS").map(PathBuf::from);
        if let Some(root) = &image {
            assert!(
                root.join(".complete").exists(),
                "{}: not a root file system infra/runner-rootfs finished",
                root.display()
            );
        }
        Task {
            caps,
            landlock,
            standin: Standin::start(),
            bundle,
            state,
            _dir: dir,
            image,
        }
    }

    /// Runs one job in a fresh task; its result, as uploaded. One task at a
    /// time: each Fargate task has a kernel of its own, while these share
    /// the host's, and two runners leasing the same uids in two containers
    /// would end each other's programs.
    fn job(&self, manifest: &Manifest) -> JobResult {
        let _turn = one_task_at_a_time();
        let id = &manifest.job_id;
        let (mkey, rkey) = (
            format!("jobs/{id}/manifest.json"),
            format!("results/{id}/result.json"),
        );
        self.standin
            .put(&mkey, serde_json::to_vec(manifest).unwrap());
        // The dispatcher's container override of a task of one job.
        let running = self.start(
            id,
            "job",
            vec![
                format!("CODERUN_MANIFEST={}", self.standin.presign("GET", &mkey)),
                format!("CODERUN_RESULT={}", self.standin.presign("PUT", &rkey)),
            ],
        );
        let (status, stderr) = self.finish(running, Duration::from_secs(120));
        let result = self
            .standin
            .get(&rkey)
            .unwrap_or_else(|| panic!("{id}: no result uploaded (exit {status:?}): {stderr}"));
        assert!(status.success(), "{id}: runner exit {status:?}: {stderr}");
        serde_json::from_slice(&result).unwrap()
    }

    /// Starts the task's container running `runner-task … {subcommand}`
    /// with the task's environment and `env`.
    fn start(&self, id: &str, subcommand: &str, env: Vec<String>) -> Running {
        // The scratch volume: a fresh directory, world-writable as an
        // image's /tmp is.
        let scratch = self.bundle.join(format!("scratch-{id}"));
        std::fs::create_dir(&scratch).unwrap();
        std::fs::set_permissions(
            &scratch,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        let config = self.config(&scratch, subcommand, env);
        std::fs::write(self.bundle.join("config.json"), config.to_string()).unwrap();
        let name = format!("coderun-fargate-{}-{id}", std::process::id());
        let child = Command::new("runc")
            .arg("--root")
            .arg(&self.state)
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&name)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runc (Debian's package) runs the task");
        Running {
            child,
            name,
            scratch,
        }
    }

    /// Waits for the container to end (killed after `within`); its exit
    /// status and the runner's messages.
    fn finish(&self, mut r: Running, within: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + within;
        while r.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&self.state)
                    .args(["kill", &r.name, "KILL"])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = r.child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&r.scratch);
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn config(&self, scratch: &Path, subcommand: &str, env: Vec<String>) -> serde_json::Value {
        let caps: Vec<String> = self.caps.iter().map(|c| format!("CAP_{c}")).collect();
        let environment: Vec<String> = [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=ip-10-0-1-23.ec2.internal",
            "CODERUN_WORK_DIR=/tmp/coderun",
        ]
        .into_iter()
        .map(String::from)
        .chain(env)
        .collect();
        let ro = |dest: &str, src: &str| json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "ro", "nosuid", "nodev"]});
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
            json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        ];
        let (root, runner) = match &self.image {
            Some(image) => (image.display().to_string(), RUNNER_IN_IMAGE),
            None => {
                mounts.push(ro("/usr", "/usr"));
                mounts.push(ro("/etc", "/etc"));
                ("rootfs".to_string(), "/coderun/runner-task")
            }
        };
        mounts.push(json!({"destination": runner, "type": "bind", "source": bin(), "options": ["bind", "ro"]}));
        mounts.push(json!({"destination": "/tmp", "type": "bind", "source": scratch, "options": ["rbind", "rw", "nosuid", "nodev"]}));
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                // The dispatcher's container override (see functions/aws ecs.rs).
                "args": [runner, "--min-isolation", "restricted", subcommand],
                "env": environment,
                "cwd": "/",
                "capabilities": {
                    "bounding": caps, "effective": caps, "permitted": caps,
                    "inheritable": [], "ambient": []
                },
                "noNewPrivileges": false
            },
            "root": {"path": root, "readonly": true},
            "hostname": "ip-10-0-1-23",
            "mounts": mounts,
            "linux": {
                "namespaces": [
                    {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
                    {"type": "network", "path": self.standin.netns},
                ],
                "maskedPaths": [
                    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                    "/sys/firmware", "/sys/devices/virtual/powercap"
                ],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
                "seccomp": seccomp(self.landlock),
            }
        })
    }
}

/// Docker's default profile as far as the runner can tell: what it refuses
/// a container without CAP_SYS_ADMIN (new namespaces, mounts, keyrings,
/// BPF, …), clone3 as ENOSYS, and optionally Landlock as a kernel without
/// it would.
fn seccomp(landlock: bool) -> serde_json::Value {
    let eperm = [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "chroot",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "open_by_handle_at",
        "name_to_handle_at",
        "quotactl",
        "reboot",
        "swapon",
        "swapoff",
        "syslog",
        "acct",
        "settimeofday",
        "clock_settime",
        "vhangup",
        "lookup_dcookie",
        "userfaultfd",
        "fanotify_init",
    ];
    let mut rules = vec![
        json!({"names": eperm.to_vec(), "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM}),
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}),
    ];
    for flag in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ] {
        rules.push(json!({
            "names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM,
            "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]
        }));
    }
    if !landlock {
        rules.push(json!({
            "names": ["landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"],
            "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": rules
    })
}

// ---- Jobs ----------------------------------------------------------------

fn run_job(id: &str, language: &str, source: &str, limits: Limits, args: &[&str]) -> Manifest {
    Manifest {
        job_id: id.to_string(),
        language: language.to_string(),
        source: source.to_string(),
        files: Vec::new(),
        work: Work::Run {
            inputs: vec![Input {
                args: args.iter().map(|a| a.to_string()).collect(),
                ..Input::default()
            }],
            limits,
        },
    }
}

/// A problem package as a tar.gz at a presigned URL.
fn package_url(task: &Task, name: &str) -> String {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    tar.append_dir_all(name, problems_dir().join(name)).unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    let key = format!("problems/{name}.tar.gz");
    task.standin.put(&key, bytes);
    task.standin.presign("GET", &key)
}

/// Both variants: with Landlock, and with its calls refused (ENOSYS).
fn tasks() -> [Task; 2] {
    [Task::new(true), Task::new(false)]
}

fn variant(t: &Task) -> &'static str {
    if t.landlock {
        "with Landlock"
    } else {
        "without Landlock"
    }
}

#[test]
fn a_hello_in_every_language_family_runs_under_the_task_definition() {
    let hellos = [
        ("python3", "print('hi')"),
        ("c", "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}"),
        ("cpp", "#include <iostream>\nint main(){std::cout<<\"hi\\n\";}"),
        ("java", "public class Main { public static void main(String[] a) { System.out.println(\"hi\"); } }"),
        ("go", "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hi\") }"),
        ("rust", "fn main() { println!(\"hi\"); }"),
        ("javascript", "console.log('hi')"),
        ("csharp", "using System; class P { static void Main() { Console.WriteLine(\"hi\"); } }"),
    ];
    for task in tasks() {
        for (lang, src) in hellos {
            let r = task.job(&run_job(
                &format!("hello-{lang}"),
                lang,
                src,
                limits(5000, 256),
                &[],
            ));
            assert_eq!(
                r.state,
                JobState::Completed,
                "{} {lang}: {r:?}",
                variant(&task)
            );
            let run = &r.runs[0];
            assert_eq!(
                run.status,
                RunStatus::OK,
                "{} {lang}: {run:?}",
                variant(&task)
            );
            assert_eq!(run.stdout, "hi\n", "{} {lang}", variant(&task));
            let layers = &r.runner.as_ref().unwrap().isolation;
            for l in [
                Layer::UnprivilegedUid,
                Layer::Seccomp,
                Layer::NoNewPrivs,
                Layer::RunTotals,
            ] {
                assert!(
                    layers.contains(&l),
                    "{}: {l:?} missing: {layers:?}",
                    variant(&task)
                );
            }
            // Where the kernel has it and the task does not refuse it, it is
            // in force; refused, it is not counted on.
            let kernel_has = runner_task::sandbox::landlock::abi_version().is_some();
            assert_eq!(
                layers.contains(&Layer::Landlock),
                task.landlock && kernel_has,
                "{layers:?}"
            );
        }
    }
}

/// A Python submission judged in `task` against the example package
/// `problem`; the job must complete with a judgement.
fn judged(task: &Task, id: &str, source: &str, problem: &str) -> JudgeResult {
    let m = Manifest {
        job_id: id.into(),
        language: "python3".into(),
        source: source.into(),
        files: Vec::new(),
        work: Work::Judge {
            problem: ProblemRef::Url(package_url(task, problem)),
            time_limit_ms: Some(scaled(2000)),
        },
    };
    let r = task.job(&m);
    r.judge
        .unwrap_or_else(|| panic!("{} {id}: not judged: {:?}", variant(task), r.error))
}

#[test]
fn cheating_submissions_reach_no_answer() {
    // Reads the answer file beside its input, found through its stdin.
    let peek = r#"
import os
p = os.readlink('/proc/self/fd/0')
try:
    print(open(p[:-3] + '.ans').read())
except OSError as e:
    print('blocked', e.errno)
"#;
    // Interactive: finds the validator's arguments (the input holds the
    // secret number), guesses it, and writes the validator's feedback.
    let spy = r#"
import os, sys
secret = None
for pid in os.listdir('/proc'):
    try:
        args = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\0')
    except OSError:
        continue
    for i, a in enumerate(args):
        if a.endswith(b'/input') or a.endswith(b'.in'):
            try:
                secret = int(open(a).read())
            except (OSError, ValueError) as e:
                print('blocked', a, e, file=sys.stderr)
        if a.endswith(b'/feedback/'):
            for name in ('judgemessage.txt', 'score.txt'):
                try:
                    open(a + name.encode(), 'w').write('CHEAT')
                except OSError as e:
                    print('blocked', a, e, file=sys.stderr)
print(secret if secret is not None else 0, flush=True)
sys.stdin.readline()
"#;
    for task in tasks() {
        let v = variant(&task);
        let judge = judged(&task, "peek", peek, "sum");
        assert_eq!(judge.verdict, Verdict::WA, "{v}: {judge:?}");
        let judge = judged(&task, "spy", spy, "guess");
        assert_eq!(judge.verdict, Verdict::WA, "{v}: {judge:?}");
        for t in &judge.tests {
            assert!(
                !t.message.as_deref().unwrap_or("").contains("CHEAT"),
                "{v}: {t:?}"
            );
        }
    }
}

/// A hostile program and the verdict it must get.
struct Case {
    name: &'static str,
    lang: &'static str,
    src: &'static str,
    limits: Limits,
    status: RunStatus,
    /// The status where Landlock is in force, if it differs (it refuses
    /// the file outright).
    with_landlock: Option<RunStatus>,
    /// What the program must print (exactly), if it says.
    stdout: Option<&'static str>,
}

fn hostile_cases() -> Vec<Case> {
    let small = |time_ms, memory_mb, file_mb: u64| Limits {
        time_ms: scaled(time_ms),
        memory_mb,
        processes: 32,
        file_size_bytes: file_mb << 20,
        ..Limits::default()
    };
    vec![
        Case {
            name: "fork-bomb",
            lang: "c",
            src: "#include <unistd.h>\nint main(void){for(;;)fork();}",
            limits: small(500, 64, 16),
            status: RunStatus::TLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            name: "memory-bomb",
            lang: "c",
            src: "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20);if(!p)abort();memset(p,1,1<<20);}}",
            limits: small(2000, 64, 16),
            status: RunStatus::MLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            // Eight processes of 24 MiB each under a 64 MiB limit: each
            // within any per-process cap, together three times the limit.
            name: "memory-across-processes",
            lang: "c",
            src: "#include <stdlib.h>\n#include <unistd.h>\nint main(void){for(int i=0;i<7;i++)if(fork()==0)break;volatile char*p=malloc(24<<20);for(int i=0;i<(24<<20);i+=4096)p[i]=1;sleep(10);return 0;}",
            limits: small(3000, 64, 16),
            status: RunStatus::MLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            name: "disk-fill",
            lang: "c",
            src: "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void){char p[512];snprintf(p,sizeof p,\"%s/fill\",getenv(\"TMPDIR\"));FILE*f=fopen(p,\"w\");static char b[1<<16];memset(b,'x',sizeof b);for(;;)fwrite(b,1,sizeof b,f);}",
            limits: small(5000, 64, 8),
            status: RunStatus::OLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            // Many files, each under the per-file cap: 12 of 4 MiB against
            // a 16 MiB scratch.
            name: "many-scratch-files",
            lang: "c",
            src: "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){static char b[1<<20];memset(b,'x',sizeof b);for(int i=0;i<12;i++){char p[512];snprintf(p,sizeof p,\"%s/f%d\",getenv(\"TMPDIR\"),i);FILE*f=fopen(p,\"w\");if(!f)return 2;for(int k=0;k<4;k++)fwrite(b,1,sizeof b,f);fclose(f);}sleep(5);return 0;}",
            limits: small(5000, 64, 16),
            status: RunStatus::OLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            // Deleted files still hold their blocks while open.
            name: "deleted-open-files",
            lang: "c",
            src: "#include <fcntl.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){static char b[1<<20];memset(b,'x',sizeof b);for(int i=0;i<12;i++){char p[512];snprintf(p,sizeof p,\"%s/d%d\",getenv(\"TMPDIR\"),i);int fd=open(p,O_CREAT|O_WRONLY,0600);unlink(p);for(int k=0;k<4;k++)write(fd,b,sizeof b);}sleep(5);return 0;}",
            limits: small(5000, 64, 16),
            status: RunStatus::OLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            name: "dev-shm-fill",
            lang: "c",
            src: "#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){static char b[1<<20];memset(b,'x',sizeof b);for(int i=0;i<12;i++){char p[64];snprintf(p,sizeof p,\"/dev/shm/f%d\",i);FILE*f=fopen(p,\"w\");if(!f)return 2;for(int k=0;k<4;k++)fwrite(b,1,sizeof b,f);fclose(f);}sleep(5);return 0;}",
            limits: small(5000, 64, 16),
            status: RunStatus::OLE,
            with_landlock: Some(RunStatus::RE),
            stdout: None,
        },
        Case {
            name: "tmp-fill",
            lang: "c",
            src: "#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){static char b[1<<20];memset(b,'x',sizeof b);for(int i=0;i<12;i++){char p[64];snprintf(p,sizeof p,\"/tmp/f%d\",i);FILE*f=fopen(p,\"w\");if(!f)return 2;for(int k=0;k<4;k++)fwrite(b,1,sizeof b,f);fclose(f);}sleep(5);return 0;}",
            limits: small(5000, 64, 16),
            status: RunStatus::OLE,
            with_landlock: Some(RunStatus::RE),
            stdout: None,
        },
        Case {
            name: "output-flood",
            lang: "c",
            src: "#include <stdio.h>\nint main(void){for(;;)puts(\"flood flood flood\");}",
            limits: Limits {
                output_bytes: 1 << 20,
                ..small(2000, 64, 16)
            },
            status: RunStatus::OLE,
            with_landlock: None,
            stdout: None,
        },
        Case {
            // Every family; the stand-in on 127.0.0.1 is the target.
            name: "sockets",
            lang: "c",
            src: "#include <stdio.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n#include <unistd.h>\nint main(void){int fams[]={AF_INET,AF_INET6,AF_NETLINK,AF_PACKET,AF_VSOCK,AF_ALG,AF_BLUETOOTH,AF_CAN,AF_XDP};for(int i=0;i<9;i++){for(int t=1;t<=3;t++){int s=socket(fams[i],t,0);if(s>=0){printf(\"socket %d/%d\\n\",fams[i],t);close(s);}}}puts(\"done\");return 0;}",
            limits: small(2000, 64, 16),
            status: RunStatus::OK,
            with_landlock: None,
            stdout: Some("done\n"),
        },
        Case {
            // The runner's environment (presigned URLs), its files, the
            // judge's: nothing readable but the uid leases' empty locks.
            name: "snoop",
            lang: "python3",
            src: "import os\nfound = []\nfor k in os.environ:\n    if 'CODERUN' in k or 'AWS' in k: found.append(k)\nfor pid in os.listdir('/proc'):\n    if not pid.isdigit(): continue\n    for f in ('environ', 'fd', 'root/tmp/coderun', 'cwd'):\n        try:\n            p = '/proc/%s/%s' % (pid, f)\n            data = os.listdir(p) if f != 'environ' else open(p, 'rb').read()\n            if data and pid != str(os.getpid()) and f != 'fd': found.append(p)\n        except OSError: pass\nfor d in ('/tmp/coderun', '/tmp/coderun/boxes'):\n    try:\n        found.extend(os.listdir(d) and [d])\n    except OSError: pass\nfor top, dirs, files in os.walk('/tmp'):\n    for f in files:\n        p = os.path.join(top, f)\n        try:\n            open(p, 'rb').read(1)\n            if not top.startswith('/tmp/coderun-uids'): found.append(p)\n        except OSError: pass\nprint('found', found)\n",
            limits: small(2000, 64, 16),
            status: RunStatus::OK,
            with_landlock: None,
            stdout: Some("found []\n"),
        },
        Case {
            name: "ptrace",
            lang: "c",
            src: "#include <stdio.h>\n#include <sys/ptrace.h>\n#include <unistd.h>\nint main(void){for(int pid=1;pid<64;pid++){if(pid==getpid())continue;if(ptrace(PTRACE_ATTACH,pid,0,0)==0)printf(\"attached %d\\n\",pid);}if(ptrace(PTRACE_TRACEME,0,0,0)==0)puts(\"traceme\");puts(\"done\");return 0;}",
            limits: small(2000, 64, 16),
            status: RunStatus::OK,
            with_landlock: None,
            stdout: Some("done\n"),
        },
        Case {
            name: "kill-the-runner",
            lang: "c",
            src: "#include <signal.h>\n#include <stdio.h>\n#include <unistd.h>\nint main(void){kill(getppid(),SIGKILL);kill(-1,SIGKILL);kill(1,SIGKILL);puts(\"alive\");return 0;}",
            limits: small(2000, 64, 16),
            status: RunStatus::OK,
            with_landlock: None,
            stdout: Some("alive\n"),
        },
        Case {
            name: "orphans",
            lang: "c",
            src: "#include <unistd.h>\nint main(void){if(fork()==0){setsid();if(fork()==0){sleep(1000);}sleep(1000);}return 0;}",
            limits: small(2000, 64, 16),
            status: RunStatus::OK,
            with_landlock: None,
            stdout: None,
        },
        Case {
            name: "sysv-shm",
            lang: "c",
            src: "#include <stdio.h>\n#include <sys/ipc.h>\n#include <sys/shm.h>\nint main(void){int id=shmget(IPC_PRIVATE,32<<20,IPC_CREAT|0600);printf(\"%s\\n\",id<0?\"refused\":\"made\");return 0;}",
            limits: small(2000, 64, 16),
            status: RunStatus::OK,
            with_landlock: None,
            stdout: Some("refused\n"),
        },
    ]
}

#[test]
fn hostile_programs_get_their_verdicts_under_the_task_definition() {
    for task in tasks() {
        for c in hostile_cases() {
            let r = task.job(&run_job(c.name, c.lang, c.src, c.limits, &[]));
            let v = variant(&task);
            assert_eq!(r.state, JobState::Completed, "{v} {}: {r:?}", c.name);
            let run = &r.runs[0];
            let status = match c.with_landlock {
                Some(s) if run.isolation.contains(&Layer::Landlock) => s,
                _ => c.status,
            };
            assert_eq!(run.status, status, "{v} {}: {run:?}", c.name);
            if let Some(out) = c.stdout {
                assert_eq!(run.stdout, out, "{v} {}: {run:?}", c.name);
            }
            assert!(run.wall_ms < scaled(8000), "{v} {}: {run:?}", c.name);
        }
    }
}

#[test]
fn a_run_leaves_nothing_for_the_next_in_the_same_task() {
    // Each input looks for what the one before planted, then plants its
    // own: files wherever it may write, and a process that outlives it.
    let src = r#"import os, subprocess
found = []
for d in (os.environ['TMPDIR'], '/tmp', '/dev/shm', '/var/tmp'):
    p = os.path.join(d, 'coderun-leak')
    if os.path.exists(p):
        found.append(d)
    try:
        open(p, 'w').write('secret')
    except OSError:
        pass
if os.fork() == 0:
    os.setsid()
    os.execvp('sleep', ['sleep', '100'])
print('found', found)
"#;
    for task in tasks() {
        let m = Manifest {
            job_id: "leaks".into(),
            language: "python3".into(),
            source: src.into(),
            files: Vec::new(),
            work: Work::Run {
                inputs: vec![Input::default(), Input::default(), Input::default()],
                limits: limits(2000, 128),
            },
        };
        let r = task.job(&m);
        assert_eq!(r.runs.len(), 3, "{}: {r:?}", variant(&task));
        for run in &r.runs {
            assert_eq!(run.status, RunStatus::OK, "{}: {run:?}", variant(&task));
            assert_eq!(run.stdout, "found []\n", "{}: {run:?}", variant(&task));
        }
    }
}

/// A mail handing `id` (a run of `source`) to the runner, naming mailbox
/// `next` of runner `r` as where to wait afterwards.
fn post_job(s: &Standin, r: &str, at: u64, id: &str, source: &str, idle_seconds: u64) {
    use runner_task::protocol::mailbox::{Assignment, Mail, Mailbox};
    let m = run_job(id, "python3", source, limits(2000, 128), &[]);
    let mkey = format!("jobs/{id}/manifest.json");
    s.put(&mkey, serde_json::to_vec(&m).unwrap());
    let next = format!("runners/{r}/{}.mail", at + 1);
    let mail = Mail::Job {
        job: Assignment {
            job_id: id.into(),
            manifest: s.presign("GET", &mkey),
            result: s.presign("PUT", &format!("results/{id}/result.json")),
            taken: s.presign("PUT", &format!("runners/{r}/{at}.taken")),
            live: vec![[
                s.presign("PUT", &format!("results/{id}/live/0.stdout")),
                s.presign("PUT", &format!("results/{id}/live/0.stderr")),
            ]],
        },
        next: Mailbox {
            get: s.presign("GET", &next),
            put: s.presign("PUT", &next),
        },
        idle_seconds,
    };
    s.put(
        &format!("runners/{r}/{at}.mail"),
        serde_json::to_vec(&mail).unwrap(),
    );
}

/// Waits for job `id`'s result in the stand-in, while the task runs.
fn result_of(task: &Task, running: &mut Option<Running>, id: &str) -> JobResult {
    let deadline = Instant::now() + Duration::from_secs(scaled(60_000) / 1000);
    loop {
        if let Some(b) = task.standin.get(&format!("results/{id}/result.json")) {
            return serde_json::from_slice(&b).unwrap();
        }
        let ended = running
            .as_mut()
            .unwrap()
            .child
            .try_wait()
            .unwrap()
            .is_some();
        if ended || Instant::now() > deadline {
            let (status, stderr) = task.finish(running.take().unwrap(), Duration::ZERO);
            panic!("{id}: no result; the runner ended {status:?}: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_warm_task_serves_its_mailbox_and_leaves_nothing_between_jobs() {
    // The first job plants what it can: files wherever it may write, a
    // filled /dev/shm, a process in its own session, a variable; the next
    // job on the same runner looks for all of it.
    let hostile = r#"import os, subprocess
left = []
for p in ('/tmp/left', '/var/tmp/left', '/dev/shm/left', os.environ.get('TMPDIR', '/tmp') + '/left'):
    try:
        open(p, 'w').write('secret of the last job')
        left.append(p)
    except OSError:
        pass
try:
    open('/dev/shm/fill', 'wb').write(b'\0' * (16 << 20))
    left.append('/dev/shm/fill')
except OSError:
    pass
subprocess.Popen(['python3', '-c', 'import time; time.sleep(600)  # hostile-marker'],
                 start_new_session=True)
os.environ['LEFT'] = '1'
print('left', len(left))
"#;
    let probe = r#"import os
found = [p for p in ('/tmp/left', '/var/tmp/left', '/dev/shm/left', '/dev/shm/fill')
         if os.path.lexists(p)]
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if b'hostile-marker' in open('/proc/%s/cmdline' % pid, 'rb').read():
            found.append('process ' + pid)
    except OSError:
        pass
found += [k for k in os.environ if k.startswith(('CODERUN', 'LEFT', 'AWS'))]
st = os.statvfs('/dev/shm')
if st.f_bfree * st.f_frsize < (60 << 20):
    found.append('/dev/shm is not empty')
print(' '.join(found) or 'clean')
"#;
    for task in tasks() {
        let _turn = one_task_at_a_time();
        let v = variant(&task).replace(' ', "-");
        let s = &task.standin;
        let r = format!("runner-{v}");
        post_job(s, &r, 0, &format!("hostile-{v}"), hostile, 30);
        let first = format!("runners/{r}/0.mail");
        let mut running = Some(task.start(
            &r,
            "mailbox",
            vec![
                format!("CODERUN_MAILBOX={}", s.presign("GET", &first)),
                format!("CODERUN_MAILBOX_PUT={}", s.presign("PUT", &first)),
                "CODERUN_IDLE_SECONDS=30".into(),
                format!("CODERUN_RUNNER={r}"),
            ],
        ));
        let h = result_of(&task, &mut running, &format!("hostile-{v}"));
        assert_eq!(h.runs[0].status, RunStatus::OK, "{v}: {h:?}");
        // Without Landlock its files are really there (in /tmp and
        // /dev/shm), for the runner to remove.
        let planted: usize = h.runs[0].stdout.trim()["left ".len()..].parse().unwrap();
        if !h.runs[0].isolation.contains(&Layer::Landlock) {
            assert!(planted >= 3, "{v}: {h:?}");
        }
        assert!(s.get(&format!("runners/{r}/0.taken")).is_some(), "{v}");
        // Its live output reached its URL as it ran.
        assert!(
            s.get(&format!("results/hostile-{v}/live/0.stdout"))
                .is_some(),
            "{v}"
        );

        // The next job, at the mailbox the first named; then a short idle
        // window, after which the runner retires and ends.
        post_job(s, &r, 1, &format!("probe-{v}"), probe, 1);
        let p = result_of(&task, &mut running, &format!("probe-{v}"));
        assert_eq!(p.runs[0].stdout, "clean\n", "{v}: {p:?}");
        let (status, stderr) = task.finish(running.unwrap(), Duration::from_secs(60));
        assert!(status.success(), "{v}: {status:?} {stderr}");
        let retired = s.get(&format!("runners/{r}/2.mail")).expect("retired");
        assert!(String::from_utf8_lossy(&retired).contains("retired"), "{v}");
        assert!(stderr.contains("served 2 jobs"), "{v}: {stderr}");
    }
}
