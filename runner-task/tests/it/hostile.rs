//! Hostile programs, each in both profiles, asserting the exact status and
//! that the host is untouched afterwards.

use std::net::TcpListener;
use std::time::Duration;

use runner_task::sandbox::{Layer, Limits, Outcome, Profile, Status, Stdin};

use crate::helpers::{limits, processes_of, runner, scaled, TestRunner};

const PROFILES: [Profile; 2] = [Profile::Full, Profile::Restricted];

#[test]
fn fork_bomb_in_c_is_contained() {
    let src = "#include <unistd.h>\nint main(void){for(;;)fork();}";
    let hello = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}";
    for p in PROFILES {
        let r = runner(p);
        let tc = r.runner.toolchain("c").unwrap();
        let bomb = r.runner.prepare(tc.clone(), src.as_bytes()).unwrap();
        let hello = r.runner.prepare(tc, hello.as_bytes()).unwrap();
        // Its failed forks fill the memory cgroup with kernel memory freed
        // only later; whichever process the OOM killer took, the verdict
        // used to change from run to run. It is an endless loop, every time.
        // (The restricted profile has no cgroup; its run is timed by wall.)
        let times = if p == Profile::Full { 8 } else { 1 };
        for _ in 0..times {
            let l = Limits {
                processes: 32,
                ..limits(300, 64)
            };
            let out = r.runner.run(&bomb, l, &[], Stdin::Null).unwrap();
            assert_endless_or_slot_full(&out, l, p);
            r.assert_host_clean();
            // The next runs, one of them in the bomb's slot, get a limit
            // below what the bomb left there for the kernel to free.
            for _ in 0..2 {
                let small = Limits {
                    stack_mb: 8,
                    ..limits(1000, 16)
                };
                let out = r.runner.run(&hello, small, &[], Stdin::Null).unwrap();
                assert_eq!(out.stdout, b"hi\n", "{p}: {out:?}");
            }
        }
    }
}

#[test]
fn fork_bomb_in_python_is_contained() {
    let src =
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n";
    for p in PROFILES {
        let r = runner(p);
        // Every forked interpreter dirties its copy-on-write pages, so the
        // memory limit leaves room for all of them: the pids limit is what
        // this test is about, and the verdict must be TLE, not MLE.
        let l = Limits {
            processes: 16,
            ..limits(1000, 512)
        };
        let out = r.run("python3", src, l, &[]);
        assert_endless_or_slot_full(&out, l, p);
        r.assert_host_clean();
    }
}

/// A fork bomb is an endless loop: TLE. But a fork the pids limit refuses
/// has already allocated its task and stack, which the kernel frees only
/// after an RCU grace period; on a loaded machine (CI) the bomb's refused
/// forks can fill a v1 slot with them before that (CI saw 64 MiB in 68 ms).
/// The kernel's own allocations for a process then fail there, which can end
/// it with SIGSEGV, and a crash in a full slot is MLE (see
/// `a_crash_where_the_kernel_found_the_slot_full_is_mle`). So: TLE, or MLE in
/// a slot that was full; never RE, never OK.
fn assert_endless_or_slot_full(out: &Outcome, l: Limits, p: Profile) {
    let limit_kb = l.memory_mb << 10;
    let slot_full = out.status == Status::Mle
        && p == Profile::Full
        && out.memory_kb >= limit_kb - limit_kb / 16;
    assert!(out.status == Status::Tle || slot_full, "{p}: {out:?}");
}

#[test]
fn memory_bomb_is_mle() {
    let c = "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<20);if(!p)abort();memset(p,1,1<<20);}}";
    let py = "keep = []\nwhile True:\n    keep.append(bytearray(1 << 20))\n";
    for p in PROFILES {
        let r = runner(p);
        for (lang, src) in [("c", c), ("python3", py)] {
            let out = r.run(lang, src, limits(2000, 64), &[]);
            assert_eq!(out.status, Status::Mle, "{p} {lang}: {out:?}");
            // The memory reported is what the program reached, not its
            // reporting parent's.
            assert!(out.memory_kb >= 48 << 10, "{p} {lang}: {out:?}");
        }
        r.assert_host_clean();
    }
}

