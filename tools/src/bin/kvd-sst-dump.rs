//! `kvd-sst-dump`: shows what is inside kvd SSTable files, and verifies them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use kvd_tools::bytes::Encoding;
use kvd_tools::sst_dump::{self, text, DumpOptions, Sections, TableDump};
use kvd_tools::{std_fs, Error, Result, EXIT_OK};

const EXIT_HELP: &str = "\
Exit codes:
  0  every file was read (and, with --verify, verified) without problems
  1  corruption: a file is not a kvd table, is truncated, or fails a check
  2  usage or I/O error (bad arguments, missing or unreadable file)

With several files, each is processed in turn and the exit code is the worst one.
With --json, each file produces one JSON object on its own line (JSON Lines); a file that
fails produces {\"file\": ..., \"error\": ..., \"corruption\": true|false} and the message also
goes to stderr.";

/// Shows the footer, properties, index, bloom filter and entries of kvd SSTable files, or
/// verifies them. With no section flag, every section is shown.
#[derive(Parser, Debug)]
#[command(name = "kvd-sst-dump", version, about, after_help = EXIT_HELP)]
struct Args {
    /// Table files (NNNNNN.sst).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Show the footer (format version, block handles).
    #[arg(long)]
    footer: bool,
    /// Show the properties (counts, key and seqno ranges, expiry, compression, sizes).
    #[arg(long)]
    properties: bool,
    /// Show the index (block handles and separator keys).
    #[arg(long)]
    index: bool,
    /// Show the bloom filter parameters and size.
    #[arg(long)]
    bloom: bool,
    /// Show the entries (user key, seqno, kind, expiry, value preview).
    #[arg(long)]
    entries: bool,
    /// Check every block checksum, the key order and the properties instead of dumping; stops
    /// at a file's first problem and reports its file, offset and what is wrong.
    #[arg(long, conflicts_with_all = ["footer", "properties", "index", "bloom", "entries"])]
    verify: bool,
    /// Only entries with user key >= FROM (escaped form, or hex with --hex).
    #[arg(long)]
    from: Option<String>,
    /// Only entries with user key < TO (escaped form, or hex with --hex).
    #[arg(long)]
    to: Option<String>,
    /// At most this many entries.
    #[arg(long)]
    limit: Option<u64>,
    /// Show (and read --from/--to) keys and values as hex instead of escaped text.
    #[arg(long)]
    hex: bool,
    /// Characters of each value shown in text output (0: whole values; JSON is always whole).
    #[arg(long, default_value_t = 64)]
    max_value: usize,
    /// Machine-readable output: one JSON object per file.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kvd-sst-dump: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let mut out = io::stdout().lock();
    let mut worst = EXIT_OK;
    for file in &args.files {
        if let Err(e) = run_one(&args, &opts, file, &mut out) {
            if matches!(e, Error::Output(_)) {
                return ExitCode::from(e.exit_code());
            }
            eprintln!("kvd-sst-dump: {}: {e}", file.display());
            if args.json {
                let obj = serde_json::json!({
                    "file": file.display().to_string(),
                    "error": e.to_string(),
                    "corruption": e.is_corruption(),
                });
                let _ = writeln!(out, "{obj}");
            }
            worst = worst.max(e.exit_code());
        }
    }
    let _ = out.flush();
    ExitCode::from(worst)
}

fn options(args: &Args) -> Result<DumpOptions> {
    let encoding = Encoding::from_hex_flag(args.hex);
    let parse = |what: &str, s: &Option<String>| -> Result<Option<Vec<u8>>> {
        s.as_deref().map(|s| encoding.parse(s).map_err(|e| Error::Usage(format!("--{what}: {e}")))).transpose()
    };
    Ok(DumpOptions {
        sections: Sections {
            footer: args.footer,
            properties: args.properties,
            index: args.index,
            bloom: args.bloom,
            entries: args.entries,
        },
        from: parse("from", &args.from)?,
        to: parse("to", &args.to)?,
        limit: args.limit,
        encoding,
        max_value: args.max_value,
    })
}

fn run_one(args: &Args, opts: &DumpOptions, file: &Path, out: &mut dyn Write) -> Result<()> {
    let fs = std_fs();
    if args.verify {
        let v = sst_dump::verify(&*fs, file)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&v).map_err(|e| Error::Usage(e.to_string()))?)?;
        } else {
            text::write_verified(out, &v)?;
        }
        return Ok(());
    }
    let table = sst_dump::open_table(&*fs, file)?;
    if args.json {
        let dump = TableDump::collect(&table, opts, true)?;
        writeln!(out, "{}", serde_json::to_string(&dump).map_err(|e| Error::Usage(e.to_string()))?)?;
        return Ok(());
    }
    let dump = TableDump::collect(&table, opts, false)?;
    text::write_sections(out, &dump)?;
    if opts.sections.or_all().entries {
        writeln!(out, "entries:")?;
        let n = sst_dump::for_each_entry(&table, opts, |e| Ok(text::write_entry(out, &e, opts.max_value)?))?;
        writeln!(out, "  ({n} shown)")?;
    }
    Ok(())
}
