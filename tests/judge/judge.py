"""Signs generated input sets with `allora-worker sign` and has the shared,
independent judge (verify_tx.py) check every resulting transaction.

Usage: judge.py SHARED_DIR BIN   (normally through run.sh, inside its venv)

The input sets are deterministic (a fixed seed): the four wallet.json
mnemonics, account numbers and sequences up to 2^40, values from 1e-12 to
1e6 of both signs, 0-5 forecast elements, memos, timeout heights, emissions
v9 and v10, and some RegisterRequest transactions. Prints one line per
failure and `N passed, M failed` at the end; exits 1 on any failure.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

CASES = 64
SEED = 67


def load_wallets(shared):
    with open(os.path.join(shared, "vectors", "wallet.json")) as f:
        return [(w["mnemonic"], w["address"]) for w in json.load(f)["wallets"]]


def random_value(rng):
    """A value with |x| log-uniform in [1e-12, 1e6], random sign, or an edge value."""
    edges = [1e-12, -1e-12, 1e6, -1e6, 1e-7, -1.2345e-7, 0.000001, 0.0, 104610.0, -0.0381357]
    if rng.random() < 0.15:
        return rng.choice(edges)
    x = 10 ** rng.uniform(-12, 6)
    if rng.random() < 0.5:
        x = round(x, rng.randrange(0, 15))
    return -x if rng.random() < 0.5 else x


def random_count(rng):
    return rng.choice([0, 2 ** 40, 1, 127, 128, 16383, 16384]) if rng.random() < 0.3 \
        else rng.randrange(0, 2 ** 40 + 1)


def make_case(i, rng, wallets, extra_addresses):
    idx = i % len(wallets)
    emissions = "v9" if i % 2 else "v10"
    chain_id = "allora-mainnet-1" if emissions == "v9" else "allora-testnet-1"
    account, sequence = random_count(rng), random_count(rng)
    args = ["sign", "--topic", str(rng.choice([67, 1, 69, 2 ** 32]))]
    if i % 8 == 7:
        args.append("--register")
    else:
        nonce = rng.choice([1, rng.randrange(1, 2 ** 31), rng.randrange(1, 2 ** 62)])
        args += ["--nonce", str(nonce), f"--value={random_value(rng)!r}"]
        inferers = [a for _, a in wallets] + extra_addresses
        for inferer in rng.sample(inferers, i % 6):
            args += ["--forecast", f"{inferer}={random_value(rng)!r}"]
    args += ["--account-number", str(account), "--sequence", str(sequence),
             "--gas", str(rng.randrange(1, 2_000_000)),
             "--fee", str(rng.choice([0, 1, 3_000_000, 75_000_000_000_000, 2 ** 70])),
             "--chain-id", chain_id, "--emissions", emissions]
    memo = rng.choice(["", "", "allora-worker", "ünïcödé ✓", "x" * 200])
    if memo:
        args += ["--memo", memo]
    if rng.random() < 0.4:
        args += ["--timeout-height", str(random_count(rng) or 1)]
    return {"mnemonic": wallets[idx][0], "args": args, "chain_id": chain_id,
            "account_number": account, "sequence": sequence, "emissions": emissions}


def run_case(case, shared, binary, workdir):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MNEMONIC": case["mnemonic"]}
    signed = subprocess.run([binary, "--log-dir", os.path.join(workdir, "logs")] + case["args"],
                            env=env, cwd=workdir, capture_output=True, text=True)
    if signed.returncode != 0:
        return f"sign exited {signed.returncode}: {signed.stderr.strip()}"
    out = json.loads(signed.stdout)
    judge = subprocess.run(
        [sys.executable, os.path.join(shared, "vectors", "verify_tx.py"), "--quiet",
         "--chain-id", case["chain_id"], "--account-number", str(case["account_number"]),
         "--sequence", str(case["sequence"]), "--emissions", case["emissions"],
         "--expect-hash", out["txhash"]],
        input=out["tx_bytes"], capture_output=True, text=True)
    if judge.returncode != 0:
        return f"verify_tx.py exited {judge.returncode}: {(judge.stdout + judge.stderr).strip()}"
    return None


def main(argv):
    if len(argv) != 3:
        print("usage: judge.py SHARED_DIR BIN", file=sys.stderr)
        return 2
    shared, binary = argv[1], argv[2]
    sys.path.insert(0, os.path.join(shared, "vectors"))
    import verify_tx  # the judge's own bech32, for extra valid inferer addresses

    rng = random.Random(SEED)
    wallets = load_wallets(shared)
    extra = [verify_tx.bech32_encode("allo", bytes(rng.randrange(256) for _ in range(20)))
             for _ in range(3)]
    passed, failed = 0, 0
    with tempfile.TemporaryDirectory(prefix="allora-judge-") as workdir:
        for i in range(CASES):
            case = make_case(i, rng, wallets, extra)
            problem = run_case(case, shared, binary, workdir)
            if problem is None:
                passed += 1
            else:
                failed += 1
                shown = [a if a != case["mnemonic"] else "[redacted]" for a in case["args"]]
                print(f"FAIL case {i}: {' '.join(shown)}\n  {problem}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