#[test]
fn the_oom_killer_takes_the_programs_before_their_reporting_pid_1() {
    // The order keeps the run's report when the run fills its memory.
    let src = "#include <stdio.h>\nstatic void show(const char*p){char b[16]={0};FILE*f=fopen(p,\"r\");if(f&&fgets(b,sizeof b,f))printf(\"%s\",b);else printf(\"-\\n\");}\nint main(void){show(\"/proc/self/oom_score_adj\");show(\"/proc/1/oom_score_adj\");return 0;}";
    let before = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    let r = runner(Profile::Full);
    let program = r.compile("c", src);
    // The slots' first runs are cold, the later ones warm (from their
    // third on, with the run's root up ahead).
    for _ in 0..8 {
        let out = r
            .runner
            .run(&program, limits(1000, 64), &[], Stdin::Null)
            .unwrap();
        assert_eq!(out.status, Status::Ok, "{out:?}");
        // PID 1 keeps the runner's score, which the runner leaves alone.
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("1000\n{before}")
        );
    }
    let after = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    assert_eq!(after, before);
}

#[test]
fn a_slot_warms_its_next_run_up_and_replaces_one_that_died() {
    let r = runner(Profile::Full);
    let hello = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}";
    let out = r.run("c", hello, limits(1000, 64), &[]);
    assert_eq!(out.stdout, b"hi\n");
    // Between runs each used slot holds a PID 1 cloned ahead, as the
    // slot's root uid (no program uid: nothing of a run is left).
    let roots: Vec<u32> = r.uids.iter().map(|u| u - 1).collect();
    let mut warm = Vec::new();
    for _ in 0..200 {
        warm = processes_of(&roots);
        if !warm.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!warm.is_empty(), "no warm run waits");
    r.assert_host_clean();
    // A warm run that died is not used: the next run is cloned afresh.
    // (One dying while its command is sent makes that run a platform
    // failure, as any PID 1 killed from outside does.)
    for pid in &warm {
        // SAFETY: signalling a process by pid.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    let dead = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_or(true, |s| s.lines().any(|l| l.starts_with("State:\tZ")))
    };
    while !warm.iter().all(dead) {
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..4 {
        let out = r.run("c", hello, limits(1000, 64), &[]);
        assert_eq!(out.status, Status::Ok, "{out:?}");
        assert_eq!(out.stdout, b"hi\n");
    }
    r.assert_host_clean();
}

#[test]
fn a_warm_pid_1_mounts_the_last_runs_root_ahead_but_not_its_box() {
    let r = runner(Profile::Full);
    let hello = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}";
    let out = r.run("c", hello, limits(1000, 64), &[]);
    assert_eq!(out.stdout, b"hi\n");
    // Each used slot's warm PID 1 mounts its last run's root (here: its
    // private /proc on the skeleton) before any command comes; the box,
    // the run's own, is mounted by the next run.
    let mounts = warm_mounts(&r, |m| {
        m.iter()
            .any(|(point, fs)| fs == "proc" && point != "/proc" && point.ends_with("/proc"))
    })
    .expect("no warm PID 1 mounted a root ahead");
    assert!(
        mounts.iter().any(|(_, fs)| fs == "tmpfs"),
        "no fresh /tmp: {mounts:?}"
    );
    assert!(
        !mounts.iter().any(|(point, _)| point.ends_with("/box")),
        "a box mounted ahead: {mounts:?}"
    );
    r.assert_host_clean();
}

