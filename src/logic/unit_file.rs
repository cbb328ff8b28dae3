//! Deployment files rendered from a small `Deployment` value: the systemd
//! service unit and the supervisord program section that
//! `allora-worker systemd-unit` prints.
//!
//! Pure: paths arrive as absolute strings, nothing here looks at the
//! filesystem, the process or the environment. Never renders a secret: the
//! mnemonic reaches the worker as a systemd credential (`LoadCredential=`, read
//! from `$CREDENTIALS_DIRECTORY`) or, under supervisord, as `MNEMONIC_FILE`.

use crate::error::{Error, Result};

/// The service name, and the name of the systemd state and logs directories.
pub const NAME: &str = "allora-worker";
/// Data dir under `DynamicUser=yes` (`StateDirectory=allora-worker`).
pub const STATE_DIR: &str = "/var/lib/allora-worker";
/// Log dir under `DynamicUser=yes` (`LogsDirectory=allora-worker`).
pub const LOGS_DIR: &str = "/var/log/allora-worker";
/// `EnvironmentFile=` when none is given; optional (`-` prefix).
pub const DEFAULT_ENV_FILE: &str = "/etc/allora-worker/env";
/// Host file handed to the worker as the `mnemonic` credential by default.
pub const DEFAULT_MNEMONIC_FILE: &str = "/etc/allora-worker/mnemonic";

/// Everything the rendered files depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Absolute path of the worker binary.
    pub binary: String,
    /// Absolute env file; `None` means the optional `DEFAULT_ENV_FILE` for
    /// systemd and no `--env-file` for supervisord.
    pub env_file: Option<String>,
    /// Absolute data dir (`--data-dir`).
    pub data_dir: String,
    /// Absolute log dir (`--log-dir`).
    pub log_dir: String,
    /// Run as this user; `None` means `DynamicUser=yes` under systemd and no
    /// `user=` line (supervisord's own user) under supervisord.
    pub user: Option<String>,
    /// `WatchdogSec=`; the worker pings at a quarter of this interval.
    pub watchdog_sec: u32,
    /// The shortest `WatchdogSec=` allowed: twice the longest one HTTP call
    /// may block (connect + read timeout), rounded up.
    pub min_watchdog_sec: u32,
    /// `run --start-at` / `--stop-at` (RFC 3339), passed through.
    pub start_at: Option<String>,
    pub stop_at: Option<String>,
    /// Absolute `run --metrics-file`, passed through and made writable.
    pub metrics_file: Option<String>,
    /// Absolute host path of the mnemonic file.
    pub mnemonic_file: String,
}

/// Checks every value before it is written into a file that another program
/// parses: absolute paths without whitespace, quotes, backslashes or control
/// characters, a plain user name, a watchdog of at least one second.
pub fn validate(d: &Deployment) -> Result<()> {
    let mut paths = vec![
        ("binary", &d.binary),
        ("data dir", &d.data_dir),
        ("log dir", &d.log_dir),
        ("mnemonic file", &d.mnemonic_file),
    ];
    if let Some(env) = &d.env_file {
        paths.push(("env file", env));
    }
    if let Some(m) = &d.metrics_file {
        paths.push(("--metrics-file", m));
    }
    for (what, path) in paths {
        if !path.starts_with('/') {
            return Err(Error::Usage(format!(
                "{what} {path:?} must be an absolute path"
            )));
        }
        if path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\".contains(c))
        {
            return Err(Error::Usage(format!(
                "{what} {path:?} must not contain whitespace, quotes or backslashes"
            )));
        }
    }
    if let Some(user) = &d.user {
        let mut chars = user.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            return Err(Error::Usage(format!(
                "--user {user:?} is not a valid user name (letters, digits, _ . -)"
            )));
        }
    }
    if d.watchdog_sec == 0 {
        return Err(Error::Usage("--watchdog-sec must be at least 1".into()));
    }
    if d.watchdog_sec < d.min_watchdog_sec {
        return Err(Error::Usage(format!(
            "--watchdog-sec {} is shorter than {} s, twice ALLORA_CONNECT_TIMEOUT + ALLORA_READ_TIMEOUT: \
             one slow HTTP call would get the worker killed",
            d.watchdog_sec, d.min_watchdog_sec
        )));
    }
    for (flag, value) in [("--start-at", &d.start_at), ("--stop-at", &d.stop_at)] {
        if let Some(v) = value {
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":.+-".contains(c))
            {
                return Err(Error::Usage(format!(
                    "{flag} {v:?} is not an RFC 3339 time"
                )));
            }
        }
    }
    Ok(())
}

