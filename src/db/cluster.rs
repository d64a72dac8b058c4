//! The throwaway PostgreSQL cluster: found binaries, `initdb`, `pg_ctl start`, and removal on
//! drop (plus a detached reaper that removes it even if this process is killed).

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

/// Settings a throwaway cluster runs with. They favour load speed over durability, which is
/// fine for a cluster that is deleted at exit; every report lists them. `wal_level = minimal`
/// lets a COPY into a table truncated in the same transaction skip the WAL (the seeder's
/// load), as PostgreSQL's "Populating a Database" advises.
pub const THROWAWAY_SETTINGS: &[(&str, &str)] = &[
    ("wal_level", "minimal"),
    ("max_wal_senders", "0"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("shared_buffers", "512MB"),
    ("max_wal_size", "4GB"),
    ("checkpoint_timeout", "30min"),
    ("maintenance_work_mem", "256MB"),
    ("max_connections", "200"),
    ("autovacuum", "on"),
];

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl in {searched}); \
         install them with `apt-get install -y postgresql`, put their directory on PATH, \
         or pass --pg-bin DIR (or set DATABASE_URL to use an existing server)"
    )]
    NoBinaries { searched: String },
    #[error("{program} failed ({status}): {output}")]
    Command {
        program: String,
        status: String,
        output: String,
    },
    #[error("could not {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("running as root, and the unprivileged user `postgres` does not exist to run the server as (create it, e.g. `apt-get install -y postgresql`)")]
    NoUnprivilegedUser,
}

/// Where the server binaries live and which major version they are.
#[derive(Debug, Clone, Serialize)]
pub struct PgBinaries {
    pub dir: PathBuf,
    pub version: String,
}

impl PgBinaries {
    /// Finds `initdb` + `pg_ctl`: an explicit directory, else PATH, else the newest
    /// /usr/lib/postgresql/<major>/bin.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, ClusterError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = explicit {
            candidates.push(dir.to_path_buf());
        } else {
            if let Some(path) = std::env::var_os("PATH") {
                candidates.extend(std::env::split_paths(&path));
            }
            let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect();
            majors.sort_by_key(|m| std::cmp::Reverse(m.0));
            candidates.extend(majors.into_iter().map(|(_, p)| p));
        }
        for dir in &candidates {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                // Follow symlinks (e.g. /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin):
                // the installation's directory is where its other binaries and its
                // libraries (pg_stat_statements) are.
                let dir = &std::fs::canonicalize(dir.join("pg_ctl"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|real| real.join("initdb").is_file())
                    .unwrap_or_else(|| dir.clone());
                let version = command_output(Command::new(dir.join("postgres")).arg("--version"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "unknown".into());
                return Ok(Self {
                    dir: dir.clone(),
                    version,
                });
            }
        }
        Err(ClusterError::NoBinaries {
            searched: if explicit.is_some() {
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                "PATH and /usr/lib/postgresql/*/bin".into()
            },
        })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A running throwaway cluster. Stopped and deleted when dropped.
pub struct Cluster {
    pub binaries: PgBinaries,
    pub port: u16,
    pub settings: Vec<(String, String)>,
    root: PathBuf,
    run_as: Option<String>,
    stopped: bool,
    /// Kept between runs: stopped, never deleted.
    persistent: bool,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish()
    }
}