#[test]
fn runs_on_a_root_mounted_ahead_each_see_their_own_box() {
    // Two C programs share everything mounted ahead but their boxes; a
    // Python one (another toolchain) makes a warm PID 1 take its root
    // down and mount afresh. Each must run its own program.
    let r = runner(Profile::Full);
    let c = r.runner.toolchain("c").unwrap();
    let py = r.runner.toolchain("python3").unwrap();
    let say = |tc: &runner_task::lang::Toolchain, src: &str| {
        r.runner.prepare(tc.clone(), src.as_bytes()).unwrap()
    };
    let programs = [
        (
            say(
                &c,
                "#include <stdio.h>\nint main(void){puts(\"A\");return 0;}",
            ),
            "A\n",
        ),
        (
            say(
                &c,
                "#include <stdio.h>\nint main(void){puts(\"B\");return 0;}",
            ),
            "B\n",
        ),
        (say(&py, "print('P')\n"), "P\n"),
    ];
    // Another scratch size is another /tmp on the same skeleton: that root
    // is taken down and mounted again where it was.
    let small_tmp = Limits {
        file_size_bytes: 8 << 20,
        ..limits(2000, 64)
    };
    // A slot that ran the same walls twice puts them all up ahead for the
    // next run, which must be another's as often as not: the streaks.
    let orders: [&[usize]; 4] = [
        &[0, 0, 1, 1, 0, 1],
        &[2, 0, 2, 1, 2, 2],
        &[1, 2, 0, 0, 2, 1],
        &[
            0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0,
        ],
    ];
    for order in orders {
        for (k, &i) in order.iter().enumerate() {
            let (program, expected) = &programs[i];
            let l = if k % 3 == 2 {
                small_tmp
            } else {
                limits(2000, 64)
            };
            let out = r.runner.run(program, l, &[], Stdin::Null).unwrap();
            assert_eq!(out.status, Status::Ok, "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), *expected);
        }
    }
    r.assert_host_clean();
}

/// The mount points a process sees, with their file system types.
fn mounts_of(pid: u32) -> Vec<(String, String)> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let point = l.split(' ').nth(4)?.to_string();
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?.to_string();
            Some((point, fstype))
        })
        .collect()
}

/// The mounts of a warm PID 1 (a process of a slot's root uid) that
/// `wanted` picks, once one has them (within 5 s).
fn warm_mounts(
    r: &TestRunner,
    wanted: impl Fn(&[(String, String)]) -> bool,
) -> Option<Vec<(String, String)>> {
    let roots: Vec<u32> = r.uids.iter().map(|u| u - 1).collect();
    for _ in 0..500 {
        let found = processes_of(&roots)
            .into_iter()
            .map(mounts_of)
            .find(|m| wanted(m));
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn a_slot_that_runs_one_program_again_puts_its_whole_root_up_ahead() {
    // The tests of one judged program: from a slot's third run of it on,
    // its warm PID 1 waits in the run's root, box and all, the host's gone.
    let r = runner(Profile::Full);
    let program = r.compile(
        "c",
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}",
    );
    r.runs_print(&program, 6, "hi\n");
    let mounts = warm_mounts(&r, |m| {
        m.iter().any(|(point, fs)| point == "/proc" && fs == "proc")
            && m.iter().any(|(point, _)| point == "/box")
    })
    .expect("no warm PID 1 put a whole root up ahead");
    let roots = mounts.iter().filter(|(point, _)| point == "/").count();
    assert_eq!(roots, 1, "the host's root is still there: {mounts:?}");
    assert!(
        !mounts
            .iter()
            .any(|(_, fs)| fs == "sysfs" || fs.starts_with("cgroup")),
        "host file systems: {mounts:?}"
    );
    r.assert_host_clean();
}

#[test]
fn a_box_removed_and_made_again_at_its_path_is_the_new_one() {
    // A warm PID 1 that put a box up ahead holds that directory, not its
    // path: a run whose box is a new directory at the same path (another
    // program's, after the first was removed) must not get the old one.
    let r = runner(Profile::Full);
    let say = |word: &str| {
        r.compile(
            "c",
            &format!("#include <stdio.h>\nint main(void){{puts(\"{word}\");return 0;}}"),
        )
    };
    let (one, two) = (say("one"), say("two"));
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("box");
    let fill = |program: &runner_task::runner::Program| {
        let _ = std::fs::remove_dir_all(&at);
        std::fs::create_dir(&at).unwrap();
        std::fs::copy(program.box_dir().join("main"), at.join("main")).unwrap();
    };
    let run = |expected: &str| {
        let mut cmd = r.runner.command(
            &one,
            limits(1000, 64),
            &[],
            Stdin::Null,
            runner_task::sandbox::Stdout::Capture,
        );
        cmd.box_dir = Some((at.clone(), false));
        let out = r.runner.sandbox.run(cmd).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{out:?}");
    };
    fill(&one);
    for _ in 0..6 {
        run("one\n");
    }
    fill(&two);
    for _ in 0..4 {
        run("two\n");
    }
    r.assert_host_clean();
}

#[test]
fn busy_loop_is_tle_by_cpu_time() {
    for p in PROFILES {
        let r = runner(p);
        // Wall time to spare: on a loaded machine the loop may get a fifth
        // of a CPU, and it is its CPU time that must end it.
        let l = Limits {
            wall_time_ms: scaled(20_000).min(Limits::MAX_WALL_TIME_MS),
            ..limits(500, 64)
        };
        let out = r.run("c", "int main(void){volatile long x=0;for(;;)x++;}", l, &[]);
        assert_eq!(out.status, Status::Tle, "{p}: {out:?}");
        assert!(out.time_ms >= 500, "{p}: {out:?}");
        r.assert_host_clean();
    }
}

#[test]
fn sleeper_is_tle_by_wall_time() {
    for p in PROFILES {
        let r = runner(p);
        let l = Limits {
            wall_time_ms: 700,
            ..limits(500, 64)
        };
        let out = r.run(
            "c",
            "#include <unistd.h>\nint main(void){sleep(60);return 0;}",
            l,
            &[],
        );
        assert_eq!(out.status, Status::Tle, "{p}: {out:?}");
        assert!(
            out.wall_ms >= 700 && out.wall_ms < scaled(5000),
            "{p}: {out:?}"
        );
        assert!(out.time_ms < scaled(100), "{p}: {out:?}");
        r.assert_host_clean();
    }
}

#[test]
fn output_flood_is_ole_and_capped() {
    for p in PROFILES {
        let r = runner(p);
        let l = Limits {
            output_bytes: 1 << 20,
            ..limits(2000, 64)
        };
        let out = r.run(
            "c",
            "#include <stdio.h>\nint main(void){for(;;)puts(\"flood flood flood\");}",
            l,
            &[],
        );
        assert_eq!(out.status, Status::Ole, "{p}: {out:?}");
        assert!(out.stdout.len() + out.stderr.len() <= 1 << 20);
        r.assert_host_clean();
    }
}

#[test]
fn disk_fill_is_ole_and_leaves_nothing() {
    let src = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void){char path[512];snprintf(path,sizeof path,"%s/fill",getenv("TMPDIR"));
FILE*f=fopen(path,"w");if(!f)return 2;static char b[1<<16];memset(b,'x',sizeof b);
for(int i=0;i<100000;i++){if(fwrite(b,1,sizeof b,f)!=sizeof b)return 3;}return 0;}"#;
    for p in PROFILES {
        let r = runner(p);
        let l = Limits {
            file_size_bytes: 8 << 20,
            ..limits(5000, 64)
        };
        let out = r.run("c", src, l, &[]);
        assert_eq!(out.status, Status::Ole, "{p}: {out:?}");
        assert_eq!(out.signal, Some(libc::SIGXFSZ), "{p}: {out:?}");
        r.assert_host_clean();
    }
}