/// A path in a systemd setting that expands specifiers: `%` becomes `%%`.
fn sd(path: &str) -> String {
    path.replace('%', "%%")
}

/// The `run` flags passed through, each value escaped by `esc`.
fn run_flags(d: &Deployment, esc: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for (flag, value) in [
        ("--start-at", &d.start_at),
        ("--stop-at", &d.stop_at),
        ("--metrics-file", &d.metrics_file),
    ] {
        if let Some(v) = value {
            out.push_str(&format!(" {flag} {}", esc(v)));
        }
    }
    out
}

/// The `ExecStart=` command line: `%` and `$` are escaped for systemd.
fn exec_start(d: &Deployment) -> String {
    let exec = |s: &str| sd(s).replace('$', "$$");
    format!(
        "{} --data-dir {} --log-dir {} run{}",
        exec(&d.binary),
        exec(&d.data_dir),
        exec(&d.log_dir),
        run_flags(d, exec)
    )
}

/// `ProtectHome=`: `read-only` when a path the service uses lies in a home
/// directory (the binary or a writable dir), `yes` otherwise.
fn protect_home(d: &Deployment) -> &'static str {
    let homes = ["/home/", "/root/", "/run/user/"];
    let mut used = vec![&d.binary, &d.data_dir, &d.log_dir];
    used.extend(d.metrics_file.as_ref());
    if used.iter().any(|p| homes.iter().any(|h| p.starts_with(h))) {
        "read-only"
    } else {
        "yes"
    }
}

/// Comment lines at the top of the unit: how to install it.
fn unit_header(d: &Deployment) -> String {
    let mut s = format!(
        "# {NAME}.service, written by `{NAME} systemd-unit`.\n\
         # Install:\n\
         #   sudo install -d -m 700 {dir}\n\
         #   sudo test -e {key} || sudo install -m 600 /dev/stdin {key}   # type the mnemonic, then Ctrl-D\n",
        dir = parent(&d.mnemonic_file),
        key = d.mnemonic_file,
    );
    if let Some(user) = &d.user {
        s.push_str(&format!(
            "#   sudo install -d -o {user} {} {}\n",
            d.data_dir, d.log_dir
        ));
    }
    s.push_str(&format!(
        "#   sudo systemctl enable systemd-time-wait-sync   # a Pi has no clock battery: wait for NTP\n\
         #   sudo cp {NAME}.service /etc/systemd/system/ && sudo systemctl daemon-reload\n\
         #   sudo systemctl enable --now {NAME}; journalctl -u {NAME} -f\n"
    ));
    s
}

