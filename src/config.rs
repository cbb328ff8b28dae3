//! Configuration: the environment, then an env file, then command-line flags
//! (each layer overrides the one before) become one typed `Config`.
//!
//! Pure: takes key/value pairs, returns `Config` or one `Error::Config` line
//! naming the key, the problem and what is expected. Reading the environment,
//! the env file and the mnemonic happens in `io::settings`. Every key the
//! worker understands is listed in `KEYS` with its default and meaning; that
//! table also drives `--help` and the README's configuration table.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::logic::secret::Secret;

/// (key, default, meaning) for every configuration key.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "MNEMONIC_FILE",
        "-",
        "file holding the BIP-39 mnemonic (preferred; must be chmod 600)",
    ),
    (
        "MNEMONIC",
        "-",
        "the BIP-39 mnemonic itself (prefer MNEMONIC_FILE or a systemd credential)",
    ),
    (
        "CREDENTIALS_DIRECTORY",
        "-",
        "set by systemd; a credential named `mnemonic` there wins over both",
    ),
    (
        "ALLORA_WALLET_ADDR",
        "-",
        "optional; must equal the address derived from the mnemonic",
    ),
    (
        "TOPIC_ID",
        "67",
        "topic to serve; other topics need TICKER and TARGET_HOURS set explicitly",
    ),
    ("TICKER", "btcusd", "market-data ticker"),
    ("TARGET_HOURS", "168", "forecast horizon in hours"),
    (
        "TRAIN_SPAN_HOURS",
        "336",
        "hours of bars the model trains on",
    ),
    (
        "VALIDATION_SPAN_HOURS",
        "168",
        "hours of bars held out to validate and calibrate",
    ),
    ("TIINGO_API_KEY", "-", "Tiingo API key for market data"),
    (
        "TIINGO_URL",
        "https://api.tiingo.com",
        "Tiingo-compatible market-data base URL (the devnet's market URL in tests)",
    ),
    (
        "ALLORA_NETWORK",
        "testnet",
        "testnet or mainnet: presets for chain id, endpoints and gas price",
    ),
    (
        "ALLORA_CHAIN_ID",
        "preset",
        "chain id the endpoints must report",
    ),
    (
        "ALLORA_LCD_URLS",
        "preset",
        "LCD REST endpoints, comma-separated, in failover order",
    ),
    (
        "ALLORA_RPC_URLS",
        "preset",
        "CometBFT RPC endpoints, comma-separated, in failover order",
    ),
    (
        "ALLORA_WS_URL",
        "preset",
        "CometBFT websocket URL (ws:// or wss://)",
    ),
    (
        "ALLORA_GAS_PRICE",
        "preset",
        "minimum gas price in uallo per gas unit (testnet 10, mainnet 250000000)",
    ),
    (
        "ALLORA_FEE_CAP",
        "1e6 x gas price",
        "largest fee in uallo the worker will sign for one transaction",
    ),
    (
        "ALLORA_EMISSIONS",
        "auto",
        "emissions module version v9 or v10; auto probes /emissions/vN/params",
    ),
    (
        "ALLORA_CONNECT_TIMEOUT",
        "5s",
        "HTTP and websocket connect timeout (s or ms suffix)",
    ),
    (
        "ALLORA_READ_TIMEOUT",
        "15s",
        "HTTP response read timeout (s or ms suffix)",
    ),
    (
        "ALLORA_ENDPOINT_COOLDOWN",
        "30s",
        "how long a failed endpoint is skipped before it is tried again",
    ),
    (
        "ALLORA_GAS_ADJUSTMENT",
        "1.3",
        "gas limit = simulated gas used x this",
    ),
    (
        "ALLORA_GAS_MARGIN",
        "1.2",
        "gas price = max(ALLORA_GAS_PRICE, feemarket price) x this",
    ),
    (
        "ALLORA_TX_TIMEOUT",
        "60s",
        "how long a broadcast tx is polled before its outcome counts as unknown",
    ),
    (
        "ALLORA_WS_SILENCE",
        "60s",
        "no websocket frame or pong for this long: reconnect",
    ),
    (
        "ALLORA_DATA_DIR",
        "./data",
        "ledger, model, bar cache, status.json, lock file",
    ),
    ("ALLORA_LOG_DIR", "./logs", "worker.log and events.jsonl"),
    (
        "ALLORA_LOG_MAX_BYTES",
        "50M",
        "rotate a log file past this size (bytes, or with K/M suffix)",
    ),
    (
        "ALLORA_LOG_BACKUPS",
        "5",
        "rotated copies kept of each log file",
    ),
];