#[test]
fn network_is_unreachable() {
    // Only the loopback address is ever connected to; for the others the
    // program stops at socket creation, so a broken sandbox still sends no
    // packet off this machine.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let src = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
int main(int argc,char**argv){
  int fams[]={AF_INET,AF_INET6,AF_NETLINK,AF_PACKET};
  for(int i=0;i<4;i++){int s=socket(fams[i],SOCK_STREAM,0);if(fams[i]==AF_NETLINK||fams[i]==AF_PACKET)s=s<0?socket(fams[i],SOCK_RAW,0):s;
    if(s>=0){printf("socket %d created\n",fams[i]);
      if(fams[i]==AF_INET){struct sockaddr_in a={0};a.sin_family=AF_INET;a.sin_port=htons(atoi(argv[1]));
        inet_pton(AF_INET,"127.0.0.1",&a.sin_addr);if(connect(s,(void*)&a,sizeof a)==0)printf("connected to loopback\n");}
      close(s);}}
  printf("done\n");return 0;}"#;
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("c", src, limits(2000, 64), &[&port]);
        assert_eq!(out.status, Status::Ok, "{p}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "done\n",
            "{p}: network reachable"
        );
        assert!(
            listener.accept().is_err(),
            "{p}: the loopback listener was reached"
        );
        r.assert_host_clean();
    }
    // The metadata endpoint and an internet address from Python too.
    let py = "import socket\nfor fam in (socket.AF_INET, socket.AF_INET6):\n    try:\n        socket.socket(fam, socket.SOCK_STREAM)\n        print('created')\n    except OSError as e:\n        print('blocked', e.errno)\n";
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("python3", py, limits(2000, 64), &[]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "blocked 13\nblocked 13\n",
            "{p}: {out:?}"
        );
    }
}