/// The directory part of an absolute path (`/` for a top-level file).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The systemd service unit. A clean exit (status 0, e.g. at `--stop-at`) is
/// not restarted (`Restart=on-failure`); a crash or a missed watchdog ping is,
/// at most 5 times in 300 s.
pub fn systemd_unit(d: &Deployment) -> Result<String> {
    validate(d)?;
    let account = match &d.user {
        Some(user) => format!("User={user}\n"),
        None => format!("DynamicUser=yes\nStateDirectory={NAME}\nLogsDirectory={NAME}\n"),
    };
    let env_file = match &d.env_file {
        Some(path) => sd(path),
        None => format!("-{DEFAULT_ENV_FILE}"),
    };
    let mut writable = format!("-{} -{}", sd(&d.data_dir), sd(&d.log_dir));
    if let Some(m) = &d.metrics_file {
        writable.push_str(&format!(" -{}", sd(parent(m))));
    }
    Ok(format!(
        "{header}\
         [Unit]\n\
         Description=Allora network worker\n\
         Wants=network-online.target\n\
         After=network-online.target time-sync.target\n\
         StartLimitIntervalSec=300\n\
         StartLimitBurst=5\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={exec}\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         RestartPreventExitStatus=2\n\
         WatchdogSec={watchdog}\n\
         TimeoutStopSec=30\n\
         {account}\
         EnvironmentFile={env_file}\n\
         LoadCredential=mnemonic:{key}\n\
         MemoryMax=256M\n\
         CPUQuota=50%\n\
         UMask=0077\n\
         {hardening}\
         ProtectHome={home}\n\
         ReadWritePaths={writable}\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        header = unit_header(d),
        exec = exec_start(d),
        watchdog = d.watchdog_sec,
        key = sd(&d.mnemonic_file),
        hardening = HARDENING,
        home = protect_home(d),
    ))
}

/// The sandbox: the worker needs only its two dirs, the network (HTTP,
/// websocket) and Unix sockets (sd_notify, the machine-wide lock). Scores
/// 1.4 ("OK") in `systemd-analyze security`.
const HARDENING: &str = "NoNewPrivileges=yes\n\
     CapabilityBoundingSet=\n\
     AmbientCapabilities=\n\
     ProtectSystem=strict\n\
     PrivateTmp=yes\n\
     PrivateDevices=yes\n\
     PrivateUsers=yes\n\
     ProtectClock=yes\n\
     ProtectHostname=yes\n\
     ProtectKernelTunables=yes\n\
     ProtectKernelModules=yes\n\
     ProtectKernelLogs=yes\n\
     ProtectControlGroups=yes\n\
     ProtectProc=invisible\n\
     RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n\
     RestrictNamespaces=yes\n\
     RestrictRealtime=yes\n\
     RestrictSUIDSGID=yes\n\
     LockPersonality=yes\n\
     MemoryDenyWriteExecute=yes\n\
     RemoveIPC=yes\n\
     KeyringMode=private\n\
     DevicePolicy=closed\n\
     SystemCallArchitectures=native\n\
     SystemCallFilter=@system-service\n\
     SystemCallFilter=~@privileged\n\
     SystemCallErrorNumber=EPERM\n";

/// A path in a supervisord value, where `%(name)s` is expanded: `%` becomes `%%`.
fn sv(path: &str) -> String {
    path.replace('%', "%%")
}