impl Cluster {
    /// Creates and starts a cluster in a fresh temporary directory, listening on 127.0.0.1 only.
    pub fn start(binaries: PgBinaries, extra: &[(String, String)]) -> Result<Self, ClusterError> {
        let root = std::env::temp_dir().join(format!(
            "intellacc-bench-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        Self::start_at(binaries, root, false, extra)
    }

    /// Starts a cluster kept in `root` between runs (created on first use): stopped, not
    /// deleted, on drop. The criterion benches seed into one once per (seed, scale).
    pub fn start_persistent(binaries: PgBinaries, root: PathBuf) -> Result<Self, ClusterError> {
        Self::start_at(binaries, root, true, &[])
    }

    fn start_at(
        binaries: PgBinaries,
        root: PathBuf,
        persistent: bool,
        extra: &[(String, String)],
    ) -> Result<Self, ClusterError> {
        let run_as = if is_root() {
            if command_output(Command::new("id").args(["-u", "postgres"])).is_err() {
                return Err(ClusterError::NoUnprivilegedUser);
            }
            Some("postgres".to_string())
        } else {
            None
        };
        std::fs::create_dir_all(&root).map_err(|source| ClusterError::Io {
            action: "create",
            path: root.clone(),
            source,
        })?;
        let mut cluster = Cluster {
            binaries,
            port: 0,
            settings: Vec::new(),
            root,
            run_as,
            stopped: true,
            persistent,
        };
        // From here on, Drop (and the reaper, if this process dies) cleans up whatever fails.
        // A persistent cluster's reaper starts once the server runs (see below).
        if !persistent {
            cluster.spawn_reaper(None);
        }
        if let Some(user) = &cluster.run_as {
            chown_recursive(&cluster.root, user)?;
        }
        let data = cluster.data_dir();
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addresses".into(), "'127.0.0.1'".into()),
            (
                "unix_socket_directories".into(),
                format!("'{}'", cluster.root.display()),
            ),
        ];
        settings.extend(
            THROWAWAY_SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        if cluster.has_library("pg_stat_statements") {
            settings.push((
                "shared_preload_libraries".into(),
                "'pg_stat_statements'".into(),
            ));
        }
        settings.extend(extra.iter().cloned());
        if !data.join("PG_VERSION").is_file() {
            cluster.run(
                cluster.binaries.bin("initdb"),
                &[
                    "-D",
                    path_str(&data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            )?;
            let conf: String = settings
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect();
            let conf_path = data.join("postgresql.conf");
            let mut existing =
                std::fs::read_to_string(&conf_path).map_err(|source| ClusterError::Io {
                    action: "read",
                    path: conf_path.clone(),
                    source,
                })?;
            existing.push_str("\n# intellacc-bench throwaway settings\n");
            existing.push_str(&conf);
            std::fs::write(&conf_path, existing).map_err(|source| ClusterError::Io {
                action: "write",
                path: conf_path.clone(),
                source,
            })?;
        }
        cluster.port = free_port().map_err(|source| ClusterError::Io {
            action: "find a free port on",
            path: "127.0.0.1".into(),
            source,
        })?;
        // The port changes every start, so it is given on the command line, not in the file.
        let port_opt = format!("-p {}", cluster.port);
        let log = cluster.root.join("server.log");
        cluster.run(
            cluster.binaries.bin("pg_ctl"),
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &port_opt,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        cluster.stopped = false;
        if persistent {
            // Stop only the server this process started, not one a later run starts in the
            // same directory after this process is gone.
            let pid = std::fs::read_to_string(data.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().map(str::to_string));
            cluster.spawn_reaper(pid);
        }
        settings.insert(1, ("port".into(), cluster.port.to_string()));
        cluster.settings = settings;
        Ok(cluster)
    }

    /// The connection URL of a database in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn has_library(&self, name: &str) -> bool {
        let lib = self
            .binaries
            .dir
            .parent()
            .map(|p| p.join("lib"))
            .unwrap_or_default();
        lib.join(format!("{name}.so")).is_file()
            || lib.join("postgresql").join(format!("{name}.so")).is_file()
    }

    fn command(&self, program: PathBuf) -> Command {
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: PathBuf, args: &[&str]) -> Result<(), ClusterError> {
        let mut cmd = self.command(program.clone());
        cmd.args(args).current_dir(&self.root);
        command_output(&mut cmd).map(|_| ()).map_err(|e| match e {
            ClusterError::Command { status, output, .. } => ClusterError::Command {
                program: program.display().to_string(),
                status,
                output,
            },
            other => other,
        })
    }

    /// A detached shell that waits for this process to exit and then stops the server and
    /// deletes the directory, so that even a SIGKILL leaves nothing running behind.
    fn spawn_reaper(&self, server_pid: Option<String>) {
        let pg_ctl = self.binaries.bin("pg_ctl");
        let stop = match &self.run_as {
            Some(user) => format!(
                "runuser -u {user} -- '{}' -D '{}' -m immediate stop",
                pg_ctl.display(),
                self.data_dir().display()
            ),
            None => format!(
                "'{}' -D '{}' -m immediate stop",
                pg_ctl.display(),
                self.data_dir().display()
            ),
        };
        let remove = if self.persistent {
            String::new()
        } else {
            format!("rm -rf '{}';", self.root.display())
        };
        let guard = match server_pid {
            Some(pid) => format!(
                "[ \"$(head -n 1 '{}' 2>/dev/null)\" = '{pid}' ]",
                self.data_dir().join("postmaster.pid").display()
            ),
            None => format!("[ -d '{}' ]", self.root.display()),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if {guard}; then {stop} >/dev/null 2>&1; {remove} fi",
            pid = std::process::id(),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// Stops the server and removes its directory (unless persistent).
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let data = self.data_dir();
            let _ = self.run(
                self.binaries.bin("pg_ctl"),
                &["-D", path_str(&data), "-m", "fast", "-w", "stop"],
            );
        }
        if !self.persistent {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn is_root() -> bool {
    command_output(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:08x}")
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn chown_recursive(path: &Path, user: &str) -> Result<(), ClusterError> {
    let mut cmd = Command::new("chown");
    cmd.args(["-R", user]).arg(path);
    command_output(&mut cmd).map(|_| ())
}

fn command_output(cmd: &mut Command) -> Result<String, ClusterError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Io {
            action: "run",
            path: program.clone().into(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ClusterError::Command {
            program,
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_string(),
        })
    }
}
