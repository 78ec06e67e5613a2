//! `kvd-admin`: verify a database, dump its logs and manifest, back it up and restore it.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kvd_tools::admin::backup::{self, Source};
use kvd_tools::admin::restore::{self, RestoreOptions};
use kvd_tools::admin::store::{format_utc, BackupStore};
use kvd_tools::admin::{manifest_dump, query, query_remote, verify, wal_dump};
use kvd_tools::bytes::Encoding;
use kvd_tools::progress::Progress;
use kvd_tools::{std_fs, Error, Result, EXIT_CORRUPT, EXIT_OK};

const EXIT_HELP: &str = "\
Exit codes:
  0  success; for verify and verify-backup: nothing wrong was found
  1  corruption: a damaged file, a failed verification, an unhealthy database
  2  usage or I/O error (bad arguments, missing files, a database or store in use)

Progress bars (bytes and rate) are drawn on stderr when stdout is a terminal, unless --quiet.
Logs go to stderr; -v shows info, -vv debug (or set RUST_LOG).";

/// Operator tool for kvd databases.
#[derive(Parser, Debug)]
#[command(name = "kvd-admin", version, about, after_help = EXIT_HELP)]
struct Cli {
    /// Machine-readable JSON output on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More logging on stderr (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a database directory: manifest, every table's checksums, live logs, key ranges
    /// per level, orphan files. Exits 0 when healthy, 1 when not. The database must be closed.
    Verify {
        /// The database directory.
        db_dir: PathBuf,
    },
    /// Print the records of a write-ahead log (NNNNNN.log) and the writes in them.
    WalDump {
        /// The log file.
        file: PathBuf,
        /// How damage is treated: tolerate (a torn tail ends the log), absolute (any damage is
        /// an error) or point-in-time (stop quietly at the first damage).
        #[arg(long, default_value = "tolerate", value_parser = wal_dump::parse_mode)]
        mode: kvd::RecoveryMode,
        /// Keys and values as hex instead of escaped text.
        #[arg(long)]
        hex: bool,
        /// Characters of each value shown in text output (0: whole values).
        #[arg(long, default_value_t = 64)]
        max_value: usize,
    },
    /// Print every version edit of a database's live manifest (or of a MANIFEST file) and the
    /// state they add up to.
    ManifestDump {
        /// A database directory or a MANIFEST-NNNNNN file.
        path: PathBuf,
        /// Keys as hex instead of escaped text.
        #[arg(long)]
        hex: bool,
    },
    /// Take a consistent, incremental backup: only tables the backup directory does not hold
    /// yet are copied.
    Backup {
        /// A database directory (opened by this tool, so it must not be open elsewhere), or a
        /// running server's address.
        source: String,
        /// The backup directory (created if missing).
        backup_dir: PathBuf,
    },
    /// Restore a backup into a new database directory, after verifying every checksum.
    Restore {
        /// The backup directory.
        backup_dir: PathBuf,
        /// The directory to restore into: missing or empty, unless --force.
        new_db_dir: PathBuf,
        /// The backup to restore (default: the latest).
        #[arg(long)]
        backup: Option<u64>,
        /// Replace the kvd files in a non-empty directory.
        #[arg(long)]
        force: bool,
    },
    /// List the backups in a backup directory.
    List {
        /// The backup directory.
        backup_dir: PathBuf,
    },
    /// Delete a backup and every stored file no other backup needs.
    Delete {
        /// The backup directory.
        backup_dir: PathBuf,
        /// The backup id.
        id: u64,
    },
    /// Run a SQL query (`SELECT ... FROM namespace ...`, or `EXPLAIN SELECT ...`) over the
    /// documents of a database; prints a table, or the rows as JSON with --json. The database
    /// must be closed, or be named by the address of the server running it.
    Query {
        /// A database directory (opened by this tool, so it must not be open elsewhere), or a
        /// running server's address.
        source: String,
        /// The query.
        sql: String,
        /// Print at most this many rows, then a continuation token if more remain.
        #[arg(long)]
        page_size: Option<usize>,
        /// Resume after the page that printed this token (same query).
        #[arg(long)]
        continuation: Option<String>,
    },
    /// List the secondary indexes of a database with their state and build progress. The
    /// database must be closed, or be named by the address of the server running it (which
    /// lists only: --resume and --verify need the directory).
    Indexes {
        /// A database directory (opened by this tool, so it must not be open elsewhere), or a
        /// running server's address.
        source: String,
        /// Finish index builds a crash interrupted.
        #[arg(long)]
        resume: bool,
        /// Check every index against its documents; exits 1 if any disagrees.
        #[arg(long)]
        verify: bool,
    },
    /// Verify the checksums of every file of a backup (default: of every backup).
    VerifyBackup {
        /// The backup directory.
        backup_dir: PathBuf,
        /// Only this backup.
        #[arg(long)]
        backup: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let progress = Progress::for_terminal(cli.quiet);
    let mut out = io::stdout().lock();
    let code = match run(&cli, &progress, &mut out) {
        Ok(code) => code,
        Err(e) => {
            progress.finish();
            eprintln!("kvd-admin: {e}");
            if cli.json {
                let obj = serde_json::json!({ "error": e.to_string(), "corruption": e.is_corruption() });
                let _ = writeln!(out, "{obj}");
            }
            e.exit_code()
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_writer(io::stderr).with_env_filter(filter).try_init();
}

fn json(out: &mut dyn Write, v: &impl serde::Serialize) -> Result<()> {
    let s = serde_json::to_string(v).map_err(|e| Error::Usage(format!("encoding JSON: {e}")))?;
    writeln!(out, "{s}")?;
    Ok(())
}

fn run(cli: &Cli, progress: &Progress, out: &mut dyn Write) -> Result<u8> {
    let fs = std_fs();
    match &cli.command {
        Command::Verify { db_dir } => {
            let r = verify::verify_db(&*fs, db_dir, progress)?;
            if cli.json {
                json(out, &serde_json::json!({ "healthy": r.healthy(), "report": r }))?;
            } else {
                write_verify(out, &r)?;
            }
            Ok(if r.healthy() { EXIT_OK } else { EXIT_CORRUPT })
        }
        Command::WalDump { file, mode, hex, max_value } => {
            let enc = Encoding::from_hex_flag(*hex);
            if cli.json {
                let mut records = Vec::new();
                let r = wal_dump::walk(&*fs, file, *mode, enc, |rec| {
                    records.push(rec);
                    Ok(())
                });
                return match r {
                    Ok(s) => json(out, &serde_json::json!({ "summary": s, "records": records })).map(|()| EXIT_OK),
                    Err(e) => {
                        json(out, &serde_json::json!({ "records": records, "error": e.to_string() }))?;
                        eprintln!("kvd-admin: {e}");
                        Ok(e.exit_code())
                    }
                };
            }
            let s = wal_dump::walk(&*fs, file, *mode, enc, |rec| Ok(wal_dump::write_record(out, &rec, *max_value)?))?;
            wal_dump::write_summary(out, &s)?;
            Ok(EXIT_OK)
        }
        Command::ManifestDump { path, hex } => {
            let d = manifest_dump::dump(&*fs, path, Encoding::from_hex_flag(*hex))?;
            if cli.json {
                json(out, &d)?;
            } else {
                manifest_dump::write_text(out, &d)?;
            }
            Ok(EXIT_OK)
        }
        Command::Backup { source, backup_dir } => {
            let store = BackupStore::create(fs, backup_dir)?;
            let r = match Source::parse(source) {
                Source::Dir(dir) => backup::backup_dir(&dir, &store, progress)?,
                Source::Server(addr) => backup::backup_server(&addr, &store, progress)?,
            };
            if cli.json {
                json(out, &r)?;
            } else {
                writeln!(
                    out,
                    "backup {} at seqno {}: {} tables ({} copied, {} already stored); copied {} of {} bytes",
                    r.id, r.seqno, r.tables, r.tables_copied, r.tables_reused, r.bytes_copied, r.bytes_total
                )?;
            }
            Ok(EXIT_OK)
        }
        Command::Restore { backup_dir, new_db_dir, backup, force } => {
            let store = BackupStore::open(fs, backup_dir)?;
            let opts = RestoreOptions { backup: *backup, force: *force };
            let r = restore::restore(&store, new_db_dir, opts, progress)?;
            if cli.json {
                json(out, &r)?;
            } else {
                writeln!(
                    out,
                    "restored backup {} (seqno {}) into {}: {} tables, {} bytes",
                    r.id, r.seqno, r.target, r.tables, r.bytes
                )?;
            }
            Ok(EXIT_OK)
        }
        Command::List { backup_dir } => {
            let store = BackupStore::open(fs, backup_dir)?;
            let all = store.list()?;
            if cli.json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "id": m.id, "created_at_ms": m.created_at_ms, "seqno": m.seqno, "source": m.source,
                            "tables": m.tables.len(), "bytes": m.total_bytes(), "bytes_copied": m.bytes_copied,
                        })
                    })
                    .collect();
                json(out, &rows)?;
            } else {
                writeln!(
                    out,
                    "{:>6}  {:<23}  {:>12}  {:>6}  {:>14}  {:>14}",
                    "id", "created", "seqno", "tables", "bytes", "new bytes"
                )?;
                for m in &all {
                    writeln!(
                        out,
                        "{:>6}  {:<23}  {:>12}  {:>6}  {:>14}  {:>14}",
                        m.id,
                        format_utc(m.created_at_ms),
                        m.seqno,
                        m.tables.len(),
                        m.total_bytes(),
                        m.bytes_copied
                    )?;
                }
            }
            Ok(EXIT_OK)
        }
        Command::Delete { backup_dir, id } => {
            let store = BackupStore::open(fs, backup_dir)?;
            let r = store.delete(*id)?;
            if cli.json {
                json(out, &r)?;
            } else {
                writeln!(
                    out,
                    "deleted backup {id}; removed {} unreferenced files ({} bytes)",
                    r.files_removed, r.bytes_freed
                )?;
            }
            Ok(EXIT_OK)
        }
        Command::Query { source, sql, page_size, continuation } => {
            let q = match Source::parse(source) {
                Source::Dir(dir) => query::run(&dir, sql, *page_size, continuation.clone())?,
                Source::Server(addr) => query_remote::run(&addr, sql, *page_size, continuation.clone())?,
            };
            if cli.json {
                json(out, &q)?;
            } else {
                query::write_table(out, &q)?;
            }
            Ok(EXIT_OK)
        }
        Command::Indexes { source, resume, verify } => {
            let r = match Source::parse(source) {
                Source::Dir(dir) => query::indexes(&dir, *resume, *verify)?,
                Source::Server(addr) => query_remote::indexes(&addr, *resume, *verify)?,
            };
            let ok = r.problems.as_ref().is_none_or(Vec::is_empty);
            if cli.json {
                json(out, &r)?;
            } else {
                query::write_indexes(out, &r)?;
            }
            Ok(if ok { EXIT_OK } else { EXIT_CORRUPT })
        }
        Command::VerifyBackup { backup_dir, backup } => {
            let store = BackupStore::open(fs, backup_dir)?;
            let checks = restore::verify_backups(&store, *backup, progress)?;
            let ok = checks.iter().all(|c| c.ok());
            if cli.json {
                json(out, &serde_json::json!({ "ok": ok, "backups": checks }))?;
            } else {
                for c in &checks {
                    let status = if c.ok() { "OK" } else { "DAMAGED" };
                    writeln!(
                        out,
                        "backup {} (seqno {}): {status}, {} files, {} bytes",
                        c.id, c.seqno, c.files_checked, c.bytes_checked
                    )?;
                    for p in &c.problems {
                        writeln!(out, "  problem: {p}")?;
                    }
                }
                if checks.is_empty() {
                    writeln!(out, "no backups")?;
                }
            }
            Ok(if ok { EXIT_OK } else { EXIT_CORRUPT })
        }
    }
}

fn write_verify(out: &mut dyn Write, r: &verify::DbReport) -> io::Result<()> {
    writeln!(
        out,
        "{}: manifest {}, last seqno {}; checked {} tables and {} logs ({} entries, {} bytes)",
        r.dir,
        r.manifest.as_deref().unwrap_or("unreadable"),
        r.last_seqno.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
        r.tables_checked,
        r.logs_checked,
        r.entries_checked,
        r.bytes_checked
    )?;
    for w in &r.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    for p in &r.problems {
        writeln!(out, "  problem: {p}")?;
    }
    if r.healthy() {
        writeln!(out, "healthy")
    } else {
        writeln!(out, "NOT healthy: {} problems", r.problems.len())
    }
}
