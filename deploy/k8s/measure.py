#!/usr/bin/env python3
"""Provisional resource measurements for the Kubernetes requests (docs/deploy.md "Resources").

Starts two real nodes (A and B) from built binaries, each with its own enclave process and its
own PostgreSQL database prepared by `p2p-node --migrate-only` (what the init container runs),
the services running with autoCreateTables=false as in Kubernetes. Then:

  1. idle: waits IDLE seconds (discovery running), reads VmRSS of every process;
  2. load: for LOAD seconds, WORKERS threads send to A's q2t-api (`POST /send` to B's key, so
     A's enclave encrypts, A stores, B's p2p-node receives the push) and to A's
     thirdparty-api (`POST /storeraw`), then reads VmRSS, VmHWM and the CPU time each process
     used during the load.

    python3 deploy/k8s/measure.py --bin target/release \\
        --pg postgresql://tm:PASSWORD@127.0.0.1:55432/tm [--idle 20] [--load 30] [--workers 8]

Uses only the standard library and psql. Replaced by `cargo xtask bench` when
that exists.
"""

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- X25519 (RFC 7748), only to make NaCl key pairs for the test nodes ----------------------
P = 2**255 - 19
A24 = 121665


def x25519_base(k: bytes) -> bytes:
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    scalar = int.from_bytes(k, "little")
    x1, x2, z2, x3, z3, swap = 9, 1, 0, 9, 1, 0
    for t in reversed(range(255)):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + A24 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(url, limit=60):
    end = time.time() + limit
    while time.time() < end:
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Node:
    def __init__(self, name, work, bindir, pg_base, db):
        self.name = name
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.bindir = bindir
        self.ports = {k: free_port() for k in ("p2p", "q2t", "thirdparty", "enclave")}
        private = secrets.token_bytes(32)
        self.public = base64.b64encode(x25519_base(private)).decode()
        with open(os.path.join(self.dir, "tm.key"), "w") as f:
            json.dump({"type": "unlocked",
                       "data": {"bytes": base64.b64encode(private).decode()}}, f)
        with open(os.path.join(self.dir, "tm.pub"), "w") as f:
            f.write(self.public)
        with open(os.path.join(self.dir, "passwords"), "w") as f:
            f.write("\n")
        self.pg = urllib.parse.urlsplit(pg_base)
        self.db = db
        self.procs = {}

    def write_configs(self, peers):
        p = self.ports
        services = {
            "jdbc": {"autoCreateTables": False},
            "serverConfigs": [
                {"app": "P2P", "serverAddress": f"http://127.0.0.1:{p['p2p']}",
                 "communicationType": "REST", "properties": {"partyInfoInterval": "2000"}},
                {"app": "Q2T", "serverAddress": f"http://127.0.0.1:{p['q2t']}",
                 "communicationType": "REST"},
                {"app": "ThirdParty", "serverAddress": f"http://127.0.0.1:{p['thirdparty']}",
                 "communicationType": "REST"},
                {"app": "ENCLAVE", "serverAddress": f"http://127.0.0.1:{p['enclave']}",
                 "communicationType": "REST"},
            ],
            "peer": [{"url": u} for u in peers],
            "alwaysSendTo": [],
        }
        enclave = {
            "serverConfigs": [{"app": "ENCLAVE",
                               "serverAddress": f"http://127.0.0.1:{p['enclave']}",
                               "communicationType": "REST"}],
            "keys": {"passwordFile": os.path.join(self.dir, "passwords"),
                     "keyData": [{"privateKeyPath": os.path.join(self.dir, "tm.key"),
                                  "publicKeyPath": os.path.join(self.dir, "tm.pub")}]},
            "alwaysSendTo": [],
        }
        with open(os.path.join(self.dir, "tessera.json"), "w") as f:
            json.dump(services, f, indent=2)
        with open(os.path.join(self.dir, "enclave.json"), "w") as f:
            json.dump(enclave, f, indent=2)

    def db_env(self):
        host = self.pg.hostname
        port = self.pg.port or 5432
        return {
            "TESSERA__JDBC__URL": f"jdbc:postgresql://{host}:{port}/{self.db}",
            "TESSERA__JDBC__USERNAME": urllib.parse.unquote(self.pg.username or ""),
            "TESSERA__JDBC__PASSWORD": urllib.parse.unquote(self.pg.password or ""),
        }

    def migrate(self):
        # What the init container does: the service binary's --migrate-only.
        env = dict(os.environ)
        env.update(self.db_env())
        subprocess.run([os.path.join(self.bindir, "p2p-node"), "-configfile",
                        os.path.join(self.dir, "tessera.json"), "--migrate-only"],
                       env=env, check=True, stdout=sys.stderr)

    def start(self, binary, config, port_name, path):
        env = dict(os.environ)
        env.update(self.db_env())
        env["RUST_LOG"] = "warn"
        log = open(os.path.join(self.dir, f"{binary}.log"), "w")
        self.procs[binary] = subprocess.Popen(
            [os.path.join(self.bindir, binary), "-configfile",
             os.path.join(self.dir, config)],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            wait_http(f"http://127.0.0.1:{self.ports[port_name]}{path}")
        except RuntimeError:
            log.flush()
            with open(os.path.join(self.dir, f"{binary}.log")) as f:
                sys.stderr.write(f"--- {self.name}/{binary} log ---\n{f.read()[-3000:]}\n")
            raise

    def start_all(self):
        self.start("enclave", "enclave.json", "enclave", "/ping")
        self.start("p2p-node", "tessera.json", "p2p", "/upcheck")
        self.start("q2t-api", "tessera.json", "q2t", "/upcheck")
        self.start("thirdparty-api", "tessera.json", "thirdparty", "/upcheck")

    def stop(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def create_database(pg_base, db):
    env = dict(os.environ)
    u = urllib.parse.urlsplit(pg_base)
    env["PGPASSWORD"] = urllib.parse.unquote(u.password or "")
    args = ["psql", "-X", "-q", "-h", u.hostname, "-p", str(u.port or 5432), "-U",
            urllib.parse.unquote(u.username or ""), "-d", u.path.lstrip("/") or "postgres"]
    subprocess.run(args + ["-c", f"DROP DATABASE IF EXISTS {db}", "-c",
                           f"CREATE DATABASE {db}"], env=env, check=True)
    return args, env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release")
    ap.add_argument("--pg", required=True, help="postgresql://user:pw@host:port/db (CREATEDB)")
    ap.add_argument("--idle", type=int, default=20)
    ap.add_argument("--load", type=int, default=30)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--payload", type=int, default=1024, help="plaintext bytes per send")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)

    work = tempfile.mkdtemp(prefix="tm-measure-")
    nodes = []
    try:
        for name in ("a", "b"):
            create_database(args.pg, f"tm_measure_{name}")
            nodes.append(Node(name, work, args.bin, args.pg, f"tm_measure_{name}"))
        a, b = nodes
        a.write_configs([f"http://127.0.0.1:{b.ports['p2p']}"])
        b.write_configs([f"http://127.0.0.1:{a.ports['p2p']}"])
        for n in nodes:
            n.migrate()
            n.start_all()

        # Wait until A knows B's key (discovery through the shared party store).
        deadline = time.time() + 60
        while time.time() < deadline:
            _, body = http("GET", f"http://127.0.0.1:{a.ports['q2t']}/partyinfo/keys")
            if b.public in body.decode():
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("A never learned B's key")

        time.sleep(args.idle)
        report = {"idle_kB": {}, "load": {}}
        for n in nodes:
            for binary, p in n.procs.items():
                report["idle_kB"][f"{n.name}/{binary}"] = proc_status(p.pid)["VmRSS"]

        cpu0 = {(n.name, b_): cpu_seconds(p.pid) for n in nodes for b_, p in n.procs.items()}
        counts = {"send": 0, "storeraw": 0, "errors": 0}
        lock = threading.Lock()
        stop = time.time() + args.load
        payload = base64.b64encode(secrets.token_bytes(args.payload)).decode()

        def worker(i):
            send = json.dumps({"payload": payload, "from": a.public, "to": [b.public]}).encode()
            raw = json.dumps({"payload": payload, "from": a.public}).encode()
            hdr = {"Content-Type": "application/json"}
            n = i
            while time.time() < stop:
                n += 1
                try:
                    if n % 4 == 0:  # one request in four goes to the ThirdParty API
                        http("POST", f"http://127.0.0.1:{a.ports['thirdparty']}/storeraw", raw,
                             hdr)
                        key = "storeraw"
                    else:
                        http("POST", f"http://127.0.0.1:{a.ports['q2t']}/send", send, hdr)
                        key = "send"
                    with lock:
                        counts[key] += 1
                except (urllib.error.URLError, OSError):
                    with lock:
                        counts["errors"] += 1

        started = time.time()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - started
        for n in nodes:
            for binary, p in n.procs.items():
                st = proc_status(p.pid)
                report["load"][f"{n.name}/{binary}"] = {
                    "rss_kB": st["VmRSS"], "hwm_kB": st["VmHWM"],
                    "cpu_cores": round((cpu_seconds(p.pid) - cpu0[(n.name, binary)]) / elapsed,
                                       3)}
        report["requests"] = counts
        report["seconds"] = round(elapsed, 1)
        report["per_second"] = round((counts["send"] + counts["storeraw"]) / elapsed, 1)
        report["workers"] = args.workers
        report["payload_bytes"] = args.payload
        print(json.dumps(report, indent=2))
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
