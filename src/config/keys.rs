//! `KEYS`: every configuration key the worker reads, with its default and
//! meaning, in the order `--help` and the README list them. Each default is
//! written only here: `config::build` reads it through `default_of`, `--help`
//! prints it, and the tidy test checks the README's table against it.
//!
//! Pure data.

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
        "topic(s) to serve, comma-separated (67,69); other topics need TICKER and TARGET_HOURS (several topics: TOPIC_<id>_TICKER, TOPIC_<id>_TARGET_HOURS)",
    ),
    ("TICKER", "btcusd", "market-data ticker (one topic)"),
    ("TARGET_HOURS", "168", "forecast horizon in hours (one topic)"),
    (
        "TOPIC_<id>_TICKER",
        "-",
        "that topic's market-data ticker (topic 67: btcusd)",
    ),
    (
        "TOPIC_<id>_TARGET_HOURS",
        "-",
        "that topic's forecast horizon in hours (topic 67: 168)",
    ),
    (
        "TOPIC_<id>_PREDICT_CMD",
        "-",
        "that topic's --predict-cmd (else the flag applies)",
    ),
    (
        "TOPIC_<id>_FALLBACK_VALUE",
        "-",
        "that topic's --fallback-value (else the flag applies)",
    ),
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
        "ALLORA_LOG_FILE",
        "auto",
        "write worker.log: auto (not when stderr is the systemd journal), always or never",
    ),
    (
        "ALLORA_LOG_MAX_BYTES",
        "50M",
        "rotate a log file past this size (bytes, or with K/M suffix; at least 64K)",
    ),
    (
        "ALLORA_LOG_BACKUPS",
        "5",
        "rotated copies kept of each log file",
    ),
];

/// The default of `key` as `KEYS` writes it (the one place it is written).
pub fn default_of(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, d, _)| *d)
        .expect("every key the configuration reads is listed in KEYS")
}
