//! The AWS adapters against a real AWS API emulator (moto server, started
//! by `scripts/test` and reached only through `AWS_ENDPOINT_URL`). Every
//! test makes its own table, bucket or queue.

use std::time::Duration;

use aws_config::SdkConfig;
use coderun_aws::dynamo::create_table;
use coderun_aws::{s3_client, sdk_config, DynamoStore, S3Blobs, SqsQueue};
use coderun_core::error::PortError;
use coderun_core::ports::*;
use coderun_core::{Job, JobKind, JobQuery, Problem, ProblemKind, Session, Status};
use coderun_protocol::Verdict;

async fn config() -> SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "these tests talk to an AWS API emulator: run scripts/test (it starts moto server) \
         or set AWS_ENDPOINT_URL"
    );
    sdk_config().await
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", coderun_core::ids::random_hex(6))
}

async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let conf = config().await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let table = fresh("coderun");
    create_table(&client, &table).await.unwrap();
    (
        DynamoStore::new(client.clone(), &table, b"cursor-key".to_vec()),
        client,
        table,
    )
}

fn job(id: &str, user: &str, kind: JobKind, created_at: i64) -> Job {
    Job {
        problem_id: (kind == JobKind::Submission).then(|| "sum".into()),
        input_count: 1,
        expires_at: (kind == JobKind::Run).then_some(created_at + 7 * 86_400_000),
        ..Job::queued(id.into(), kind, user, "python3", created_at)
    }
}

#[tokio::test]
async fn status_changes_are_conditional_writes() {
    let (db, _, _) = store().await;
    let j = job("j1", "ann", JobKind::Submission, 1_000);
    assert_eq!(db.insert_job(&j, None).await.unwrap(), Inserted::New);
    let e = db.insert_job(&j, None).await.unwrap_err();
    assert!(matches!(e, PortError::Conflict(_)), "{e:?}");

    let mut next = db.get_job("j1").await.unwrap().unwrap();
    assert_eq!(next, j);
    next.status = Status::Starting;
    db.replace_job(&next, (Status::Queued, 0)).await.unwrap();
    // A redelivered message makes the same transition: it loses.
    let e = db
        .replace_job(&next, (Status::Queued, 0))
        .await
        .unwrap_err();
    assert!(matches!(e, PortError::Conflict(_)), "{e:?}");
    next.status = Status::Completed;
    next.verdict = Some(Verdict::AC);
    db.replace_job(&next, (Status::Starting, 0)).await.unwrap();
    assert_eq!(
        db.get_job("j1").await.unwrap().unwrap().verdict,
        Some(Verdict::AC)
    );
    assert_eq!(db.get_job("nope").await.unwrap(), None);
    let counts = db.job_counts(2_000).await.unwrap();
    assert_eq!((counts.completed, counts.verdicts.get("AC")), (1, Some(&1)));
}

#[tokio::test]
async fn idempotency_keys_are_claimed_with_the_job() {
    let (db, _, _) = store().await;
    let key = IdempotencyKey {
        user: "ann".into(),
        key: "runs:k".into(),
        request_hash: "h1".into(),
    };
    let a = job("a", "ann", JobKind::Run, 1);
    assert_eq!(db.insert_job(&a, Some(&key)).await.unwrap(), Inserted::New);
    let b = job("b", "ann", JobKind::Run, 2);
    let again = db.insert_job(&b, Some(&key)).await.unwrap();
    assert_eq!(
        again,
        Inserted::Existing {
            job_id: "a".into(),
            request_hash: "h1".into()
        }
    );
    assert_eq!(db.get_job("b").await.unwrap(), None, "nothing half-written");
}

