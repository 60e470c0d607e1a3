//! Evaluates a TREC run file against qrels (TREC or BEIR TSV) and prints the means,
//! with the seconds spent reading and evaluating.
//!
//! ```sh
//! cargo run --release -p tartan-datasets --example eval_run -- qrels.txt run.trec [ndcg@10 recall@100 mrr@10 ...]
//! ```

use std::time::Instant;

use tartan_datasets::{evaluate, Measure, Qrels, Result, Run};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: eval_run <qrels> <run> [measure ...]");
        std::process::exit(2);
    }
    let measures: Vec<Measure> = if args.len() > 2 {
        args[2..].iter().map(|m| m.parse()).collect::<Result<_>>()?
    } else {
        vec![Measure::Ndcg(10), Measure::Recall(100), Measure::Mrr(10)]
    };
    let start = Instant::now();
    let qrels = Qrels::read(args[0].as_ref())?;
    let run = Run::read_trec(args[1].as_ref())?;
    let read = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let evaluation = evaluate(&qrels, &run, &measures);
    let eval = start.elapsed().as_secs_f64();
    println!("{evaluation}");
    for (m, v) in evaluation.means() {
        println!("{} {v:?}", m.trec_name());
    }
    println!(
        "read {} judgments and {} run entries in {read:.2} s; evaluated in {eval:.2} s",
        qrels.len(),
        run.len()
    );
    Ok(())
}