#[test]
fn host_files_are_out_of_reach() {
    // Root's and closed to others, as the runner keeps judge data: without
    // Landlock (restricted, on a kernel without it) ownership is the wall,
    // and a world-readable file anywhere on the host is readable.
    let secret_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        secret_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let secret = secret_dir.path().join("answer.ans");
    std::fs::write(&secret, "hidden answer").unwrap();
    let escape = format!("/tmp/coderun-escape-{}", std::process::id());
    let src = r#"#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
int main(int argc,char**argv){
  const char*paths[]={"/etc/shadow","/root/.bashrc",argv[1],"/proc/1/root/etc/shadow"};
  for(int i=0;i<4;i++){int fd=open(paths[i],O_RDONLY);if(fd>=0){char b[64];int n=read(fd,b,63);if(n>0){b[n]=0;printf("READ %s: %s\n",paths[i],b);}close(fd);}}
  int w=open(argv[2],O_WRONLY|O_CREAT,0644);if(w>=0){write(w,"x",1);close(w);}
  printf("done\n");return 0;}"#;
    for p in PROFILES {
        let r = runner(p);
        let out = r.run(
            "c",
            src,
            limits(2000, 64),
            &[secret.to_str().unwrap(), &escape],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "done\n",
            "{p}: {out:?}"
        );
        assert!(
            !std::path::Path::new(&escape).exists(),
            "{p}: wrote to the host's /tmp"
        );
        r.assert_host_clean();
    }
}

#[test]
fn orphans_that_setsid_die_with_the_run() {
    let src = "#include <unistd.h>\nint main(void){if(fork()==0){setsid();if(fork()==0){sleep(1000);}sleep(1000);}return 0;}";
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("c", src, limits(2000, 64), &[]);
        assert_eq!(out.status, Status::Ok, "{p}: {out:?}");
        assert!(
            out.wall_ms < scaled(2000),
            "{p}: the run waited for its orphans: {out:?}"
        );
        r.assert_host_clean();
    }
}

#[test]
fn killing_everything_visible_harms_nothing_outside() {
    let mut bystander = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let src = "#include <signal.h>\n#include <stdio.h>\n#include <unistd.h>\nint main(void){kill(getppid(),SIGKILL);kill(-1,SIGKILL);kill(1,SIGKILL);printf(\"alive\\n\");return 0;}";
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("c", src, limits(2000, 64), &[]);
        assert_eq!(out.status, Status::Ok, "{p}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "alive\n");
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "{p}: a host process was killed"
        );
        r.assert_host_clean();
    }
    bystander.kill().unwrap();
    let _ = bystander.wait();
}

#[test]
fn environment_is_scrubbed() {
    let src = "import os\nfor k in sorted(os.environ): print(k)\n";
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("python3", src, limits(2000, 64), &[]);
        let keys = String::from_utf8_lossy(&out.stdout).into_owned();
        // The sandbox's own few, and what the language table sets.
        let python = runner_task::lang::by_id("python3").unwrap();
        let allowed: Vec<&str> = ["HOME", "LANG", "LC_CTYPE", "PATH", "TMPDIR"]
            .into_iter()
            .chain(python.env.iter().map(|(k, _)| *k))
            .collect();
        for k in keys.lines() {
            assert!(allowed.contains(&k), "{p}: leaked environment variable {k}");
        }
        assert!(keys.contains("PATH"), "{p}: {keys}");
    }
}