#[tokio::test]
async fn history_pages_newest_first_with_tamper_evident_cursors() {
    let (db, client, table) = store().await;
    for i in 0..25 {
        let kind = if i % 5 == 0 {
            JobKind::Run
        } else {
            JobKind::Submission
        };
        db.insert_job(&job(&format!("a{i:02}"), "ann", kind, 1_000 + i), None)
            .await
            .unwrap();
    }
    for i in 0..3 {
        db.insert_job(
            &job(&format!("b{i}"), "bob", JobKind::Submission, 5_000 + i),
            None,
        )
        .await
        .unwrap();
    }
    let mut q = JobQuery {
        user: "ann".into(),
        kind: Some(JobKind::Submission),
        limit: 7,
        ..JobQuery::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = db.list_jobs(&q).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|j| j.id.clone()));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25)
        .rev()
        .filter(|i| i % 5 != 0)
        .map(|i| format!("a{i:02}"))
        .collect();
    assert_eq!(seen, expected);
    assert!(pages >= 3);

    // A cursor cannot be forged or edited.
    q.cursor = Some("7b7d.00".into());
    assert!(matches!(
        db.list_jobs(&q).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    let first = db
        .list_jobs(&JobQuery {
            cursor: None,
            ..q.clone()
        })
        .await
        .unwrap();
    let mut c = first.next.unwrap();
    c.replace_range(0..2, if c.starts_with("7b") { "7c" } else { "7b" });
    q.cursor = Some(c);
    assert!(matches!(
        db.list_jobs(&q).await.unwrap_err(),
        PortError::Conflict(_)
    ));

    // Playground runs carry the TTL attribute, in seconds.
    let item = client
        .get_item()
        .table_name(&table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("RUN#a00".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("JOB".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, (1_000 + 7 * 86_400_000) / 1000);
    let ttl_conf = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl_conf
            .time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expiresAt")
    );
}

#[tokio::test]
async fn problems_sessions_and_profiles() {
    let (db, _, _) = store().await;
    let problem = |id: &str, version| Problem {
        id: id.into(),
        title: id.to_uppercase(),
        statement: String::new(),
        statement_images: vec![],
        kind: ProblemKind::PassFail,
        time_limit_ms: 1000,
        memory_mb: 256,
        code_limit_kib: None,
        samples: vec![],
        test_count: 3,
        version,
        author: "sam".into(),
        created_at: 1,
        updated_at: 1,
        verify_report: None,
        import_id: None,
    };
    for id in ["c", "a", "b"] {
        db.put_problem(&problem(id, 1), None).await.unwrap();
    }
    assert!(matches!(
        db.put_problem(&problem("a", 1), None).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    db.put_problem(&problem("a", 2), Some(1)).await.unwrap();
    assert!(matches!(
        db.put_problem(&problem("a", 3), Some(1)).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    let p1 = db.list_problems(None, 2).await.unwrap();
    assert_eq!(
        p1.items.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let p2 = db.list_problems(p1.next.as_deref(), 2).await.unwrap();
    assert_eq!((p2.items.len(), p2.next), (1, None));
    assert_eq!(db.get_problem("a").await.unwrap().unwrap().version, 2);
    assert!(db.delete_problem("a").await.unwrap());
    assert!(!db.delete_problem("a").await.unwrap());

    let s = Session {
        id: "s1".into(),
        user: "ann".into(),
        title: "t".into(),
        language: "c".into(),
        source: String::new(),
        stdin: String::new(),
        version: 1,
        created_at: 1,
        updated_at: 1,
    };
    db.put_session(&s, None).await.unwrap();
    let s2 = Session {
        version: 2,
        source: "x".into(),
        ..s.clone()
    };
    db.put_session(&s2, Some(1)).await.unwrap();
    assert!(db.put_session(&s2, Some(1)).await.is_err());
    assert_eq!(db.get_session("s1").await.unwrap().unwrap().source, "x");

    for (job_id, verdict, at) in [
        ("1", Verdict::WA, 10),
        ("2", Verdict::AC, 20),
        ("2", Verdict::AC, 20),
        ("3", Verdict::AC, 30),
    ] {
        db.record_attempt(&Attempt {
            user: "ann".into(),
            problem_id: "sum".into(),
            job_id: job_id.into(),
            verdict,
            score: None,
            at,
        })
        .await
        .unwrap();
    }
    let p = db.profile("ann").await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (
            p[0].attempts,
            p[0].solved,
            p[0].first_solved_at,
            p[0].last_attempt_at
        ),
        (3, true, Some(20), 30)
    );
}

#[tokio::test]
async fn blobs_and_presigned_urls_over_plain_http() {
    let conf = config().await;
    let client = s3_client(&conf);
    let bucket = fresh("coderun");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let blobs = S3Blobs::new(client, &bucket);
    blobs.put("sources/a", b"print(1)".to_vec()).await.unwrap();
    assert_eq!(blobs.get("sources/a").await.unwrap().unwrap(), b"print(1)");
    assert_eq!(blobs.get("sources/missing").await.unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/secret")).unwrap();
    std::fs::write(dir.path().join("problem.yaml"), "name: x\n").unwrap();
    std::fs::write(dir.path().join("data/secret/1.in"), "1\n").unwrap();
    blobs.put_dir("problems/x/v1", dir.path()).await.unwrap();
    assert_eq!(
        blobs
            .get("problems/x/v1/data/secret/1.in")
            .await
            .unwrap()
            .unwrap(),
        b"1\n"
    );
    blobs.delete_prefix("problems/x/").await.unwrap();
    assert_eq!(blobs.get("problems/x/v1/problem.yaml").await.unwrap(), None);

    // A runner without credentials: GET its manifest, PUT its result.
    blobs
        .put("jobs/j/manifest.json", b"{\"m\":1}".to_vec())
        .await
        .unwrap();
    let get = blobs
        .presign_get("jobs/j/manifest.json", Duration::from_secs(300))
        .await
        .unwrap();
    let put = blobs
        .presign_put("results/j/result.json", Duration::from_secs(300))
        .await
        .unwrap();
    let (got, status) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let got = agent
            .get(&get)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let status = agent
            .put(&put)
            .send(&b"{\"r\":2}"[..])
            .unwrap()
            .status()
            .as_u16();
        (got, status)
    })
    .await
    .unwrap();
    assert_eq!((got.as_str(), status), ("{\"m\":1}", 200));
    assert_eq!(
        blobs.get("results/j/result.json").await.unwrap().unwrap(),
        b"{\"r\":2}"
    );
}

#[tokio::test]
async fn queue_messages_name_the_job_only() {
    let conf = config().await;
    let client = aws_sdk_sqs::Client::new(&conf);
    let url = client
        .create_queue()
        .queue_name(fresh("coderun-jobs"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    SqsQueue::new(client.clone(), &url)
        .send("job-1")
        .await
        .unwrap();
    let got = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap();
    let msg: coderun_aws::sqs::JobMessage = serde_json::from_str(body).unwrap();
    assert_eq!(msg.job_id, "job-1");
}

#[tokio::test]
async fn mailboxes_are_written_once_by_whoever_comes_first() {
    let conf = config().await;
    let client = s3_client(&conf);
    let bucket = fresh("coderun");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let blobs = S3Blobs::new(client, &bucket);
    let key = "runners/r/0.mail";
    assert!(blobs.put_if_absent(key, b"job".to_vec()).await.unwrap());
    assert!(!blobs.put_if_absent(key, b"other".to_vec()).await.unwrap());
    assert_eq!(blobs.get(key).await.unwrap().unwrap(), b"job");
    assert!(blobs.exists(key).await.unwrap());
    assert!(!blobs.exists("runners/r/1.mail").await.unwrap());

    // The runner's retirement: a presigned PUT that writes only into an
    // empty mailbox, and only with the condition.
    let next = "runners/r/1.mail";
    let put = blobs
        .presign_put_if_absent(next, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        put.contains("X-Amz-SignedHeaders=host%3Bif-none-match"),
        "{put}"
    );
    let statuses = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let put_once = || {
            agent
                .put(&put)
                .header("if-none-match", "*")
                .send(&b"retired"[..])
                .unwrap()
                .status()
                .as_u16()
        };
        (put_once(), put_once())
    })
    .await
    .unwrap();
    assert_eq!(statuses, (200, 412));
    assert!(!blobs.put_if_absent(next, b"job".to_vec()).await.unwrap());
}

#[tokio::test]
async fn a_runner_takes_one_attempt_and_an_attempt_one_runner() {
    use coderun_aws::pool::{Claim, PoolStore};
    let (_, client, table) = store().await;
    let pool = PoolStore::new(client, &table);
    pool.add("py", "r1", None, 2, 1000, 2000).await.unwrap();
    let r1 = pool.runner("py", "r1").await.unwrap().unwrap();
    assert_eq!((r1.busy, r1.seq), (false, 0));

    // Two jobs for the idle runner as both dispatchers read it: the
    // second finds it taken.
    let a = pool.claim(&r1, "job-a", 0, "py/r1/0", 1001, 2001).await;
    let b = pool.claim(&r1, "job-b", 0, "py/r1/0", 1001, 2001).await;
    assert_eq!(
        [a.unwrap(), b.unwrap()],
        [Claim::Claimed, Claim::RunnerTaken]
    );
    let holder = pool.runner("py", "r1").await.unwrap().unwrap();
    assert!(holder.busy);
    let job = holder.job.clone().unwrap();
    // The same attempt again (a redelivered message) is the same runner.
    pool.add("py", "r2", None, 2, 1002, 2002).await.unwrap();
    // The family's cap (2) counts both: a third is refused.
    assert_eq!(
        pool.add("py", "r3", None, 2, 1002, 2002).await.unwrap(),
        Claim::Full
    );
    assert_eq!(pool.runner("py", "r3").await.unwrap(), None);
    let r2 = pool.runner("py", "r2").await.unwrap().unwrap();
    assert_eq!(
        pool.claim(&r2, &job, 0, "py/r2/0", 1003, 2003)
            .await
            .unwrap(),
        Claim::AlreadyClaimed("py/r1".into(), 0)
    );
    assert!(!pool.runner("py", "r2").await.unwrap().unwrap().busy);

    // Freed once, at the next mailbox; freeing again changes nothing.
    assert!(pool.release("py", "r1", 0, 1004).await.unwrap());
    assert!(!pool.release("py", "r1", 0, 1005).await.unwrap());
    let r1 = pool.runner("py", "r1").await.unwrap().unwrap();
    assert_eq!((r1.busy, r1.seq, r1.job), (false, 1, None));
    assert_eq!(pool.runners("py").await.unwrap().len(), 2);
    let gone = pool.remove("py", "r1").await.unwrap().unwrap();
    assert_eq!(gone.id, "r1");
    assert_eq!(pool.remove("py", "r1").await.unwrap(), None);
    // Removed, it no longer counts: a new one fits again.
    assert_eq!(
        pool.add("py", "r3", None, 2, 1006, 2006).await.unwrap(),
        Claim::Claimed
    );
}
