//! Configuration: the env file, then the process environment, then
//! command-line flags (each layer overrides the one before, as python-dotenv
//! and docker compose do) become one typed `Config`.
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

mod keys;
mod topics;

pub use keys::{default_of, KEYS};
pub use topics::TopicSettings;

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

/// When `run` and `once` write `worker.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFile {
    /// Unless stderr is the systemd journal (which already has every line).
    Auto,
    Always,
    Never,
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
    /// The first topic's id, ticker and horizon (the one topic, usually).
    pub topic_id: u64,
    pub ticker: String,
    pub target_hours: u32,
    /// Every topic served, the first being `topic_id` (`TOPIC_ID=67,69`).
    pub topics: Vec<TopicSettings>,
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
    /// Whether `run`/`once` write `worker.log` (`ALLORA_LOG_FILE`).
    pub log_file: LogFile,
    pub debug: bool,
    /// What configuration found suspicious but not wrong (unknown keys in
    /// the environment); logged once logging runs.
    pub warnings: Vec<String>,
}

impl Config {
    /// This configuration narrowed to one of its topics: `topic_id`,
    /// `ticker`, `target_hours` and `topics` are that topic's.
    pub fn for_topic(&self, t: &TopicSettings) -> Config {
        Config {
            topic_id: t.id,
            ticker: t.ticker.clone(),
            target_hours: t.target_hours,
            topics: vec![t.clone()],
            ..self.clone()
        }
    }
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

/// The settings after layering: the env file, overridden by the process
/// environment (flags override both, later). Each value remembers its layer.
struct Vars<'a> {
    map: BTreeMap<&'a str, (&'a str, &'a str)>,
}

impl<'a> Vars<'a> {
    /// The trimmed value, `None` when unset or empty.
    fn get(&self, k: &str) -> Option<&'a str> {
        self.map
            .get(k)
            .map(|(v, _)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value, or the key's default from `KEYS`.
    fn or_default(&self, k: &str) -> &'a str {
        self.get(k).unwrap_or(default_of(k))
    }

    /// Where `k` was set: "the environment" or the env file's name.
    fn layer(&self, k: &str) -> Option<&'a str> {
        self.map.get(k).map(|(_, layer)| *layer)
    }
}

/// Layers the env file under the process environment. An unknown `ALLORA_*`
/// key is an error in the env file and a warning in the environment (which
/// other tools share, but where an `EnvironmentFile=` typo lands too).
fn layers<'a>(src: &'a Sources, warnings: &mut Vec<String>) -> Result<Vars<'a>> {
    let known = |k: &str| !k.starts_with("ALLORA_") || KEYS.iter().any(|(key, _, _)| *key == k);
    let mut map = BTreeMap::new();
    for (k, v) in &src.file {
        if !known(k) {
            return Err(Error::config(
                k,
                format!("unknown key in {}", src.file_name),
            ));
        }
        map.insert(k.as_str(), (v.as_str(), src.file_name.as_str()));
    }
    for (k, v) in &src.env {
        if !known(k) {
            warnings.push(format!(
                "unknown key {k} in the environment (a typo?); it is ignored"
            ));
        }
        map.insert(k.as_str(), (v.as_str(), "the environment"));
    }
    let vars = Vars { map };
    for k in [
        "ALLORA_CHAIN_ID",
        "ALLORA_LCD_URLS",
        "ALLORA_RPC_URLS",
        "ALLORA_WS_URL",
    ] {
        if let (Some(layer), None) = (vars.layer(k), vars.get(k)) {
            return Err(Error::config(
                k,
                format!(
                    "is empty in {layer}; remove the line to use the {} preset",
                    vars.or_default("ALLORA_NETWORK")
                ),
            ));
        }
    }
    Ok(vars)
}