#[test]
fn results_record_the_layers_in_force() {
    let r = runner(Profile::Full);
    let out = r.run("c", "int main(void){return 0;}", limits(1000, 64), &[]);
    for l in [
        Layer::UserNamespace,
        Layer::PidNamespace,
        Layer::NetworkNamespace,
        Layer::PivotRoot,
        Layer::CgroupMemory,
        Layer::Seccomp,
        Layer::NoNewPrivs,
    ] {
        assert!(out.isolation.contains(&l), "missing {l:?}");
    }
    let r = runner(Profile::Restricted);
    let out = r.run("c", "int main(void){return 0;}", limits(1000, 64), &[]);
    assert!(!out.isolation.contains(&Layer::UserNamespace));
    for l in [
        Layer::UnprivilegedUid,
        Layer::Rlimits,
        Layer::Seccomp,
        Layer::ProcessGroup,
    ] {
        assert!(out.isolation.contains(&l), "missing {l:?}");
    }
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn a_crash_where_the_kernel_found_the_slot_full_is_mle() {
    // Files in /tmp are the run's memory. Written, they fill the slot from
    // the kernel's side, where nothing waits at the limit (on cgroup v1 no
    // OOM is signalled): the write that finds it full fails, and the
    // program crashes as one that does not check would.
    let src = r#"#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
static char b[1 << 20];
int main(void) {
  for (unsigned i = 0; i < sizeof b; i++) b[i] = 1;
  for (int f = 0;; f++) {
    char n[32];
    snprintf(n, sizeof n, "/tmp/f%d", f);
    int fd = open(n, O_CREAT | O_WRONLY, 0600);
    for (int k = 0; k < 8; k++)
      if (write(fd, b, sizeof b) != sizeof b) *(volatile int *)0 = 0;
    close(fd);
  }
}"#;
    let r = runner(Profile::Full);
    let out = r.run("c", src, limits(3000, 64), &[]);
    assert_eq!(out.status, Status::Mle, "{out:?}");
    assert!(out.memory_kb >= 48 << 10, "{out:?}");
    r.assert_host_clean();
}

#[test]
fn memory_over_many_processes_is_mle() {
    // Eight processes of 24 MiB under a 64 MiB limit: each within any
    // per-process cap, together three times the limit.
    let src = "#include <stdlib.h>\n#include <unistd.h>\nint main(void){for(int i=0;i<7;i++)if(fork()==0)break;volatile char*p=malloc(24<<20);for(int i=0;i<(24<<20);i+=4096)p[i]=1;sleep(10);return 0;}";
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("c", src, limits(3000, 64), &[]);
        assert_eq!(out.status, Status::Mle, "{p}: {out:?}");
        // What the run reached, not one process's 24 MiB.
        assert!(out.memory_kb >= 48 << 10, "{p}: {out:?}");
        assert!(out.wall_ms < scaled(3000), "{p}: {out:?}");
        r.assert_host_clean();
    }
}

#[test]
fn memory_of_many_processes_is_reported_whole() {
    // Four processes of 24 MiB at once, well under the limit, held long
    // enough for the restricted profile's meter to sample them all at once
    // (its samples space out under load: 300 ms once missed the overlap).
    let src = format!("#include <stdlib.h>\n#include <unistd.h>\nint main(void){{for(int i=0;i<3;i++)if(fork()==0)break;volatile char*p=malloc(24<<20);for(int i=0;i<(24<<20);i+=4096)p[i]=1;usleep({});return 0;}}", scaled(1000) * 1000);
    // cgroup v1 counts the largest process (its `ru_maxrss`); v2 the
    // run's own cgroup at its peak; restricted its meter's totals.
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    for p in PROFILES {
        let r = runner(p);
        let out = r.run("c", &src, limits(3000, 256), &[]);
        assert_eq!(out.status, Status::Ok, "{p}: {out:?}");
        let whole = p == Profile::Restricted || !v1;
        let least = if whole { (4 * 24) << 10 } else { 24 << 10 };
        assert!(out.memory_kb >= least, "{p}: {out:?}");
        assert!(out.memory_kb < 256 << 10, "{p}: {out:?}");
        r.assert_host_clean();
    }
}

/// Writes 12 files of 4 MiB into its scratch directory, each under the
/// per-file limit and together three times the scratch limit; `unlink`
/// deletes each while it stays open. Stops at the first failed write.
fn scratch_filler(unlink: bool) -> String {
    format!(
        r#"#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void){{static char b[1<<20];memset(b,'x',sizeof b);
for(int i=0;i<12;i++){{char p[512];snprintf(p,sizeof p,"%s/f%d",getenv("TMPDIR"),i);
int fd=open(p,O_CREAT|O_WRONLY,0600);if(fd<0){{puts("full");return 0;}}{}
for(int k=0;k<4;k++)if(write(fd,b,sizeof b)!=(ssize_t)sizeof b){{puts("full");return 0;}}}}
sleep(5);puts("written");return 0;}}"#,
        if unlink { "unlink(p);" } else { "" }
    )
}

