#!/usr/bin/env python3
"""What scripts/podman-e2e.sh needs between `kustomize build` and `podman kube play` (4.3).

  split RENDERED OUTDIR --keys DIR   one kube file per Deployment, converted, and OUTDIR/plan.json
  probe PLAN... [--wait S]           the manifests' probes, run as a kubelet runs them
  isolation PLAN...                  the NetworkPolicies' intent, checked from inside every pod

`split` keeps the manifests as they are except where podman 4.3 cannot take them; each
replacement stands in for what the cluster would do (docs/deploy.md "Podman run"):

* Services: none in podman. Each Deployment is played on its own so that its pods get the
  Service's cluster name (`<service>.<namespace>.svc.cluster.local`) as a network alias; the
  pods' dnsConfig (the overlays in deploy/podman/overlays) makes short names resolve in their
  namespace, as the cluster DNS does. Several replicas: several addresses for one name.
* Namespaces: none in podman. Deployments are renamed `<namespace>-<name>` and the podman
  secrets `<namespace>-<secret>`; each namespace has a network of its own.
* NetworkPolicy: not enforced by podman. The pods a policy selects get a network of their own
  (`<namespace>-<policy>`), joined only by the pods of that namespace that its ingress rules
  admit; all other pods are on their namespace's network and the shared `cluster` network.
  `isolation` then checks from every pod that what the policy says is what the wiring does.
* Probes: podman 4.3 turns an httpGet probe into `curl` run inside the container (our images
  have neither curl nor a shell), leaves named ports unresolved and schedules checks with
  systemd timers. They are taken out of the pod and recorded in the plan; `probe` runs them
  from the host against the pod's address, as the kubelet does.
* containerPort: podman 4.3 publishes every containerPort on the host under the same number,
  so two replicas collide; only ports with an explicit hostPort are kept.
* emptyDir: podman 4.3 makes a named volume of the volume's name, which every pod using that
  name shares (both nodes' PostgreSQL would share `data`): renamed `<deployment>-<volume>`.
  The replicas of one Deployment still share theirs (only /tmp, unused, for our services).
* restartPolicy: OnFailure instead of a Deployment's Always, which podman 4.3 also applies to
  init containers (it restarts `migrate` after success, then cannot remove it).
* Secret volumes make podman 4.3 crash (nil pointer in VolumeFromSecret): they become
  read-only hostPath mounts of `<keys>/<namespace>/<secret>/`, which the e2e script fills with
  the Secret's files (mode 0440, group 65532, as defaultMode and fsGroup would).
* secretKeyRef env: podman secrets named `<namespace>-<secret>`, in the JSON form podman 4.3
  reads for env (a map of key to base64 value); created by the e2e script.
"""
import argparse
import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import yaml

CLUSTER_NETWORK = "tm-e2e-cluster"
PROBE_KINDS = ("startupProbe", "readinessProbe", "livenessProbe")


