//! The AWS flow's latency with a warm pool, against the emulator (moto at
//! `AWS_ENDPOINT_URL`; `bench/aws-latency` starts one). Jobs go through
//! the api handler, the SQS queue and the dispatcher handler, runner
//! processes that play Fargate (each task starting `--launch-delay`
//! seconds after its RunTask), S3's notifications of results (to an SQS
//! queue, as S3 would invoke the results function), and the results
//! handler; the sweep runs every minute as its schedule would.
//!
//! A job is cold when it started its runner (its first mailbox), warm when
//! a runner already running took it. Prints percentiles of submit-to-result
//! latency for both and, with `--json`, one line: `warm_p50_ms`,
//! `warm_p95_ms`, `cold_p50_ms`, `cold_starts`, `jobs`, `lost`.

#[allow(dead_code)]
#[path = "../../../tests/aws/emulator.rs"]
mod emulator;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use coderun_api::GatewayClaims;
use emulator::*;
use serde_json::json;

/// Each dispatch: how long it took (ms), and whether it handed the job
/// over (a job that found every runner busy is tried again).
static DISPATCHES: Mutex<Vec<(f64, bool)>> = Mutex::new(Vec::new());

#[derive(Debug, Parser)]
struct Args {
    /// Seconds from RunTask to a runner that reads its mailbox (Fargate's
    /// cold start: 30 to 60 s).
    #[arg(long, default_value_t = 30.0)]
    launch_delay: f64,
    /// Jobs per second.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds of the measured stream (after a warm-up of one launch
    /// delay's worth of jobs, all finished).
    #[arg(long, default_value_t = 120.0)]
    duration: f64,
    /// Runners at most (the template's RunnersMax). Few: every runner
    /// polls the emulator, which shares this machine's cores.
    #[arg(long, default_value_t = 4)]
    max_runners: u32,
    /// Seconds an idle runner waits (the template's RunnerIdleSeconds).
    #[arg(long, default_value_t = 600)]
    idle: u64,
    /// One JSON line instead of text.
    #[arg(long)]
    json: bool,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let k = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[k.min(v.len() - 1)]
}

