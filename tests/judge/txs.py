"""Judges what a devnet accepted: reads a `GET /devnet/txs` dump (a JSON
array, one record per distinct tx hash: hash, height, code, codespace,
raw_log, kind, sender, topic, nonce, tx_base64) and runs the shared,
independent judge (verify_tx.py) over every insert and register tx in it.

Usage: txs.py SHARED_DIR DUMP.json [--chain-id ID] [--account-number N]
              [--emissions v9|v10]
(normally through run.sh, inside its venv)

Rules:
  * every included insert/register tx (code 0) must pass the judge;
  * a refused one (code != 0, at CheckTx or at delivery) must fail the judge
    exactly when the devnet's code is one the judge can see from the bytes
    alone (decode, signature, pubkey, address, Validate: FORM_CODES); a
    refusal for chain state (sequence, fee, funds, window, duplicate, cache,
    timeout, gas, registration) must pass it: the bytes were well formed;
  * the hash in the record must be the judge's hash of `tx_base64`;
  * pending txs (code null) and `other` txs are counted, not judged;
  * a dump without a single included insert tx is an error (nothing judged).

The devnet numbers genesis accounts from 1, and `demo` and the soak fund one
account, so `--account-number` defaults to 1; a sender with another number
fails the signature check loudly rather than being skipped.

Prints one line per problem and the counts; exits 1 on any problem, 2 on
bad usage or an unreadable dump.
"""

import argparse
import base64
import json
import os
import sys

# (codespace, code) pairs a judge of the bytes alone must also refuse.
FORM_CODES = {
    ("sdk", 2),   # tx parse error, unknown type URL
    ("sdk", 4),   # signature verification failed
    ("sdk", 7),   # invalid address
    ("sdk", 8),   # invalid pubkey, signer mismatch
    ("sdk", 18),  # invalid request (bundle Validate)
    ("sdk", 28),  # invalid chain id
    ("sdk", 29),  # invalid type (nonce <= 0, topic 0)
}
JUDGED_KINDS = ("insert", "register")


def judge(verify_tx, record, args):
    """The judge's verdict on one record: (passed, failures)."""
    raw = base64.b64decode(record["tx_base64"], validate=True)
    res = verify_tx.verify_tx_bytes(raw, args.chain_id, args.account_number,
                                    topic_arity="single", emissions=args.emissions)
    failures = list(res["failures"])
    if res["tx_hash"] != str(record["hash"]).upper():
        failures.append(f"tx.hash: judge {res['tx_hash']}, devnet {record['hash']}")
    return res["result"] == "PASS" and not failures, failures


def check(verify_tx, record, args, counts):
    """Judges one record; returns a problem line or None."""
    kind, code = record.get("kind"), record.get("code")
    if kind not in JUDGED_KINDS:
        counts["other"] += 1
        return None
    if code is None:
        counts["pending"] += 1
        return None
    try:
        passed, failures = judge(verify_tx, record, args)
    except Exception as e:  # noqa: BLE001 - any crash of the judge is a problem to report
        passed, failures = False, [f"judge crashed: {type(e).__name__}: {e}"]
    where = f"{kind} tx {record.get('hash')} (nonce {record.get('nonce')}, code {record.get('codespace')}/{code})"
    if code == 0:
        counts["included"] += 1
        counts["included_insert"] += kind == "insert"
        if passed:
            counts["included_passed"] += 1
            return None
        return f"FAIL {where}: included, but the judge refuses it: {'; '.join(failures)}"
    counts["refused"] += 1
    form = (record.get("codespace"), code) in FORM_CODES
    if passed != form:
        counts["refused_agree"] += 1
        return None
    if form:
        return f"DISAGREE {where}: the devnet refused it as malformed ({record.get('raw_log')!r}), the judge passes it"
    return (f"DISAGREE {where}: the devnet refused it for chain state ({record.get('raw_log')!r}), "
            f"the judge refuses the bytes: {'; '.join(failures)}")


def main(argv):
    ap = argparse.ArgumentParser(description="Judge every tx of a devnet /devnet/txs dump.")
    ap.add_argument("shared")
    ap.add_argument("dump")
    ap.add_argument("--chain-id", default="devnet-1")
    ap.add_argument("--account-number", type=int, default=1)
    ap.add_argument("--emissions", choices=("v9", "v10"), default="v10")
    args = ap.parse_args(argv[1:])
    sys.path.insert(0, os.path.join(args.shared, "vectors"))
    import verify_tx  # noqa: E402 - the shared judge, found through SHARED_DIR

    try:
        with open(args.dump) as f:
            records = json.load(f)
    except (OSError, ValueError) as e:
        print(f"txs.py: cannot read {args.dump}: {e}", file=sys.stderr)
        return 2
    if not isinstance(records, list):
        print(f"txs.py: {args.dump} is not a JSON array of tx records", file=sys.stderr)
        return 2
    counts = dict.fromkeys(["included", "included_insert", "included_passed", "refused",
                            "refused_agree", "pending", "other"], 0)
    problems = [p for r in records if (p := check(verify_tx, r, args, counts)) is not None]
    if counts["included_insert"] == 0:
        problems.append(f"FAIL {args.dump}: no included insert tx, nothing was judged")
    for p in problems:
        print(p)
    print(f"{args.dump}: {len(records)} txs; {counts['included']} included insert/register, "
          f"{counts['included_passed']} pass the judge; {counts['refused']} refused, "
          f"{counts['refused_agree']} with the judge agreeing; {counts['pending']} pending, "
          f"{counts['other']} other; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