/// Builds the configuration: layers, then the chain, the topic and data,
/// the mnemonic, and the files.
pub fn build(src: &Sources) -> Result<Config> {
    let mut warnings = Vec::new();
    let v = layers(src, &mut warnings)?;
    let network = match v.or_default("ALLORA_NETWORK") {
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
    let gas_price = match v.get("ALLORA_GAS_PRICE") {
        Some(x) => parse_positive_f64("ALLORA_GAS_PRICE", x)?,
        None => preset.gas_price,
    };
    let topics = topics::parse(&v)?;
    let flags = &src.flags;
    let duration = |k: &str| parse_duration(k, v.or_default(k));
    let hours = |k: &str| parse_hours(k, v.or_default(k));
    let url = |k: &str, preset: &str, schemes: &[&str]| {
        parse_urls(k, v.get(k).unwrap_or(preset), schemes)
    };
    Ok(Config {
        network,
        chain_id: v
            .get("ALLORA_CHAIN_ID")
            .unwrap_or(preset.chain_id)
            .to_string(),
        lcd_urls: url("ALLORA_LCD_URLS", preset.lcd, &["http", "https"])?,
        rpc_urls: url("ALLORA_RPC_URLS", preset.rpc, &["http", "https"])?,
        ws_url: url("ALLORA_WS_URL", preset.ws, &["ws", "wss"])?.remove(0),
        gas_price,
        fee_cap: fee_cap(&v, gas_price)?,
        emissions: match v.or_default("ALLORA_EMISSIONS") {
            "auto" => None,
            x => Some(crate::logic::emissions::Emissions::parse(x).map_err(|_| {
                Error::config("ALLORA_EMISSIONS", format!("{x:?} is not auto, v9 or v10"))
            })?),
        },
        connect_timeout: duration("ALLORA_CONNECT_TIMEOUT")?,
        read_timeout: duration("ALLORA_READ_TIMEOUT")?,
        endpoint_cooldown: duration("ALLORA_ENDPOINT_COOLDOWN")?,
        gas_adjustment: parse_positive_f64(
            "ALLORA_GAS_ADJUSTMENT",
            v.or_default("ALLORA_GAS_ADJUSTMENT"),
        )?,
        gas_margin: parse_positive_f64("ALLORA_GAS_MARGIN", v.or_default("ALLORA_GAS_MARGIN"))?,
        tx_timeout: duration("ALLORA_TX_TIMEOUT")?,
        ws_silence: duration("ALLORA_WS_SILENCE")?,
        topic_id: topics[0].id,
        ticker: topics[0].ticker.clone(),
        target_hours: topics[0].target_hours,
        topics,
        train_span_hours: hours("TRAIN_SPAN_HOURS")?,
        validation_span_hours: hours("VALIDATION_SPAN_HOURS")?,
        tiingo_api_key: v.get("TIINGO_API_KEY").map(|k| Secret::new(k.to_string())),
        tiingo_url: parse_urls("TIINGO_URL", v.or_default("TIINGO_URL"), &["http", "https"])?
            .remove(0),
        wallet_addr: v.get("ALLORA_WALLET_ADDR").map(str::to_string),
        mnemonic: mnemonic(src, &v)?,
        insecure_key_file: flags.insecure_key_file,
        data_dir: flags
            .data_dir
            .clone()
            .unwrap_or_else(|| v.or_default("ALLORA_DATA_DIR").into()),
        log_dir: flags
            .log_dir
            .clone()
            .unwrap_or_else(|| v.or_default("ALLORA_LOG_DIR").into()),
        env_file: (!src.file_name.is_empty()).then(|| PathBuf::from(&src.file_name)),
        log_max_bytes: log_max_bytes(&v)?,
        log_file: match v.or_default("ALLORA_LOG_FILE") {
            "auto" => LogFile::Auto,
            "always" => LogFile::Always,
            "never" => LogFile::Never,
            x => {
                return Err(Error::config(
                    "ALLORA_LOG_FILE",
                    format!("{x:?} is not auto, always or never"),
                ))
            }
        },
        log_backups: parse_u64("ALLORA_LOG_BACKUPS", v.or_default("ALLORA_LOG_BACKUPS")).and_then(
            |n| u32::try_from(n).map_err(|_| Error::config("ALLORA_LOG_BACKUPS", "too large")),
        )?,
        debug: flags.debug,
        warnings,
    })
}

/// The smallest `ALLORA_LOG_MAX_BYTES`: below it a log would rotate every
/// few lines.
pub const MIN_LOG_MAX_BYTES: u64 = 64 * 1024;

fn log_max_bytes(v: &Vars<'_>) -> Result<u64> {
    let n = parse_size("ALLORA_LOG_MAX_BYTES", v.or_default("ALLORA_LOG_MAX_BYTES"))?;
    if n < MIN_LOG_MAX_BYTES {
        return Err(Error::config(
            "ALLORA_LOG_MAX_BYTES",
            format!("{n} bytes is below the minimum of 64K ({MIN_LOG_MAX_BYTES} bytes)"),
        ));
    }
    Ok(n)
}

fn fee_cap(v: &Vars<'_>, gas_price: f64) -> Result<u128> {
    match v.get("ALLORA_FEE_CAP") {
        Some(x) => x.parse::<u128>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::config(
                "ALLORA_FEE_CAP",
                format!("{x:?} is not a positive whole number of uallo"),
            )
        }),
        None => Ok((gas_price * 1e6).ceil() as u128),
    }
}

