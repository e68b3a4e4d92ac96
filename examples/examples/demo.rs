//! The demo: an outage on loopback, with and without bulwark, side by side.
//!
//! ```sh
//! cargo run --release --example demo
//! cargo run --release --example demo -- --seed 7 --duration 30 --rps 500 --out demo.svg
//! ```
//!
//! Three hyper replicas run on 127.0.0.1: one goes dark in the middle of the run, one answers
//! 500 to a fifth of its requests, one has latency spikes. A bare hyper-util client and the
//! same client inside bulwark's stack send the same open-loop load to identical, identically
//! seeded sets of replicas. A status line shows the run; at the end a table compares the two
//! clients, and an SVG chart shows their success rate and p99 latency per second. See
//! `bulwark_examples::demo` for what each layer is set to and why.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bulwark_examples::demo::{run, Scenario};
use bulwark_policy::BoxError;

const USAGE: &str = "\
usage: cargo run --release --example demo -- [OPTIONS]

  --seed N        seed of every fault and random choice (default 1)
  --duration S    seconds of load (default 20)
  --rps N         requests per second, for each client (default 300)
  --out PATH      where to write the SVG chart (default target/demo.svg)
  --quiet         no live status line
  -h, --help      this help";

struct Options {
    scenario: Scenario,
    out: PathBuf,
}

fn value<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot read {value:?}"))
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut scenario = Scenario::default();
    let mut out = PathBuf::from("target/demo.svg");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => scenario.seed = value(&arg, args.next())?,
            "--duration" => {
                let seconds: f64 = value(&arg, args.next())?;
                scenario.duration = Duration::try_from_secs_f64(seconds)
                    .map_err(|_| format!("--duration: cannot use {seconds}"))?;
            }
            "--rps" => scenario.rps = value(&arg, args.next())?,
            "--out" => out = value(&arg, args.next())?,
            "--quiet" => scenario.live = false,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    scenario.validate().map_err(|e| e.to_string())?;
    Ok(Some(Options { scenario, out }))
}

async fn demo(options: Options) -> Result<(), BoxError> {
    let Options { scenario, out } = options;
    eprintln!("bulwark demo: {scenario}");
    let report = run(&scenario).await?;
    #[allow(clippy::print_stdout)]
    {
        println!("{}", report.table());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    report.write_chart(&out)?;
    eprintln!("chart: {}", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(demo(options)),
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo failed: {err}");
            ExitCode::FAILURE
        }
    }
}