/// Chain presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Testnet,
    Mainnet,
}

struct Preset {
    chain_id: &'static str,
    lcd: &'static str,
    rpc: &'static str,
    ws: &'static str,
    gas_price: f64,
}

impl Network {
    fn preset(self) -> Preset {
        match self {
            Network::Testnet => Preset {
                chain_id: "allora-testnet-1",
                lcd: "https://allora-api.testnet.allora.network",
                rpc: "https://allora-rpc.testnet.allora.network",
                ws: "wss://allora-rpc.testnet.allora.network/websocket",
                gas_price: 10.0,
            },
            Network::Mainnet => Preset {
                chain_id: "allora-mainnet-1",
                lcd: "https://allora-api.mainnet.allora.network",
                rpc: "https://allora-rpc.mainnet.allora.network",
                ws: "wss://allora-rpc.mainnet.allora.network/websocket",
                gas_price: 250_000_000.0,
            },
        }
    }
}

/// Where the mnemonic comes from; resolved by `io::settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnemonicSource {
    /// `$CREDENTIALS_DIRECTORY/mnemonic` (systemd `LoadCredential=`).
    Credential(PathBuf),
    /// `MNEMONIC_FILE`.
    File(PathBuf),
    /// `MNEMONIC` in the environment or env file.
    Inline(Secret<String>),
    /// Nothing configured.
    Missing,
}

/// The global command-line flags that override configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    pub env_file: Option<PathBuf>,
    pub debug: bool,
    pub log_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub insecure_key_file: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub network: Network,
    pub chain_id: String,
    pub lcd_urls: Vec<String>,
    pub rpc_urls: Vec<String>,
    pub ws_url: String,
    pub gas_price: f64,
    pub fee_cap: u128,
    pub emissions: Option<crate::logic::emissions::Emissions>,
    pub connect_timeout: std::time::Duration,
    pub read_timeout: std::time::Duration,
    pub endpoint_cooldown: std::time::Duration,
    pub gas_adjustment: f64,
    pub gas_margin: f64,
    pub tx_timeout: std::time::Duration,
    pub ws_silence: std::time::Duration,
    pub topic_id: u64,
    pub ticker: String,
    pub target_hours: u32,
    pub train_span_hours: u32,
    pub validation_span_hours: u32,
    pub tiingo_api_key: Option<Secret<String>>,
    pub tiingo_url: String,
    pub wallet_addr: Option<String>,
    pub mnemonic: MnemonicSource,
    pub insecure_key_file: bool,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    /// The env file the settings came from (`--env-file`, or `./.env` when present).
    pub env_file: Option<PathBuf>,
    pub log_max_bytes: u64,
    pub log_backups: u32,
    pub debug: bool,
}

/// Raw inputs: process environment, the env file's assignments, the flags.
#[derive(Debug, Default)]
pub struct Sources {
    pub env: Vec<(String, String)>,
    pub file: Vec<(String, String)>,
    pub file_name: String,
    pub flags: GlobalFlags,
    /// `$CREDENTIALS_DIRECTORY/mnemonic`, when `io::settings` found that file.
    pub credential: Option<PathBuf>,
}

