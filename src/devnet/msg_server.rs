//! The emissions message server: `InsertWorkerPayload` and `Register`
//! with the chain's check order (ALLORA-PROTOCOL.md §7.1, §12 C7–C9):
//! bech32 addresses (sdk/7) → whitelist → `Validate()` → topic (6) →
//! unfulfilled nonce (44) → window (67) → registered (13) → data fee (5) →
//! labels (sdk/18) → first submission wins → admission. Checks read the
//! state only (simulate runs them too); effects happen after every check
//! passed, so a failed message leaves no trace but the ante's fee.

use serde_json::json;

use super::chain::{Chain, Event, Inference};
use super::mempool::{refuse, reject_refusal, Refusal};
use super::verifier::{self, Msg, VerifiedTx};

/// `ErrNotPermittedToSubmitWorkerPayload` (the number is not in any chain
/// source read; clients match the text).
const NOT_PERMITTED: u32 = 69;

fn wrap(i: usize, r: Refusal) -> Refusal {
    let log = format!("failed to execute message; message index: {i}: {}", r.log);
    Refusal { log, ..r }
}

impl Chain {
    /// DeliverTx's message stage at `height`: each message checked, then applied.
    pub(super) fn run_msgs(&mut self, tx: &VerifiedTx, height: u64) -> Result<Vec<Event>, Refusal> {
        let mut events = Vec::new();
        for (i, msg) in tx.messages.iter().enumerate() {
            self.check_msg(msg, height).map_err(|r| wrap(i, r))?;
            events.extend(self.apply_msg(msg));
        }
        Ok(events)
    }

    /// Simulate's message stage: every check against the committed state, no effect.
    pub fn simulate_msgs(&self, tx: &VerifiedTx, height: u64) -> Result<(), Refusal> {
        for (i, msg) in tx.messages.iter().enumerate() {
            self.check_msg(msg, height).map_err(|r| wrap(i, r))?;
        }
        Ok(())
    }

    fn check_msg(&self, msg: &Msg, height: u64) -> Result<(), Refusal> {
        match msg {
            Msg::Insert { .. } => self.check_insert(msg, height),
            Msg::Register { .. } => self.check_register(msg),
        }
    }

    fn apply_msg(&mut self, msg: &Msg) -> Vec<Event> {
        match msg {
            Msg::Insert { .. } => self.apply_insert(msg),
            Msg::Register { .. } => self.apply_register(msg),
        }
    }

    /// Whether `addr` may submit payloads (always, unless `--whitelist`).
    pub fn is_whitelisted(&self, addr: &str) -> bool {
        self.whitelist.as_ref().is_none_or(|w| w.contains(addr))
    }

    fn check_insert(&self, msg: &Msg, height: u64) -> Result<(), Refusal> {
        let bech32 = |addr: &str, what: &str| {
            verifier::check_address(addr, what).map_err(|r| {
                let r = reject_refusal(r);
                let log = format!("Error validating {what} address: {}", r.log);
                Refusal { log, ..r }
            })
        };
        bech32(msg.sender(), "sender")?;
        bech32(msg.worker(), "worker")?;
        if !self.is_whitelisted(msg.worker()) {
            let log = "Worker is not permitted to submit payload: not permitted to submit payload";
            return Err(refuse(
                "emissions",
                NOT_PERMITTED,
                log.into(),
                "not_whitelisted",
            ));
        }
        verifier::validate_message(msg).map_err(|r| {
            let r = reject_refusal(r);
            let log = format!("Error validating worker data bundle: {}", r.log);
            Refusal { log, ..r }
        })?;
        let topic = msg.topic_id();
        if topic != self.topic_id {
            return Err(refuse(
                "emissions",
                6,
                "invalid topic ID".into(),
                "invalid_topic",
            ));
        }
        let nonce = u64::try_from(msg.nonce()).unwrap_or(0);
        let Some(end) = self.windows.get(&nonce).copied() else {
            let log = "unfulfilled nonce not found".to_string();
            return Err(refuse("emissions", 44, log, "nonce_fulfilled"));
        };
        if height < nonce || height > end {
            let log = format!("Worker window not open for topic: {topic}, current block {height}, start window: {nonce}, end window: {end}: worker nonce window not available");
            return Err(refuse("emissions", 67, log, "window_closed"));
        }
        if !self.registered.contains(msg.worker()) {
            let log = "worker is not registered in this topic: address not registered".to_string();
            return Err(refuse("emissions", 13, log, "not_registered"));
        }
        self.check_funds(msg.sender(), self.data_sending_fee)?;
        self.check_labels(msg)?;
        if self
            .submissions
            .get(&nonce)
            .is_some_and(|w| w.contains_key(msg.worker()))
        {
            let log = "inference already submitted".to_string();
            return Err(refuse("undefined", 1, log, "duplicate"));
        }
        Ok(())
    }