#[test]
fn scratch_is_limited_in_total_deleted_files_included() {
    for unlink in [false, true] {
        for p in PROFILES {
            let r = runner(p);
            let l = Limits {
                file_size_bytes: 16 << 20,
                ..limits(5000, 64)
            };
            let out = r.run("c", &scratch_filler(unlink), l, &[]);
            match p {
                // A private tmpfs of that size: the writes fail.
                Profile::Full => {
                    assert_eq!(out.status, Status::Ok, "{p} {unlink}: {out:?}");
                    assert_eq!(out.stdout, b"full\n", "{p} {unlink}: {out:?}");
                }
                // The runner's totals end it.
                Profile::Restricted => {
                    assert_eq!(out.status, Status::Ole, "{p} {unlink}: {out:?}");
                    assert!(out.wall_ms < scaled(3000), "{p} {unlink}: {out:?}");
                }
            }
            r.assert_host_clean();
        }
    }
}

#[test]
fn a_runs_scratch_is_gone_before_its_slots_next_run() {
    // A run's /tmp is its memory: when the slot's next run starts, the last
    // one's must be gone (its mounts taken down with its namespaces), or
    // that run would find the slot full.
    let fill = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void){static char b[1<<20];memset(b,'x',sizeof b);char p[512];
snprintf(p,sizeof p,"%s/left",getenv("TMPDIR"));FILE*f=fopen(p,"w");if(!f)return 1;
for(int i=0;i<36;i++)if(fwrite(b,1,sizeof b,f)!=sizeof b)return 2;
return fclose(f)?3:0;}"#;
    let grow = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void){char*p=malloc(40<<20);if(!p)return 1;memset(p,1,40<<20);puts(\"ok\");return 0;}";
    let r = runner(Profile::Full);
    let fill = r.compile("c", fill);
    let grow = r.compile("c", grow);
    let l = Limits {
        file_size_bytes: 40 << 20,
        ..limits(2000, 64)
    };
    for _ in 0..3 {
        // Two slots, each taken longest idle first: each growth runs in
        // the slot that a filler ran in last.
        for _ in 0..2 {
            let out = r.runner.run(&fill, l, &[], Stdin::Null).unwrap();
            assert_eq!(out.status, Status::Ok, "{out:?}");
        }
        for _ in 0..2 {
            let out = r.runner.run(&grow, l, &[], Stdin::Null).unwrap();
            assert_eq!(
                (out.status, &out.stdout[..]),
                (Status::Ok, &b"ok\n"[..]),
                "{out:?}"
            );
        }
    }
    r.assert_host_clean();
}

#[test]
fn a_finished_runs_pid_1_is_gone_before_its_slot_runs_again() {
    // A run whose program ended alone is judged while its PID 1 takes its
    // namespaces down; the slot's next run waits for that and reaps it.
    // Were it never reaped, one would be left per run.
    let r = runner(Profile::Full);
    let hello = r.compile(
        "c",
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}",
    );
    for _ in 0..40 {
        let out = r
            .runner
            .run(&hello, limits(1000, 64), &[], Stdin::Null)
            .unwrap();
        assert_eq!((out.status, &out.stdout[..]), (Status::Ok, &b"hi\n"[..]));
        let left = r.leftovers();
        assert!(
            left.len() <= r.uids.len(),
            "one PID 1 at most per slot: {left:?}"
        );
    }
    r.assert_host_clean();
}

#[test]
fn the_devices_work_and_nothing_else_under_dev_can_be_written() {
    let src = r#"#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void){char b[16];
int ok=write(open("/dev/null",O_WRONLY),"x",1)==1&&read(open("/dev/zero",O_RDONLY),b,16)==16
&&read(open("/dev/urandom",O_RDONLY),b,16)==16&&read(open("/dev/random",O_RDONLY),b,16)==16;
int made=open("/dev/planted",O_WRONLY|O_CREAT,0666)>=0||mkdir("/dev/d",0777)==0;
printf("%s %s\n",ok?"devices":"no-devices",made?"made":"refused");return 0;}"#;
    for p in [Profile::Full, Profile::Restricted] {
        let r = runner(p);
        let out = r.run("c", src, limits(2000, 64), &[]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "devices refused\n",
            "{p}: {out:?}"
        );
    }
}