/// Plays a queue's event source mapping (or S3 invoking a function): each
/// message to `handle` in its own task, at most ten at once, as Lambda
/// runs concurrent invocations; what it handled is deleted, a failed
/// message stays for its retry.
async fn poll_queue<F, Fut>(env: Arc<AwsEnv>, url: String, handle: F)
where
    F: Fn(Arc<AwsEnv>, String, String, String, u32) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    use aws_sdk_sqs::types::MessageSystemAttributeName as Attr;
    let handle = Arc::new(handle);
    let slots = Arc::new(tokio::sync::Semaphore::new(10));
    loop {
        let got = env
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(Attr::ApproximateReceiveCount)
            .send()
            .await;
        let Ok(got) = got else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for m in got.messages() {
            let receipt = m.receipt_handle().unwrap_or_default().to_string();
            let count = m
                .attributes()
                .and_then(|a| a.get(&Attr::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = m.body().unwrap_or_default().to_string();
            let id = m.message_id().unwrap_or_default().to_string();
            let slot = slots.clone().acquire_owned().await.unwrap();
            let (env, url, handle) = (env.clone(), url.clone(), handle.clone());
            tokio::spawn(async move {
                if handle(env.clone(), id, body, receipt.clone(), count).await {
                    let _ = env
                        .sqs
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
                drop(slot);
            });
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    let env = Arc::new(
        aws_env_with(PoolOptions {
            idle: Duration::from_secs(args.idle),
            max_runners: args.max_runners,
            ..PoolOptions::default()
        })
        .await,
    );
    env.fargate.quiet.store(
        std::env::var_os("BENCH_RUNNER_LOGS").is_none(),
        Ordering::Relaxed,
    );
    // Each job's message comes back two seconds after a failed dispatch.
    env.sqs
        .set_queue_attributes()
        .queue_url(&env.queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "30",
        )
        .send()
        .await
        .unwrap();

    // S3 notifies results through a queue, as it would invoke the function.
    let results_url = env
        .sqs
        .create_queue()
        .queue_name(fresh("results"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = env
        .sqs
        .get_queue_attributes()
        .queue_url(&results_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    use aws_sdk_s3::types::*;
    let rules = [("prefix", "results/"), ("suffix", "/result.json")].map(|(n, v)| {
        FilterRule::builder()
            .name(FilterRuleName::from(n))
            .value(v)
            .build()
    });
    let conf = coderun_aws::sdk_config().await;
    coderun_aws::s3_client(&conf)
        .put_bucket_notification_configuration()
        .bucket(&env.bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .filter(
                            NotificationConfigurationFilter::builder()
                                .key(
                                    S3KeyFilter::builder()
                                        .set_filter_rules(Some(rules.to_vec()))
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The dispatcher, the results function, Fargate, the sweep.
    let queue = env.queue_url.clone();
    tokio::spawn(poll_queue(
        env.clone(),
        queue,
        |env, id, body, receipt, count| async move {
            let mut event = coderun_aws::sample_events::sqs(&[(&id, &body)]);
            event["Records"][0]["receiptHandle"] = json!(receipt);
            event["Records"][0]["attributes"]["ApproximateReceiveCount"] = json!(count.to_string());
            let batch = serde_json::from_value(event).unwrap();
            let at = Instant::now();
            let r = coderun_aws::handlers::dispatch_batch(&env.platform, batch).await;
            let ok = r.batch_item_failures.is_empty();
            DISPATCHES
                .lock()
                .unwrap()
                .push((at.elapsed().as_secs_f64() * 1000.0, ok));
            ok
        },
    ));
    tokio::spawn(poll_queue(
        env.clone(),
        results_url,
        |env, _, body, _, _| async move {
            let mut event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            // moto's notification as S3 sends it: eventTime with its zone
            // ("…T06:08:56.676Z", moto leaves it out), and the fields S3
            // always sends (moto omits them).
            if let Some(records) = event["Records"].as_array_mut() {
                for r in records {
                    if let Some(t) = r["eventTime"].as_str().filter(|t| !t.ends_with('Z')) {
                        r["eventTime"] = json!(format!("{t}Z"));
                    }
                    for k in ["userIdentity", "requestParameters", "responseElements"] {
                        if r.get(k).is_none() {
                            r[k] = json!({});
                        }
                    }
                }
            }
            let handled = coderun_aws::handlers::handle_results(&env.platform, event.clone()).await;
            if std::env::var_os("BENCH_RUNNER_LOGS").is_some() {
                eprintln!("results: {event} -> {handled:?}");
            }
            handled.is_ok()
        },
    ));
    let delay = Duration::from_secs_f64(args.launch_delay);
    {
        let env = env.clone();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            loop {
                let tasks = env
                    .ecs
                    .list_tasks()
                    .cluster(&env.cluster)
                    .send()
                    .await
                    .map(|t| t.task_arns().to_vec())
                    .unwrap_or_default();
                for arn in tasks.into_iter().filter(|a| seen.insert(a.clone())) {
                    let env = env.clone();
                    tokio::spawn(async move {
                        let task = task(&env.ecs, &env.cluster, &arn).await;
                        tokio::time::sleep(delay).await;
                        env.fargate.start(task.started_by().unwrap()).await;
                    });
                }
                for (_, stopped) in env.fargate.reap() {
                    let _ = coderun_aws::handlers::handle_results(&env.platform, stopped).await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    {
        let env = env.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let tick = coderun_aws::sample_events::scheduled();
                let _ = coderun_aws::handlers::handle_results(&env.platform, tick).await;
            }
        });
    }

    // The load: an open loop of playground runs through the api handler.
    let app = coderun_api::app(env.platform.clone(), Arc::new(GatewayClaims::default()));
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let done: Arc<Mutex<HashMap<String, Duration>>> = Arc::default();
    {
        let (sent, done) = (sent.clone(), done.clone());
        let mut finished = env.platform.subscribe();
        tokio::spawn(async move {
            while let Ok(id) = finished.recv().await {
                if let Some(at) = sent.lock().unwrap().get(&id) {
                    done.lock().unwrap().insert(id, at.elapsed());
                }
            }
        });
    }
    // Warm-up: as many jobs as come in one launch delay, all finished;
    // then the steady stream, measured.
    let warmup = ((args.rate * args.launch_delay).ceil() as usize).max(1);
    let total = (args.rate * args.duration).round() as usize;
    let mut phases = Vec::new();
    for (n, grace) in [
        (warmup, delay + Duration::from_secs(120)),
        (total, delay + Duration::from_secs(60)),
    ] {
        let began = Instant::now();
        let mut ids = Vec::new();
        for i in 0..n {
            let due = began + Duration::from_secs_f64(i as f64 / args.rate);
            tokio::time::sleep_until(due.into()).await;
            let body = json!({"language": "python3", "source": "print(sum(map(int, input().split())))",
                              "inputs": [{"stdin": format!("{i} 1\n")}]});
            let at = Instant::now();
            let (status, job) = call(&app, event("POST", "/runs", "bench", Some(body))).await;
            assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{job}");
            let id = job["id"].as_str().unwrap().to_string();
            sent.lock().unwrap().insert(id.clone(), at);
            ids.push(id);
        }
        let deadline = Instant::now() + grace;
        let finished = |ids: &[String]| {
            let done = done.lock().unwrap();
            ids.iter().filter(|id| done.contains_key(*id)).count()
        };
        while finished(&ids) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        phases.push(ids);
    }

    let (mut warm, mut cold, mut waited) = (Vec::new(), Vec::new(), Vec::new());
    // Where a warm job's time goes, from its record: accepted to handed
    // to a runner, handed over to its result applied.
    let (mut to_runner, mut to_result) = (Vec::new(), Vec::new());
    let done = done.lock().unwrap().clone();
    for (phase, ids) in phases.iter().enumerate() {
        for id in ids {
            let Some(took) = done.get(id) else { continue };
            let job = env
                .platform
                .ports()
                .jobs
                .get_job(id)
                .await
                .unwrap()
                .unwrap();
            let ms = took.as_secs_f64() * 1000.0;
            let (_, seq) = runner_of(job.launch.as_deref().unwrap_or("x/x/0"));
            match (seq, phase) {
                (0, _) => cold.push(ms),
                (_, 0) => waited.push(ms),
                _ => {
                    warm.push(ms);
                    if let (Some(start), Some(end)) = (job.started_at, job.finished_at) {
                        to_runner.push((start - job.created_at) as f64);
                        to_result.push((end - start) as f64);
                    }
                }
            }
        }
    }
    let total = warmup + total;
    let sent = sent.lock().unwrap().clone();
    let tasks = env.tasks_started().await;
    let lost = total - done.len();
    if lost > 0 {
        for id in sent.keys().filter(|id| !done.contains_key(*id)) {
            let job = env
                .platform
                .ports()
                .jobs
                .get_job(id)
                .await
                .unwrap()
                .unwrap();
            eprintln!("lost: {} {} {:?}", job.id, job.status, job.launch);
        }
    }
    let summary = json!({
        "warm_p50_ms": percentile(&warm, 50.0).round(),
        "warm_p95_ms": percentile(&warm, 95.0).round(),
        "cold_p50_ms": percentile(&cold, 50.0).round(),
        "cold_starts": tasks,
        "jobs": total,
        "lost": lost,
        "warm_jobs": warm.len(),
        "warmup_jobs": warmup,
        "waited_jobs": waited.len(),
        "launch_delay_s": args.launch_delay,
        "rate": args.rate,
        "duration_s": args.duration,
        "warm_accepted_to_runner_p50_ms": percentile(&to_runner, 50.0).round(),
        "warm_runner_to_result_p50_ms": percentile(&to_result, 50.0).round(),
        "warm_to_cold_p50": (percentile(&warm, 50.0) / percentile(&cold, 50.0) * 1000.0).round() / 1000.0,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{warmup} runs to warm up, then {} at {}/s for {} s; each runner task up {} s after RunTask",
            total - warmup,
            args.rate,
            args.duration,
            args.launch_delay
        );
        println!(
            "warm ({} jobs): p50 {:.0} ms, p95 {:.0} ms",
            warm.len(),
            percentile(&warm, 50.0),
            percentile(&warm, 95.0)
        );
        println!(
            "  of which: accepted to handed to a runner p50 {:.0} ms, handed over to result applied p50 {:.0} ms",
            percentile(&to_runner, 50.0),
            percentile(&to_result, 50.0)
        );
        let dispatches = DISPATCHES.lock().unwrap().clone();
        let took: Vec<f64> = dispatches.iter().map(|d| d.0).collect();
        println!(
            "  dispatches: {}, {} of them found every runner busy; p50 {:.0} ms, p95 {:.0} ms each",
            dispatches.len(),
            dispatches.iter().filter(|d| !d.1).count(),
            percentile(&took, 50.0),
            percentile(&took, 95.0)
        );
        println!(
            "cold ({} jobs, {tasks} runner tasks): p50 {:.0} ms; warm/cold p50 {}",
            cold.len(),
            percentile(&cold, 50.0),
            summary["warm_to_cold_p50"]
        );
        println!(
            "warm-up jobs that waited for a runner: {} jobs, p50 {:.0} ms; lost {lost}",
            waited.len(),
            percentile(&waited, 50.0)
        );
    }
    // The runner processes end with the environment.
    let code = if lost == 0 { 0 } else { 1 };
    drop(app);
    match Arc::try_unwrap(env) {
        Ok(env) => drop(env),
        Err(env) => drop(env.fargate.reap()),
    }
    std::process::exit(code);
}