/// Builds the configuration. An unknown `ALLORA_*` key in the env file is an
/// error; in the process environment it is ignored (other tools share it).
pub fn build(src: &Sources) -> Result<Config> {
    let mut vars: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &src.env {
        vars.insert(k, v);
    }
    for (k, v) in &src.file {
        if k.starts_with("ALLORA_") && !KEYS.iter().any(|(known, _, _)| known == k) {
            return Err(Error::config(
                k,
                format!("unknown key in {}", src.file_name),
            ));
        }
        vars.insert(k, v);
    }
    let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let network = match get("ALLORA_NETWORK").unwrap_or("testnet") {
        "testnet" => Network::Testnet,
        "mainnet" => Network::Mainnet,
        other => {
            return Err(Error::config(
                "ALLORA_NETWORK",
                format!("{other:?} is not testnet or mainnet"),
            ))
        }
    };
    let preset = network.preset();
    let gas_price = match get("ALLORA_GAS_PRICE") {
        Some(v) => parse_positive_f64("ALLORA_GAS_PRICE", v)?,
        None => preset.gas_price,
    };
    let fee_cap = match get("ALLORA_FEE_CAP") {
        Some(v) => v.parse::<u128>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::config(
                "ALLORA_FEE_CAP",
                format!("{v:?} is not a positive whole number of uallo"),
            )
        })?,
        None => (gas_price * 1e6).ceil() as u128,
    };
    let topic_id = parse_u64("TOPIC_ID", get("TOPIC_ID").unwrap_or("67"))?;
    if topic_id == 0 {
        return Err(Error::config(
            "TOPIC_ID",
            "0 is not a topic; expected a positive topic id",
        ));
    }
    if topic_id != 67 && (get("TICKER").is_none() || get("TARGET_HOURS").is_none()) {
        return Err(Error::config(
            "TOPIC_ID",
            format!(
                "topic {topic_id} is not topic 67: set TICKER and TARGET_HOURS explicitly for it"
            ),
        ));
    }
    let ticker = get("TICKER").unwrap_or("btcusd").to_ascii_lowercase();
    if !ticker.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::config(
            "TICKER",
            format!("{ticker:?} must be letters and digits, e.g. btcusd"),
        ));
    }
    let mnemonic = if let Some(path) = &src.credential {
        MnemonicSource::Credential(path.clone())
    } else if let Some(f) = get("MNEMONIC_FILE") {
        MnemonicSource::File(PathBuf::from(f))
    } else if let Some(m) = vars.get("MNEMONIC").filter(|m| !m.trim().is_empty()) {
        MnemonicSource::Inline(Secret::new(m.to_string()))
    } else {
        MnemonicSource::Missing
    };
    let flags = &src.flags;
    Ok(Config {
        network,
        chain_id: get("ALLORA_CHAIN_ID")
            .unwrap_or(preset.chain_id)
            .to_string(),
        lcd_urls: parse_urls(
            "ALLORA_LCD_URLS",
            get("ALLORA_LCD_URLS").unwrap_or(preset.lcd),
            &["http", "https"],
        )?,
        rpc_urls: parse_urls(
            "ALLORA_RPC_URLS",
            get("ALLORA_RPC_URLS").unwrap_or(preset.rpc),
            &["http", "https"],
        )?,
        ws_url: parse_urls(
            "ALLORA_WS_URL",
            get("ALLORA_WS_URL").unwrap_or(preset.ws),
            &["ws", "wss"],
        )?
        .remove(0),
        gas_price,
        fee_cap,
        emissions: match get("ALLORA_EMISSIONS").unwrap_or("auto") {
            "auto" => None,
            v => Some(crate::logic::emissions::Emissions::parse(v).map_err(|_| {
                Error::config("ALLORA_EMISSIONS", format!("{v:?} is not auto, v9 or v10"))
            })?),
        },
        connect_timeout: parse_duration(
            "ALLORA_CONNECT_TIMEOUT",
            get("ALLORA_CONNECT_TIMEOUT").unwrap_or("5s"),
        )?,
        read_timeout: parse_duration(
            "ALLORA_READ_TIMEOUT",
            get("ALLORA_READ_TIMEOUT").unwrap_or("15s"),
        )?,
        endpoint_cooldown: parse_duration(
            "ALLORA_ENDPOINT_COOLDOWN",
            get("ALLORA_ENDPOINT_COOLDOWN").unwrap_or("30s"),
        )?,
        gas_adjustment: parse_positive_f64(
            "ALLORA_GAS_ADJUSTMENT",
            get("ALLORA_GAS_ADJUSTMENT").unwrap_or("1.3"),
        )?,
        gas_margin: parse_positive_f64(
            "ALLORA_GAS_MARGIN",
            get("ALLORA_GAS_MARGIN").unwrap_or("1.2"),
        )?,
        tx_timeout: parse_duration(
            "ALLORA_TX_TIMEOUT",
            get("ALLORA_TX_TIMEOUT").unwrap_or("60s"),
        )?,
        ws_silence: parse_duration(
            "ALLORA_WS_SILENCE",
            get("ALLORA_WS_SILENCE").unwrap_or("60s"),
        )?,
        topic_id,
        ticker,
        target_hours: parse_hours("TARGET_HOURS", get("TARGET_HOURS").unwrap_or("168"))?,
        train_span_hours: parse_hours(
            "TRAIN_SPAN_HOURS",
            get("TRAIN_SPAN_HOURS").unwrap_or("336"),
        )?,
        validation_span_hours: parse_hours(
            "VALIDATION_SPAN_HOURS",
            get("VALIDATION_SPAN_HOURS").unwrap_or("168"),
        )?,
        tiingo_api_key: get("TIINGO_API_KEY").map(|k| Secret::new(k.to_string())),
        tiingo_url: parse_urls(
            "TIINGO_URL",
            get("TIINGO_URL").unwrap_or("https://api.tiingo.com"),
            &["http", "https"],
        )?
        .remove(0),
        wallet_addr: get("ALLORA_WALLET_ADDR").map(str::to_string),
        mnemonic,
        insecure_key_file: flags.insecure_key_file,
        data_dir: flags
            .data_dir
            .clone()
            .unwrap_or_else(|| get("ALLORA_DATA_DIR").unwrap_or("./data").into()),
        log_dir: flags
            .log_dir
            .clone()
            .unwrap_or_else(|| get("ALLORA_LOG_DIR").unwrap_or("./logs").into()),
        env_file: (!src.file_name.is_empty()).then(|| PathBuf::from(&src.file_name)),
        log_max_bytes: parse_size(
            "ALLORA_LOG_MAX_BYTES",
            get("ALLORA_LOG_MAX_BYTES").unwrap_or("50M"),
        )?,
        log_backups: parse_u64(
            "ALLORA_LOG_BACKUPS",
            get("ALLORA_LOG_BACKUPS").unwrap_or("5"),
        )
        .and_then(|n| {
            u32::try_from(n).map_err(|_| Error::config("ALLORA_LOG_BACKUPS", "too large"))
        })?,
        debug: flags.debug,
    })
}