    /// v10 single-arity topics: at most one labeled value, labelled `y`.
    fn check_labels(&self, msg: &Msg) -> Result<(), Refusal> {
        let values = msg.labeled_values();
        let log = if values.len() > 1 {
            format!(
                "input inference failed label validation: single-arity topic accepts one value, got {}: invalid request",
                values.len()
            )
        } else if values
            .first()
            .is_some_and(|(l, _)| !l.eq_ignore_ascii_case("y"))
        {
            "input inference failed label validation: single-arity label must be \"y\": invalid request".to_string()
        } else {
            return Ok(());
        };
        Err(refuse("sdk", 18, log, "labels"))
    }

    fn apply_insert(&mut self, msg: &Msg) -> Vec<Event> {
        let (sender, worker) = (msg.sender().to_string(), msg.worker().to_string());
        let nonce = u64::try_from(msg.nonce()).unwrap_or(0);
        if let Some(a) = self.accounts.get_mut(&sender) {
            a.balance -= self.data_sending_fee.min(a.balance);
        }
        let admitted = if self.faults.not_admitted > 0 {
            self.faults.not_admitted -= 1;
            self.stats.fired("not-admitted");
            false
        } else {
            true
        };
        *self
            .submissions
            .entry(nonce)
            .or_default()
            .entry(worker.clone())
            .or_default() += 1;
        *self
            .stats
            .accepted_by_nonce
            .entry(nonce)
            .or_default()
            .entry(worker.clone())
            .or_default() += 1;
        self.stats.accepted += 1;
        let mut events = vec![self.message_event("InsertWorkerPayloadRequest", &sender)];
        if admitted {
            let value = msg.value().unwrap_or_else(|| "0".into());
            let inference = Inference { nonce, value };
            self.latest.insert(worker, inference);
            events.push(self.payload_event(msg));
        }
        events
    }

    fn message_event(&self, name: &str, sender: &str) -> Event {
        let action = self.emissions.type_url(name);
        Event::plain(
            "message",
            &[
                ("action", &action),
                ("sender", sender),
                ("module", "emissions"),
            ],
        )
    }

    /// `EventInsertInfererPayload` (C9: inferer, nonce, topic_id, value,
    /// extra_data and on v10 values), typed-event JSON values.
    fn payload_event(&self, msg: &Msg) -> Event {
        let p = self.emissions.package();
        let inf = msg
            .worker_bundle()
            .and_then(|w| w.bundle.as_ref()?.inference.clone())
            .unwrap_or_default();
        let b64 = |b: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let mut attrs = vec![
            ("inferer", json!(inf.inferer)),
            ("nonce", json!({"block_height": msg.nonce().to_string()})),
            ("topic_id", json!(msg.topic_id().to_string())),
            ("value", json!(inf.value)),
            ("extra_data", json!(b64(&inf.extra_data))),
        ];
        if self.emissions == crate::logic::emissions::Emissions::V10 {
            let values: Vec<_> = inf
                .values
                .iter()
                .map(|(l, v)| json!({"label": l, "value": v}))
                .collect();
            attrs.push(("values", json!(values)));
        }
        Event::typed(&format!("{p}.EventInsertInfererPayload"), &attrs, None)
    }

    fn check_register(&self, msg: &Msg) -> Result<(), Refusal> {
        verifier::validate_message(msg).map_err(reject_refusal)?;
        if msg.topic_id() != self.topic_id {
            let log = "topic does not exist".to_string();
            return Err(refuse("emissions", 23, log, "invalid_topic"));
        }
        if self.registered.contains(msg.sender()) {
            let log = "address already registered in a topic".to_string();
            return Err(refuse("emissions", 8, log, "already_registered"));
        }
        self.check_funds(msg.sender(), self.registration_fee)
    }

    fn apply_register(&mut self, msg: &Msg) -> Vec<Event> {
        let sender = msg.sender().to_string();
        if let Some(a) = self.accounts.get_mut(&sender) {
            a.balance -= self.registration_fee.min(a.balance);
        }
        self.registered.insert(sender.clone());
        vec![self.message_event("RegisterRequest", &sender)]
    }

    fn check_funds(&self, address: &str, amount: u128) -> Result<(), Refusal> {
        let Some(acct) = self.accounts.get(address) else {
            let log = format!("account {address} not found: unknown address");
            return Err(refuse("sdk", 9, log, "unknown_account"));
        };
        if acct.balance < amount {
            let log = format!(
                "spendable balance {}uallo is smaller than {amount}uallo: insufficient funds",
                acct.balance
            );
            return Err(refuse("sdk", 5, log, "insufficient_funds"));
        }
        Ok(())
    }

    /// The latest inference of `worker`, if one was admitted.
    pub fn latest_inference(&self, worker: &str) -> Option<&Inference> {
        self.latest.get(worker)
    }
}