def _load_checker():
    """deploy/k8s/check_objects.py, whose label-selector reading this converter shares."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "k8s", "check_objects.py")
    spec = importlib.util.spec_from_file_location("check_objects", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CHECKER = _load_checker()


def matches(selector, labels):
    """A Kubernetes label selector against labels; an empty one selects every pod (as a
    NetworkPolicy's podSelector does)."""
    return _CHECKER.selects(selector, labels, empty_selects_all=True)


def split(rendered, outdir, keys):
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = by_kind.get("Deployment", [])
    ns = deployments[0]["metadata"]["namespace"]
    configmaps = [strip_meta(c) for c in by_kind.get("ConfigMap", [])]
    services = by_kind.get("Service", [])
    policies = [p for p in by_kind.get("NetworkPolicy", []) if p["spec"].get("ingress") is not None]
    os.makedirs(outdir, exist_ok=True)
    # podman 4.3 keeps a ConfigMap volume as a named volume of the ConfigMap's name.
    plan = {"namespace": ns, "deployments": [], "secrets": {}, "secret_dirs": {}, "networks": [],
            "policies": [], "volumes": [c["metadata"]["name"] for c in configmaps]}

    def policy_network(p):
        return f"{ns}-{p['metadata']['name']}"

    for p in policies:
        ports = [pp["port"] for rule in p["spec"]["ingress"] for pp in rule.get("ports") or []]
        plan["policies"].append({"name": p["metadata"]["name"], "network": policy_network(p),
                                 "selector": p["spec"]["podSelector"],
                                 "from": [f.get("podSelector") for rule in p["spec"]["ingress"]
                                          for f in rule.get("from") or []
                                          if "namespaceSelector" not in f],
                                 "ports": ports})

    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        name = d["metadata"]["name"]
        new = f"{ns}-{name}"
        selected = [p for p in policies if matches(p["spec"]["podSelector"], labels)]
        admitted = [p for p in policies
                    if any(matches(f.get("podSelector"), labels)
                           for rule in p["spec"]["ingress"] for f in rule.get("from") or []
                           if "namespaceSelector" not in f)]
        if selected:
            networks = [policy_network(p) for p in selected]
        else:
            networks = [CLUSTER_NETWORK, ns] + [policy_network(p) for p in admitted]
        aliases = [f"{s['metadata']['name']}.{ns}.svc.cluster.local" for s in services
                   if matches({"matchLabels": s["spec"].get("selector") or {}}, labels)]
        for n in networks:
            if n not in plan["networks"]:
                plan["networks"].append(n)

        d = copy.deepcopy(d)
        d["metadata"] = {"name": new, "labels": d["metadata"].get("labels", {})}
        spec = d["spec"]["template"]["spec"]
        # podman 4.3 gives init containers the pod's restart policy: with Always it restarts
        # `migrate` after it succeeded, then fails to remove it. OnFailure: an init container
        # that failed is retried (as the kubelet does), and a killed service container (exit
        # 137) is restarted; only a clean exit 0 of a service is not.
        spec["restartPolicy"] = "OnFailure"
        probes = []
        for c in spec.get("initContainers", []) + spec["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            for kind in PROBE_KINDS:
                pr = c.pop(kind, None)
                if pr is None:
                    continue
                entry = {"container": c["name"], "kind": kind,
                         "period": pr.get("periodSeconds", 10),
                         "timeout": pr.get("timeoutSeconds", 1),
                         "failureThreshold": pr.get("failureThreshold", 3)}
                if "httpGet" in pr:
                    port = pr["httpGet"]["port"]
                    if isinstance(port, str):
                        if port not in ports:
                            sys.exit(f"{name}/{c['name']}: {kind} names port {port!r}, "
                                     "which the container does not declare")
                        port = ports[port]
                    entry["http"] = {"port": port, "path": pr["httpGet"].get("path", "/")}
                elif "exec" in pr:
                    entry["exec"] = pr["exec"]["command"]
                else:
                    sys.exit(f"{name}/{c['name']}: {kind} is neither httpGet nor exec")
                probes.append(entry)
            kept = [p for p in c.get("ports") or [] if p.get("hostPort")]
            if kept:
                c["ports"] = kept
            else:
                c.pop("ports", None)
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    plan["secrets"].setdefault(ref["name"], set()).add(ref["key"])
                    ref["name"] = f"{ns}-{ref['name']}"
        renamed = {v["name"]: f"{new}-{v['name']}" for v in spec.get("volumes") or []
                   if "emptyDir" in v}
        for c in spec.get("initContainers", []) + spec["containers"]:
            for m in c.get("volumeMounts") or []:
                m["name"] = renamed.get(m["name"], m["name"])
        for v in spec.get("volumes") or []:
            v["name"] = renamed.get(v["name"], v["name"])
            if "emptyDir" in v:
                plan["volumes"].append(v["name"])
            if "secret" in v:
                secret = v.pop("secret")["secretName"]
                path = os.path.join(keys, ns, secret)
                plan["secret_dirs"][secret] = path
                v["hostPath"] = {"path": path, "type": "Directory"}
        out = os.path.join(outdir, f"{new}.yaml")
        with open(out, "w") as f:
            yaml.safe_dump_all(configmaps + [d], f, sort_keys=False)
        plan["deployments"].append({
            "name": new, "original": name, "file": out, "labels": labels,
            "component": labels.get("app.kubernetes.io/component", name),
            "replicas": d["spec"].get("replicas", 1),
            "containers": [c["name"] for c in spec["containers"]],
            "networks": networks, "aliases": aliases, "probes": probes})
    # Databases first, then what holds the keys, then the services (podman runs an init
    # container once, where Kubernetes would retry the migration until PostgreSQL is up).
    order = {"dev-postgres": 0, "enclave": 1}
    plan["deployments"].sort(key=lambda d: order.get(d["component"], 2))
    plan["secrets"] = {k: sorted(v) for k, v in plan["secrets"].items()}
    with open(os.path.join(outdir, "plan.json"), "w") as f:
        json.dump(plan, f, indent=2)
    for d in plan["deployments"]:
        net = " ".join(f"--network {n}:" + ",".join(f"alias={a}" for a in d["aliases"])
                       if d["aliases"] else f"--network {n}" for n in d["networks"])
        print(f"{d['name']}\t{d['component']}\t{d['file']}\t{net}")


def strip_meta(o):
    o = copy.deepcopy(o)
    o["metadata"] = {"name": o["metadata"]["name"]}
    return o


def podman(*args):
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True).stdout


def pods_of(dep):
    """The pods podman made for a Deployment: <name>-pod-<i>."""
    out = podman("pod", "ps", "--format", "{{.Name}}", "--filter", f"name=^{dep['name']}-pod-")
    return sorted(p for p in out.split() if p)


def infra_of(pod):
    info = json.loads(podman("pod", "inspect", pod))
    if isinstance(info, list):
        info = info[0]
    return info["InfraContainerID"]


def pod_ips(pod):
    """{network: ip} of a pod (its infra container holds the network namespace)."""
    info = json.loads(podman("inspect", infra_of(pod)))[0]
    return {n: v["IPAddress"] for n, v in info["NetworkSettings"]["Networks"].items()}


def run_probe(pod, probe):
    if "http" in probe:
        ip = next(iter(pod_ips(pod).values()))
        url = f"http://{ip}:{probe['http']['port']}{probe['http']['path']}"
        try:
            with urllib.request.urlopen(url, timeout=probe["timeout"]) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            return False, f"GET {url}: {e}"
        return 200 <= status < 400, f"GET {url} -> {status}"
    ctr = f"{pod}-{probe['container']}"
    r = subprocess.run(["podman", "exec", ctr, *probe["exec"]], capture_output=True, text=True,
                       timeout=probe["timeout"] + 10)
    return r.returncode == 0, f"exec {' '.join(probe['exec'])} -> exit {r.returncode}"


def probe(plans, wait, only):
    """Every probe of every pod; with --wait, until startup and readiness probes pass."""
    deadline = time.monotonic() + wait
    while True:
        results = []
        for plan in plans:
            for dep in plan["deployments"]:
                if only and dep["component"] not in only:
                    continue
                pods = pods_of(dep)
                if len(pods) != dep["replicas"]:
                    results.append((False, f"{dep['name']}: {len(pods)} pods, "
                                           f"{dep['replicas']} replicas wanted"))
                for pod in pods:
                    for pr in dep["probes"]:
                        ok, what = run_probe(pod, pr)
                        results.append((ok, f"{pr['kind']:<14} {pod}/{pr['container']}: {what}"))
        if all(ok for ok, _ in results) or time.monotonic() > deadline:
            break
        time.sleep(2)
    for ok, what in results:
        print(("PASS " if ok else "FAIL ") + what)
    return all(ok for ok, _ in results)


def connects(pod, addrs):
    """TCP connections from inside the pod's network namespace (its infra container's), all at
    once: {(ip, port): connected}."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", infra_of(pod)).strip()
    code = """
import json, socket, sys, concurrent.futures as cf
def one(a):
    try:
        socket.create_connection((a[0], a[1]), timeout=1.5).close()
        return True
    except OSError:
        return False
addrs = json.loads(sys.argv[1])
with cf.ThreadPoolExecutor(len(addrs)) as ex:
    print(json.dumps(list(ex.map(one, addrs))))
"""
    r = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", code,
                        json.dumps(addrs)], capture_output=True, text=True, check=True)
    return dict(zip(map(tuple, addrs), json.loads(r.stdout)))


def isolation(plans):
    """For each NetworkPolicy: the first pod of every Deployment of every plan tries the
    selected pods' ports; only the pods its ingress admits (same namespace, matching
    podSelector) may connect."""
    checks = []   # (policy, namespace, source pod, allowed, target pod, ip, port)
    for target_plan in plans:
        for pol in target_plan["policies"]:
            targets = [d for d in target_plan["deployments"] if matches(pol["selector"], d["labels"])]
            addrs = [(p, ip) for d in targets for p in pods_of(d) for ip in pod_ips(p).values()]
            if not addrs:
                print(f"FAIL {pol['name']} ({target_plan['namespace']}): selects no pod")
                return False
            for plan in plans:
                for dep in plan["deployments"]:
                    if dep in targets:
                        continue
                    allowed = plan is target_plan and any(matches(f, dep["labels"]) for f in pol["from"])
                    src = pods_of(dep)[0]
                    for port in pol["ports"]:
                        for dst, ip in addrs:
                            checks.append((pol["name"], target_plan["namespace"], src, allowed, dst, ip, port))
    by_src = {}
    for c in checks:
        by_src.setdefault(c[2], []).append([c[5], c[6]])
    with ThreadPoolExecutor(4) as ex:
        got = dict(zip(by_src, ex.map(lambda kv: connects(*kv), by_src.items())))
    ok_all = True
    for name, ns, src, allowed, dst, ip, port in checks:
        con = got[src][(ip, port)]
        ok = con == allowed
        ok_all &= ok
        print(f"{'PASS' if ok else 'FAIL'} {name} ({ns}): {src} -> {dst} {ip}:{port} "
              f"{'connects' if con else 'refused/unreachable'} (policy: {'admit' if allowed else 'deny'})")
    return ok_all


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("rendered")
    s.add_argument("outdir")
    s.add_argument("--keys", required=True)
    p = sub.add_parser("probe")
    p.add_argument("plans", nargs="+")
    p.add_argument("--wait", type=float, default=0)
    p.add_argument("--only", action="append", default=[], help="component(s) to probe")
    i = sub.add_parser("isolation")
    i.add_argument("plans", nargs="+")
    a = ap.parse_args()
    if a.cmd == "split":
        split(a.rendered, a.outdir, a.keys)
        return 0
    plans = [json.load(open(f)) for f in a.plans]
    if a.cmd == "probe":
        return 0 if probe(plans, a.wait, a.only) else 1
    return 0 if isolation(plans) else 1


if __name__ == "__main__":
    sys.exit(main())