fn parse_u64(key: &str, v: &str) -> Result<u64> {
    v.parse::<u64>()
        .map_err(|_| Error::config(key, format!("{v:?} is not a whole number")))
}

fn parse_hours(key: &str, v: &str) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(h) if (1..=24 * 366).contains(&h) => Ok(h),
        _ => Err(Error::config(
            key,
            format!("{v:?} is not a number of hours between 1 and 8784"),
        )),
    }
}

fn parse_positive_f64(key: &str, v: &str) -> Result<f64> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(Error::config(
            key,
            format!("{v:?} is not a positive number"),
        )),
    }
}

/// Durations: seconds, or with an `s` or `ms` suffix, e.g. `15s`, `250ms`.
pub fn parse_duration(key: &str, v: &str) -> Result<std::time::Duration> {
    let t = v.trim().to_ascii_lowercase();
    let parsed = match t.strip_suffix("ms") {
        Some(ms) => ms
            .trim()
            .parse::<u64>()
            .ok()
            .map(std::time::Duration::from_millis),
        None => t
            .trim_end_matches('s')
            .trim()
            .parse::<u64>()
            .ok()
            .map(std::time::Duration::from_secs),
    };
    parsed
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::config(key, format!("{v:?} is not a duration such as 15s or 250ms")))
}

/// Sizes: plain bytes or with a K/M/G suffix (powers of 1024), e.g. `5M`.
pub fn parse_size(key: &str, v: &str) -> Result<u64> {
    let upper = v.to_ascii_uppercase();
    let t = upper.trim_end_matches('B');
    let (num, mult) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n.saturating_mul(mult)),
        _ => Err(Error::config(
            key,
            format!("{v:?} is not a size such as 1048576, 512K or 50M"),
        )),
    }
}

/// A comma-separated URL list; each needs one of `schemes` and a host.
pub fn parse_urls(key: &str, v: &str, schemes: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for raw in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let scheme_ok = raw
            .split_once("://")
            .filter(|(s, rest)| schemes.contains(s) && !rest.is_empty() && !rest.starts_with('/'));
        if scheme_ok.is_none() || raw.contains(char::is_whitespace) {
            let want = schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(Error::config(
                key,
                format!("{raw:?} is not a URL; expected {want} followed by a host"),
            ));
        }
        out.push(raw.trim_end_matches('/').to_string());
    }
    if out.is_empty() {
        return Err(Error::config(key, "no URL given"));
    }
    Ok(out)
}