/// The supervisord `[program:allora-worker]` section. `autorestart=unexpected`
/// with `exitcodes=0` mirrors `Restart=on-failure`. The worker writes
/// `worker.log` itself, so supervisord keeps no second copy: stdout (empty
/// for `run`) is dropped and stderr keeps only a 1 MB tail, for what happens
/// before the log dir is usable. SIGTERM stops it within 5 s, well inside
/// `stopwaitsecs`; `stopasgroup` also stops a `--predict-cmd` child.
pub fn supervisord_program(d: &Deployment) -> Result<String> {
    validate(d)?;
    let env_flag = match &d.env_file {
        Some(path) => format!(" --env-file {}", sv(path)),
        None => String::new(),
    };
    let user = match &d.user {
        Some(user) => format!("user={user}\n"),
        None => "; user=NAME   (add this to run unprivileged: systemd-unit --user NAME)\n".into(),
    };
    let log = sv(&d.log_dir);
    Ok(format!(
        "; {NAME} for supervisord, written by `{NAME} systemd-unit --supervisord`.\n\
         ; Save as /etc/supervisor/conf.d/{NAME}.conf, then: supervisorctl reread && supervisorctl update\n\
         ; {key} must be chmod 600 and owned by the user the worker runs as.\n\
         [program:{NAME}]\n\
         command={bin}{env_flag} --data-dir {data} --log-dir {log} run{flags}\n\
         {user}\
         environment=MNEMONIC_FILE=\"{key_value}\"\n\
         autostart=true\n\
         autorestart=unexpected\n\
         exitcodes=0\n\
         startsecs=10\n\
         startretries=5\n\
         stopsignal=TERM\n\
         stopwaitsecs=30\n\
         stopasgroup=true\n\
         killasgroup=true\n\
         stdout_logfile=NONE\n\
         stderr_logfile={log}/supervisord-stderr.log\n\
         stderr_logfile_maxbytes=1MB\n\
         stderr_logfile_backups=0\n",
        key = d.mnemonic_file,
        key_value = sv(&d.mnemonic_file),
        bin = sv(&d.binary),
        data = sv(&d.data_dir),
        flags = run_flags(d, sv),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Deployment {
        Deployment {
            binary: "/usr/local/bin/allora-worker".into(),
            env_file: None,
            data_dir: STATE_DIR.into(),
            log_dir: LOGS_DIR.into(),
            user: None,
            watchdog_sec: 300,
            min_watchdog_sec: 40,
            start_at: None,
            stop_at: None,
            metrics_file: None,
            mnemonic_file: DEFAULT_MNEMONIC_FILE.into(),
        }
    }

    /// The value of `key=` in `text` (first occurrence), if any.
    fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }

    fn check(d: &Deployment, expected: &[(&str, Option<&str>)]) {
        let unit = systemd_unit(d).unwrap();
        for (key, want) in expected {
            assert_eq!(value(&unit, key), *want, "{key} in\n{unit}");
        }
    }

    #[test]
    fn dynamic_user_defaults() {
        check(
            &base(),
            &[
                ("Type", Some("notify")),
                ("DynamicUser", Some("yes")),
                ("User", None),
                ("StateDirectory", Some("allora-worker")),
                ("LogsDirectory", Some("allora-worker")),
                ("WatchdogSec", Some("300")),
                ("Restart", Some("on-failure")),
                ("EnvironmentFile", Some("-/etc/allora-worker/env")),
                (
                    "LoadCredential",
                    Some("mnemonic:/etc/allora-worker/mnemonic"),
                ),
                (
                    "ReadWritePaths",
                    Some("-/var/lib/allora-worker -/var/log/allora-worker"),
                ),
                ("ProtectHome", Some("yes")),
                ("RestartPreventExitStatus", Some("2")),
                ("After", Some("network-online.target time-sync.target")),
                (
                    "ExecStart",
                    Some(
                        "/usr/local/bin/allora-worker --data-dir /var/lib/allora-worker \
                         --log-dir /var/log/allora-worker run",
                    ),
                ),
            ],
        );
    }

    #[test]
    fn named_user_and_own_paths() {
        let d = Deployment {
            user: Some("pi".into()),
            env_file: Some("/home/pi/w/.env".into()),
            data_dir: "/home/pi/w/data%1".into(),
            log_dir: "/home/pi/w/logs$".into(),
            watchdog_sec: 120,
            mnemonic_file: "/home/pi/w/mnemonic".into(),
            metrics_file: Some("/var/lib/node_exporter/aw.prom".into()),
            stop_at: Some("2027-01-01T00:00:00Z".into()),
            ..base()
        };
        check(
            &d,
            &[
                ("User", Some("pi")),
                ("DynamicUser", None),
                ("StateDirectory", None),
                ("WatchdogSec", Some("120")),
                ("EnvironmentFile", Some("/home/pi/w/.env")),
                ("LoadCredential", Some("mnemonic:/home/pi/w/mnemonic")),
                (
                    "ReadWritePaths",
                    Some("-/home/pi/w/data%%1 -/home/pi/w/logs$ -/var/lib/node_exporter"),
                ),
                ("ProtectHome", Some("read-only")),
                (
                    "ExecStart",
                    Some(
                        "/usr/local/bin/allora-worker --data-dir /home/pi/w/data%%1 \
                         --log-dir /home/pi/w/logs$$ run --stop-at 2027-01-01T00:00:00Z \
                         --metrics-file /var/lib/node_exporter/aw.prom",
                    ),
                ),
            ],
        );
        assert!(systemd_unit(&d)
            .unwrap()
            .contains("install -d -o pi /home/pi/w/data%1 /home/pi/w/logs$"));
    }

    #[test]
    fn supervisord_section() {
        let d = Deployment {
            user: Some("pi".into()),
            env_file: Some("/home/pi/.env".into()),
            data_dir: "/home/pi/data".into(),
            log_dir: "/home/pi/logs".into(),
            ..base()
        };
        let s = supervisord_program(&d).unwrap();
        let expected = [
            (
                "command",
                "/usr/local/bin/allora-worker --env-file /home/pi/.env --data-dir /home/pi/data \
                 --log-dir /home/pi/logs run",
            ),
            ("user", "pi"),
            ("autorestart", "unexpected"),
            ("exitcodes", "0"),
            ("stopsignal", "TERM"),
            ("stdout_logfile", "NONE"),
            ("stderr_logfile", "/home/pi/logs/supervisord-stderr.log"),
            ("stderr_logfile_maxbytes", "1MB"),
            ("stderr_logfile_backups", "0"),
            ("stopwaitsecs", "30"),
            (
                "environment",
                "MNEMONIC_FILE=\"/etc/allora-worker/mnemonic\"",
            ),
        ];
        for (key, want) in expected {
            assert_eq!(value(&s, key), Some(want), "{key} in\n{s}");
        }
        let plain = supervisord_program(&base()).unwrap();
        assert!(!plain.contains("--env-file"));
        assert_eq!(value(&plain, "user"), None);
    }

    #[test]
    fn rejects_values_other_programs_would_misread() {
        let cases: Vec<(Deployment, &str)> = vec![
            (
                Deployment {
                    binary: "allora-worker".into(),
                    ..base()
                },
                "absolute",
            ),
            (
                Deployment {
                    data_dir: "/a b".into(),
                    ..base()
                },
                "whitespace",
            ),
            (
                Deployment {
                    log_dir: "/a\nExecStart=/x".into(),
                    ..base()
                },
                "whitespace",
            ),
            (
                Deployment {
                    env_file: Some("/a\"b".into()),
                    ..base()
                },
                "quotes",
            ),
            (
                Deployment {
                    user: Some("pi user".into()),
                    ..base()
                },
                "--user",
            ),
            (
                Deployment {
                    user: Some("9pi".into()),
                    ..base()
                },
                "--user",
            ),
            (
                Deployment {
                    user: Some(String::new()),
                    ..base()
                },
                "--user",
            ),
            (
                Deployment {
                    watchdog_sec: 0,
                    ..base()
                },
                "--watchdog-sec",
            ),
            (
                Deployment {
                    watchdog_sec: 39,
                    ..base()
                },
                "--watchdog-sec 39 is shorter than 40 s",
            ),
            (
                Deployment {
                    start_at: Some("tomorrow 9am".into()),
                    ..base()
                },
                "--start-at",
            ),
        ];
        for (d, needle) in cases {
            let err = systemd_unit(&d).unwrap_err().to_string();
            assert!(err.contains(needle), "{d:?}: {err}");
            assert!(supervisord_program(&d).is_err());
        }
        assert!(validate(&Deployment {
            user: Some("_svc-1.a".into()),
            ..base()
        })
        .is_ok());
    }

    #[test]
    fn parent_dir() {
        assert_eq!(parent("/etc/allora-worker/mnemonic"), "/etc/allora-worker");
        assert_eq!(parent("/mnemonic"), "/");
    }
}