/// The systemd credential, else `MNEMONIC_FILE`, else `MNEMONIC`. Both of
/// the latter set in different layers is ambiguous: one error names both.
fn mnemonic(src: &Sources, v: &Vars<'_>) -> Result<MnemonicSource> {
    if let Some(path) = &src.credential {
        return Ok(MnemonicSource::Credential(path.clone()));
    }
    let inline = v.map.get("MNEMONIC").filter(|(m, _)| !m.trim().is_empty());
    if let (Some(file_layer), Some((_, inline_layer))) = (v.layer("MNEMONIC_FILE"), inline) {
        if v.get("MNEMONIC_FILE").is_some() && file_layer != *inline_layer {
            return Err(Error::config(
                "MNEMONIC",
                format!(
                    "MNEMONIC (from {inline_layer}) and MNEMONIC_FILE (from {file_layer}) are both set; keep one"
                ),
            ));
        }
    }
    Ok(if let Some(f) = v.get("MNEMONIC_FILE") {
        MnemonicSource::File(PathBuf::from(f))
    } else if let Some((m, _)) = inline {
        MnemonicSource::Inline(Secret::new(m.to_string()))
    } else {
        MnemonicSource::Missing
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
    fn several_topics_each_with_its_settings_and_errors_naming_the_missing_one() {
        let c = build_with(
            &[
                ("TOPIC_ID", "67, 69"),
                ("TOPIC_69_TICKER", "ETHUSD"),
                ("TOPIC_69_TARGET_HOURS", "24"),
                ("TOPIC_69_FALLBACK_VALUE", "0.001"),
                ("TOPIC_67_PREDICT_CMD", "./model.sh"),
            ],
            &[],
        )
        .unwrap();
        let t = &c.topics;
        assert_eq!((t.len(), c.topic_id, c.ticker.as_str()), (2, 67, "btcusd"));
        assert_eq!(
            (t[0].target_hours, t[0].predict_cmd.as_deref()),
            (168, Some("./model.sh"))
        );
        assert_eq!(
            (t[1].id, t[1].ticker.as_str(), t[1].target_hours),
            (69, "ethusd", 24)
        );
        assert_eq!(t[1].fallback_value, Some(0.001));
        let one = c.for_topic(&t[1]);
        assert_eq!(
            (one.topic_id, one.ticker.as_str(), one.target_hours),
            (69, "ethusd", 24)
        );
        assert_eq!(
            err(&[("TOPIC_ID", "67,69"), ("TOPIC_69_TARGET_HOURS", "24")], &[]),
            "config TOPIC_69_TICKER: topic 69 is not topic 67: set TOPIC_69_TICKER and TOPIC_69_TARGET_HOURS explicitly for it"
        );
        assert!(err(&[("TOPIC_ID", "67,69"), ("TOPIC_69_TICKER", "x")], &[])
            .starts_with("config TOPIC_69_TARGET_HOURS: "));
        assert!(err(&[("TOPIC_ID", "67,69"), ("TICKER", "x")], &[])
            .starts_with("config TICKER: TOPIC_ID lists several topics"));
        assert_eq!(
            err(&[("TOPIC_ID", "67,67")], &[]),
            "config TOPIC_ID: topic 67 is listed twice"
        );
        let single = build_with(
            &[
                ("TOPIC_ID", "70"),
                ("TOPIC_70_TICKER", "solusd"),
                ("TARGET_HOURS", "24"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            (single.ticker.as_str(), single.target_hours),
            ("solusd", 24)
        );
    }

    #[test]
    fn env_overrides_file_and_validates() {
        let c = build_with(
            &[("TOPIC_ID", "67"), ("ALLORA_NETWORK", "mainnet")],
            &[("ALLORA_NETWORK", "testnet"), ("TICKER", "BTCUSD")],
        )
        .unwrap();
        assert_eq!(c.chain_id, "allora-mainnet-1", "the environment wins");
        assert_eq!(
            c.ticker, "btcusd",
            "the file fills what the environment lacks"
        );
        assert_eq!(
            err(&[], &[("ALLORA_NOPE", "1")]),
            "config ALLORA_NOPE: unknown key in .env"
        );
        let c = build_with(&[("ALLORA_NOPE", "1")], &[]).unwrap();
        assert_eq!(
            c.warnings,
            ["unknown key ALLORA_NOPE in the environment (a typo?); it is ignored"]
        );
        assert_eq!(
            err(&[], &[("ALLORA_LCD_URLS", "")]),
            "config ALLORA_LCD_URLS: is empty in .env; remove the line to use the testnet preset"
        );
        assert!(err(&[("ALLORA_WS_URL", " ")], &[]).contains("is empty in the environment"));
        assert_eq!(
            err(&[("ALLORA_LOG_MAX_BYTES", "10K")], &[]),
            "config ALLORA_LOG_MAX_BYTES: 10240 bytes is below the minimum of 64K (65536 bytes)"
        );
        assert_eq!(
            build_with(&[("ALLORA_LOG_MAX_BYTES", "64K")], &[])
                .unwrap()
                .log_max_bytes,
            65536
        );
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
        assert_eq!(
            err(&[("MNEMONIC", "a b")], &[("MNEMONIC_FILE", "/k")]),
            "config MNEMONIC: MNEMONIC (from the environment) and MNEMONIC_FILE (from .env) are both set; keep one"
        );
        let src = Sources {
            env: vec![("MNEMONIC_FILE".into(), "/k".into())],
            credential: Some("/c/mnemonic".into()),
            ..Sources::default()
        };
        let c = build(&src).unwrap();
        assert_eq!(c.mnemonic, MnemonicSource::Credential("/c/mnemonic".into()));
    }
}
