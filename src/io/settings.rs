//! Gathers configuration from the outside world: the process environment, the
//! env file (`--env-file`, or `./.env` when present), the systemd credential
//! directory, and the mnemonic itself. Hands everything to `config::build`.
//!
//! The mnemonic file must not be readable by group or others unless
//! `--insecure-key-file` is given. Nothing here logs or prints a secret.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, GlobalFlags, MnemonicSource, Sources};
use crate::error::{Error, Result};
use crate::logic::envfile;
use crate::logic::secret::Secret;
use crate::logic::wallet::Wallet;

/// Reads the environment and the env file and builds the configuration.
pub fn load(flags: &GlobalFlags) -> Result<Config> {
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let (file, file_name) = match &flags.env_file {
        Some(path) => (read_env_file(path)?, path.display().to_string()),
        None if Path::new(".env").is_file() => {
            (read_env_file(Path::new(".env"))?, ".env".to_string())
        }
        None => (Vec::new(), String::new()),
    };
    let credential = env
        .iter()
        .chain(file.iter())
        .rev()
        .find(|(k, _)| k == "CREDENTIALS_DIRECTORY")
        .map(|(_, v)| PathBuf::from(v).join("mnemonic"))
        .filter(|p| p.is_file());
    config::build(&Sources {
        env,
        file,
        file_name,
        flags: flags.clone(),
        credential,
    })
}

/// The data and log dirs as far as they can be told without a valid
/// configuration (flags, the environment, the env file, the defaults), so a
/// `run` whose configuration is refused can still say why where a detached
/// user looks.
pub fn fallback_dirs(flags: &GlobalFlags) -> (PathBuf, PathBuf) {
    let file: Vec<(String, String)> = match &flags.env_file {
        Some(path) => read_env_file(path).unwrap_or_default(),
        None => read_env_file(Path::new(".env")).unwrap_or_default(),
    };
    let pick = |flag: &Option<PathBuf>, key: &str| -> PathBuf {
        flag.clone()
            .or_else(|| {
                std::env::var(key)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| {
                file.iter()
                    .find(|(k, v)| k == key && !v.trim().is_empty())
                    .map(|(_, v)| PathBuf::from(v))
            })
            .unwrap_or_else(|| PathBuf::from(config::default_of(key)))
    };
    (
        pick(&flags.data_dir, "ALLORA_DATA_DIR"),
        pick(&flags.log_dir, "ALLORA_LOG_DIR"),
    )
}

fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = fs::read_to_string(path).map_err(|e| Error::Config {
        key: "--env-file".into(),
        problem: format!("cannot read {}: {e}", path.display()),
    })?;
    let parsed = envfile::parse(&text, &path.display().to_string())?;
    Ok(parsed.into_iter().map(|a| (a.key, a.value)).collect())
}

/// Loads the mnemonic from its configured source and derives the wallet,
/// checking `ALLORA_WALLET_ADDR` when it is set.
pub fn load_wallet(config: &Config) -> Result<Wallet> {
    let mnemonic = match &config.mnemonic {
        MnemonicSource::Credential(path) => read_secret_file(path, "the systemd credential", true)?,
        MnemonicSource::File(path) => {
            read_secret_file(path, "MNEMONIC_FILE", config.insecure_key_file)?
        }
        MnemonicSource::Inline(m) => m.clone(),
        MnemonicSource::Missing => return Err(Error::Wallet(
            "no mnemonic configured: set MNEMONIC_FILE (a chmod 600 file, preferred), MNEMONIC, \
                 or a systemd credential named mnemonic"
                .into(),
        )),
    };
    let wallet = Wallet::from_mnemonic(&mnemonic)?;
    if let Some(expected) = &config.wallet_addr {
        if expected != wallet.address() {
            return Err(Error::config(
                "ALLORA_WALLET_ADDR",
                format!(
                    "is {expected} but the mnemonic derives {}",
                    wallet.address()
                ),
            ));
        }
    }
    Ok(wallet)
}

fn read_secret_file(path: &Path, what: &str, allow_shared: bool) -> Result<Secret<String>> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| Error::Wallet(format!("{what} {shown}: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && !allow_shared {
        return Err(Error::Wallet(format!(
            "{what} {shown} is readable by group or others (mode {mode:o}); run chmod 600 {shown} \
             (or pass --insecure-key-file)"
        )));
    }
    let text =
        fs::read_to_string(path).map_err(|e| Error::Wallet(format!("{what} {shown}: {e}")))?;
    Ok(Secret::new(text))
}