#[test]
fn the_filter_refuses_mount_calls_in_every_run() {
    // Flags no kernel knows: without the filter the kernel refuses them as
    // invalid (EINVAL) before it looks at privileges; the filter refuses
    // the calls themselves (EPERM). A warm run's PID 1 installs all of the
    // filter but these ahead of its command, and these once its root is up;
    // the program inherits both.
    let src = r#"#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void){long u=syscall(SYS_umount2,"/",0x7fff0000);int ue=errno;
long s=syscall(SYS_mount_setattr,-1,"",0x7fff0000,(void*)0,0);int se=errno;
printf("%s %s\n",u<0&&ue==EPERM?"umount2-refused":"umount2-reached",s<0&&se==EPERM?"mount_setattr-refused":"mount_setattr-reached");return 0;}"#;
    for p in [Profile::Full, Profile::Restricted] {
        let r = runner(p);
        let program = r.compile("c", src);
        r.runs_print(&program, 4, "umount2-refused mount_setattr-refused\n");
    }
}

#[test]
fn the_hosts_root_is_gone_before_any_program_runs() {
    // A run's root is pivoted into with the host's root left on top of it
    // until it is detached (a warm PID 1 detaches it on a thread of its
    // own while it goes on): the program's first look at its mounts must
    // find one root and none of the host's own file systems.
    let src = r#"#include <stdio.h>
#include <string.h>
int main(void){FILE*f=fopen("/proc/self/mountinfo","r");char l[4096];int roots=0,host=0,n=0;
while(f&&fgets(l,sizeof l,f)){n++;char*p=l;for(int i=0;i<4&&p;i++){p=strchr(p,' ');if(p)p++;}
if(p&&strncmp(p,"/ ",2)==0)roots++;
if(strstr(l," - sysfs ")||strstr(l," - cgroup")||strstr(l," - devpts ")||strstr(l," - mqueue "))host++;}
printf("mounts=%d roots=%d host=%d\n",n>0,roots,host);return 0;}"#;
    let r = runner(Profile::Full);
    let program = r.compile("c", src);
    r.runs_print(&program, 12, "mounts=1 roots=1 host=0\n");
    r.assert_host_clean();
}

#[test]
fn system_v_shared_memory_needs_an_ipc_namespace() {
    let src = "#include <stdio.h>\n#include <sys/ipc.h>\n#include <sys/shm.h>\nint main(void){int id=shmget(IPC_PRIVATE,1<<20,IPC_CREAT|0600);if(id>=0)shmctl(id,IPC_RMID,0);puts(id<0?\"refused\":\"made\");return 0;}";
    for (p, expected) in [
        (Profile::Full, "made\n"),
        (Profile::Restricted, "refused\n"),
    ] {
        let r = runner(p);
        let out = r.run("c", src, limits(2000, 64), &[]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{p}: {out:?}"
        );
    }
}

#[test]
fn a_run_leaves_nothing_for_the_next() {
    // A hostile run plants files wherever it may write and a process that
    // outlives it; the next run (the same slots and uids) looks for them.
    let plant = r#"#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void){const char*d[]={getenv("TMPDIR"),"/tmp","/dev/shm","/var/tmp"};
for(int i=0;i<4;i++){char p[512];snprintf(p,sizeof p,"%s/coderun-leak",d[i]);FILE*f=fopen(p,"w");if(f){fputs("secret",f);fclose(f);}}
if(fork()==0){setsid();sleep(100);}return 0;}"#;
    let probe = r#"import os
found = []
for d in (os.environ['TMPDIR'], '/tmp', '/dev/shm', '/var/tmp'):
    if os.path.exists(os.path.join(d, 'coderun-leak')):
        found.append(d)
print('found', found)
"#;
    for p in PROFILES {
        let r = runner(p);
        for _ in 0..2 {
            let out = r.run("c", plant, limits(2000, 64), &[]);
            assert_eq!(out.status, Status::Ok, "{p}: {out:?}");
        }
        r.assert_host_clean();
        for _ in 0..2 {
            let out = r.run("python3", probe, limits(2000, 64), &[]);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "found []\n",
                "{p}: {out:?}"
            );
        }
    }
}