/// A URL with any `user:password@` removed, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map(|(_, h)| h)
                .unwrap_or(authority);
            let path = path.split_once('?').map(|(p, _)| p).unwrap_or(path);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_with(env: &[(&str, &str)], file: &[(&str, &str)]) -> Result<Config> {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        build(&Sources {
            env: pairs(env),
            file: pairs(file),
            file_name: ".env".into(),
            ..Sources::default()
        })
    }

    fn err(env: &[(&str, &str)], file: &[(&str, &str)]) -> String {
        build_with(env, file).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_testnet_topic_67() {
        let c = build_with(&[], &[]).unwrap();
        assert_eq!(c.chain_id, "allora-testnet-1");
        assert_eq!(
            (c.topic_id, c.ticker.as_str(), c.target_hours),
            (67, "btcusd", 168)
        );
        assert_eq!((c.train_span_hours, c.validation_span_hours), (336, 168));
        assert_eq!((c.log_max_bytes, c.log_backups), (50 << 20, 5));
        assert_eq!(c.gas_price, 10.0);
        assert_eq!(c.mnemonic, MnemonicSource::Missing);
    }

    #[test]
    fn file_overrides_env_and_validates() {
        let c = build_with(
            &[("TOPIC_ID", "67"), ("ALLORA_NETWORK", "testnet")],
            &[("ALLORA_NETWORK", "mainnet")],
        )
        .unwrap();
        assert_eq!(c.chain_id, "allora-mainnet-1");
        assert_eq!(
            err(&[], &[("ALLORA_NOPE", "1")]),
            "config ALLORA_NOPE: unknown key in .env"
        );
        assert!(build_with(&[("ALLORA_NOPE", "1")], &[]).is_ok());
        assert_eq!(
            err(&[("TOPIC_ID", "abc")], &[]),
            "config TOPIC_ID: \"abc\" is not a whole number"
        );
        assert!(err(&[("TOPIC_ID", "69")], &[]).contains("set TICKER and TARGET_HOURS"));
        assert!(build_with(
            &[
                ("TOPIC_ID", "69"),
                ("TICKER", "ethusd"),
                ("TARGET_HOURS", "24")
            ],
            &[]
        )
        .is_ok());
        assert!(err(&[("ALLORA_LCD_URLS", "allora-api.example")], &[])
            .starts_with("config ALLORA_LCD_URLS:"));
        assert!(err(&[("ALLORA_WS_URL", "https://x")], &[]).contains("ws:// or wss://"));
        assert!(err(&[("ALLORA_LOG_MAX_BYTES", "lots")], &[]).contains("ALLORA_LOG_MAX_BYTES"));
        assert!(err(&[("ALLORA_GAS_PRICE", "-1")], &[]).contains("positive"));
    }

    #[test]
    fn url_lists_and_sizes() {
        assert_eq!(
            parse_urls("K", "http://a:1/, https://b", &["http", "https"]).unwrap(),
            vec!["http://a:1", "https://b"]
        );
        assert!(parse_urls("K", "http://", &["http"]).is_err());
        assert!(parse_urls("K", " , ", &["http"]).is_err());
        assert_eq!(parse_size("K", "5M").unwrap(), 5 << 20);
        assert_eq!(parse_size("K", "512kb").unwrap(), 512 << 10);
        assert_eq!(parse_size("K", "1000").unwrap(), 1000);
        assert_eq!(redact_url("https://u:p@host:1/x?key=s"), "https://host:1/x");
        let d = |v: &str| parse_duration("K", v).map(|d| d.as_millis());
        assert_eq!(
            (d("15s").unwrap(), d("250ms").unwrap(), d("2").unwrap()),
            (15_000, 250, 2_000)
        );
        assert!(d("0").is_err() && d("soon").is_err());
    }

    #[test]
    fn mnemonic_precedence() {
        let c = build_with(&[("MNEMONIC", "a b"), ("MNEMONIC_FILE", "/k")], &[]).unwrap();
        assert_eq!(c.mnemonic, MnemonicSource::File("/k".into()));
        let c = build_with(&[("MNEMONIC", "a b")], &[]).unwrap();
        assert!(matches!(c.mnemonic, MnemonicSource::Inline(_)));
        let src = Sources {
            env: vec![("MNEMONIC_FILE".into(), "/k".into())],
            credential: Some("/c/mnemonic".into()),
            ..Sources::default()
        };
        let c = build(&src).unwrap();
        assert_eq!(c.mnemonic, MnemonicSource::Credential("/c/mnemonic".into()));
    }
}
