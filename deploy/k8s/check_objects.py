#!/usr/bin/env python3
"""Checks rendered Kubernetes objects for what docs/deploy.md promises (issue 8).

    check_objects.py RENDERED.yaml [RENDERED.yaml...]   check each rendering (one per overlay)
    check_objects.py --self-test RENDERED.yaml          break a copy on purpose; every check
                                                        must then fail (proves they bite)
    check_objects.py --secret-example FILE.yaml         the example Secrets hold placeholders

Prints one PASS/FAIL line per check and ends with `k8s: N passed, M failed`; exits 1 on any
failure. Needs PyYAML only (installed with kubernetes-validate by check.sh).
"""

import copy
import json
import re
import sys

import yaml

SERVICES = {  # component -> (Service name, port, port name)
    "p2p-node": ("tm-p2p", 9000, "p2p"),
    "q2t-api": ("tm-q2t", 9101, "q2t"),
    "thirdparty-api": ("tm-thirdparty", 9080, "thirdparty"),
}
ENCLAVE = "enclave"
ENCLAVE_PORT = 9081

# Text that must never sit in a ConfigMap: secrets of any kind.
SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "PEM private key"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "credentials in a URL (user:password@)"),
    (re.compile(r"[?&;]password=", re.I), "password parameter in a URL"),
    (re.compile(r"\"(sbox|asalt|snonce|bytes)\"\s*:"), "private key file content"),
    (re.compile(r"REPLACE_ME"), "a Secret placeholder"),
]
SECRET_JSON_KEYS = {"password", "passwords", "privatekey", "bytes", "sbox",
                    "serverkeystorepassword", "clientkeystorepassword",
                    "servertruststorepassword", "clienttruststorepassword", "sslpassword"}
SECRET_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY$|^TESSERA__JDBC__", re.I)
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, problems):
        """Records one check; `problems` is a list of strings, empty when it holds."""
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"     - {p}")
        else:
            self.passed += 1
            print(f"PASS {name}")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def of_kind(objs, kind):
    return [o for o in objs if o.get("kind") == kind]


def named(objs, kind, name):
    for o in of_kind(objs, kind):
        if o["metadata"]["name"] == name:
            return o
    return None


def selects(selector, labels, empty_selects_all=False):
    """Whether a label selector (matchLabels / matchExpressions) selects these labels. An
    empty selector selects nothing here (a Service or Deployment would select no pod) unless
    empty_selects_all (a NetworkPolicy's podSelector: every pod); None selects nothing."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        op, key, values = e["operator"], e["key"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return empty_selects_all or bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def pod_labels(dep):
    return dep["spec"]["template"]["metadata"].get("labels") or {}


def component_deployment(objs, component):
    for d in of_kind(objs, "Deployment"):
        if pod_labels(d).get("app.kubernetes.io/component") == component:
            return d
    return None


def all_containers(pod_spec):
    return (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or [])


def probe_path(probe):
    return ((probe or {}).get("httpGet") or {}).get("path")


def port_ok(probe, container, port):
    p = ((probe or {}).get("httpGet") or {}).get("port")
    if p == port:
        return True
    return any(cp.get("name") == p and cp.get("containerPort") == port
               for cp in container.get("ports") or [])


# ---- the checks -------------------------------------------------------------------------

def check_services(r, objs, tag):
    for comp, (svc_name, port, _) in SERVICES.items():
        dep = component_deployment(objs, comp)
        if dep is None:
            r.check(f"{tag}: {comp} Deployment exists", [f"no Deployment for {comp}"])
            continue
        name = dep["metadata"]["name"]
        main = dep["spec"]["template"]["spec"]["containers"][0]
        problems = []
        if probe_path(main.get("livenessProbe")) != "/upcheck":
            problems.append(f"liveness probe path is {probe_path(main.get('livenessProbe'))!r}")
        elif not port_ok(main.get("livenessProbe"), main, port):
            problems.append("liveness probe not on the service port")
        if probe_path(main.get("readinessProbe")) != "/readiness":
            problems.append(f"readiness probe path is {probe_path(main.get('readinessProbe'))!r}")
        elif not port_ok(main.get("readinessProbe"), main, port):
            problems.append("readiness probe not on the service port")
        r.check(f"{tag}: {name} liveness /upcheck, readiness /readiness", problems)

        svc = named(objs, "Service", svc_name)
        problems = []
        if svc is None:
            problems.append(f"no Service {svc_name}")
        else:
            if not selects(svc["spec"].get("selector") and
                           {"matchLabels": svc["spec"]["selector"]}, pod_labels(dep)):
                problems.append(f"Service {svc_name} does not select {name}'s pods")
            if port not in [p.get("port") for p in svc["spec"].get("ports", [])]:
                problems.append(f"Service {svc_name} does not expose {port}")
        r.check(f"{tag}: {name} has Service {svc_name} on {port}", problems)

        hpas = [h for h in of_kind(objs, "HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
                and h["spec"]["scaleTargetRef"].get("name") == name]
        problems = []
        if not hpas:
            problems.append("no HorizontalPodAutoscaler targets it")
        for h in hpas:
            if (h["spec"].get("minReplicas") or 1) < 2:
                problems.append(f"HPA {h['metadata']['name']} minReplicas < 2")
        r.check(f"{tag}: {name} has an HPA with minReplicas >= 2", problems)

        problems = []
        pdbs = [p for p in of_kind(objs, "PodDisruptionBudget")
                if selects(p["spec"].get("selector"), pod_labels(dep))]
        if not pdbs:
            problems.append("no PodDisruptionBudget selects its pods")
        for p in pdbs:
            spec = p["spec"]
            if "minAvailable" in spec:
                if not (isinstance(spec["minAvailable"], int) and spec["minAvailable"] >= 1):
                    problems.append(f"PDB {p['metadata']['name']} minAvailable "
                                    f"{spec['minAvailable']!r} (want an integer >= 1)")
            else:
                problems.append(f"PDB {p['metadata']['name']} uses maxUnavailable: with "
                                "autoscaled replicas it can still allow zero")
        rolling = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        if (dep["spec"].get("strategy") or {}).get("type") == "Recreate" or \
                rolling.get("maxUnavailable") not in (0, "0%"):
            problems.append("rolling update may take pods away before new ones are ready "
                            "(want strategy.rollingUpdate.maxUnavailable: 0)")
        r.check(f"{tag}: {name} never drops to zero (PDB minAvailable >= 1, "
                "maxUnavailable 0)", problems)

        problems = []
        env = {e["name"]: e for c in all_containers(dep["spec"]["template"]["spec"])
               for e in c.get("env") or []}
        for var in ("TESSERA__JDBC__URL", "TESSERA__JDBC__PASSWORD"):
            ref = ((env.get(var) or {}).get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                problems.append(f"{var} is not taken from a Secret")
        r.check(f"{tag}: {name} takes the database URL and password from a Secret", problems)


def check_enclave(r, objs, tag):
    dep = component_deployment(objs, ENCLAVE)
    if dep is None:
        r.check(f"{tag}: enclave Deployment exists", ["no enclave Deployment"])
        return
    spec = dep["spec"]["template"]["spec"]
    labels = pod_labels(dep)

    problems = []
    main = spec["containers"][0]
    if probe_path(main.get("livenessProbe")) != "/upcheck" or \
            probe_path(main.get("readinessProbe")) != "/readiness":
        problems.append("enclave liveness/readiness are not GET /upcheck and /readiness")
    r.check(f"{tag}: enclave liveness /upcheck, readiness /readiness", problems)

    problems = []
    node_affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}) \
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    if not spec.get("nodeSelector") and not node_affinity:
        problems.append("no nodeSelector or required node affinity: it can land anywhere")
    anti = ((spec.get("affinity") or {}).get("podAntiAffinity") or {}) \
        .get("requiredDuringSchedulingIgnoredDuringExecution") or []
    for comp in SERVICES:
        probe = {"app.kubernetes.io/name": "tm", "app.kubernetes.io/component": comp,
                 "app.kubernetes.io/part-of": "tm"}
        if not any(selects(t.get("labelSelector"), probe) and
                   t.get("topologyKey") == "kubernetes.io/hostname" for t in anti):
            problems.append(f"no required anti-affinity keeps it off nodes running {comp}")
    r.check(f"{tag}: enclave scheduled apart (node selector + anti-affinity)", problems)

    problems = []
    pols = [p for p in of_kind(objs, "NetworkPolicy")
            if selects(p["spec"].get("podSelector"), labels)]
    if not pols:
        problems.append("no NetworkPolicy selects the enclave pods")
    admitted = set()
    for p in pols:
        ps = p["spec"]
        if "Ingress" not in (ps.get("policyTypes") or ["Ingress"]):
            problems.append(f"{p['metadata']['name']} does not restrict ingress")
        for rule in ps.get("ingress") or []:
            peers = rule.get("from")
            if not peers:
                problems.append(f"{p['metadata']['name']}: an ingress rule admits everyone")
                continue
            ports = rule.get("ports") or []
            if not ports or any(pt.get("port") not in (ENCLAVE_PORT, "enclave") for pt in ports):
                problems.append(f"{p['metadata']['name']}: ingress not limited to {ENCLAVE_PORT}")
            for peer in peers:
                if "ipBlock" in peer or "namespaceSelector" in peer or "podSelector" not in peer:
                    problems.append(f"{p['metadata']['name']}: admits more than pods of this "
                                    f"namespace: {json.dumps(peer)}")
                    continue
                sel = peer["podSelector"]
                if not (sel.get("matchLabels") or sel.get("matchExpressions")):
                    problems.append(f"{p['metadata']['name']}: admits every pod")
                    continue
                # Which kinds of our pods (and what else) the selector admits.
                for comp in list(SERVICES) + [ENCLAVE, "dev-postgres", "other"]:
                    probe = {"app.kubernetes.io/name": "tm",
                             "app.kubernetes.io/component": comp,
                             "app.kubernetes.io/part-of": "tm"}
                    if selects(sel, probe):
                        admitted.add(comp)
                if selects(sel, {}):
                    admitted.add("unlabelled pods")
    extra = admitted - set(SERVICES)
    if extra:
        problems.append(f"also admits: {sorted(extra)}")
    missing = set(SERVICES) - admitted
    if pols and missing:
        problems.append(f"does not admit: {sorted(missing)}")
    r.check(f"{tag}: enclave NetworkPolicy admits only p2p-node, q2t-api, thirdparty-api",
            problems)

    problems = []
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    key_mounts = [m for m in main.get("volumeMounts") or []
                  if "secret" in volumes.get(m["name"], {})]
    if not key_mounts:
        problems.append("no Secret volume mounted (keys)")
    for m in key_mounts:
        if not m.get("readOnly"):
            problems.append(f"Secret volume {m['name']} not mounted readOnly")
        mode = volumes[m["name"]]["secret"].get("defaultMode", 0o644)
        if mode & 0o007:
            problems.append(f"Secret volume {m['name']} is world-readable (mode {oct(mode)})")
    r.check(f"{tag}: enclave keys from a read-only Secret mount", problems)


def secret_json_keys(value, path=""):
    """Paths of secret-looking members with a non-empty value in a JSON document."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}" if path else k
            if k.lower() in SECRET_JSON_KEYS and v not in (None, "", [], {}):
                found.append(p)
            found += secret_json_keys(v, p)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += secret_json_keys(v, f"{path}[{i}]")
    return found


def check_no_secret_in_configmaps(r, objs, tag):
    problems = []
    maps = of_kind(objs, "ConfigMap")
    if not maps:
        problems.append("no ConfigMap rendered at all (expected the Tessera config)")
    for cm in maps:
        cname = cm["metadata"]["name"]
        for key, text in (cm.get("data") or {}).items():
            for pattern, what in SECRET_PATTERNS:
                if pattern.search(text):
                    problems.append(f"ConfigMap {cname} key {key}: {what}")
            if key.endswith(".json"):
                try:
                    doc = json.loads(text)
                except ValueError as e:
                    problems.append(f"ConfigMap {cname} key {key}: not JSON ({e})")
                    continue
                for p in secret_json_keys(doc):
                    problems.append(f"ConfigMap {cname} key {key}: secret member {p}")
        if cm.get("binaryData"):
            problems.append(f"ConfigMap {cname} holds binaryData (keys?)")
    r.check(f"{tag}: no password or key material in any ConfigMap", problems)

    problems = []
    for d in of_kind(objs, "Deployment"):
        for c in all_containers(d["spec"]["template"]["spec"]):
            for e in c.get("env") or []:
                if SECRET_ENV.search(e["name"]) and "value" in e:
                    problems.append(f"{d['metadata']['name']}/{c['name']}: {e['name']} is a "
                                    "literal value, not a secretKeyRef")
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if SECRET_ENV.search(e["name"]) and ref:
                    problems.append(f"{d['metadata']['name']}/{c['name']}: {e['name']} comes "
                                    "from a ConfigMap")
    r.check(f"{tag}: secret environment variables only from Secrets", problems)

    problems = [f"Secret {s['metadata']['name']} is part of the rendering: Secrets are "
                "created by the operator (docs/deploy.md), never committed"
                for s in of_kind(objs, "Secret")]
    r.check(f"{tag}: no Secret objects committed in the manifests", problems)


def check_non_root(r, objs, tag):
    for d in of_kind(objs, "Deployment"):
        spec = d["spec"]["template"]["spec"]
        psc = spec.get("securityContext") or {}
        problems = []
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append("uses host namespaces")
        for c in all_containers(spec):
            sc = c.get("securityContext") or {}
            non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if non_root is not True:
                problems.append(f"{c['name']}: runAsNonRoot is not true")
            if uid is None or uid == 0:
                problems.append(f"{c['name']}: runAsUser {uid!r} (want a fixed non-zero uid)")
            if sc.get("privileged"):
                problems.append(f"{c['name']}: privileged")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c['name']}: allowPrivilegeEscalation not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{c['name']}: root file system not read-only")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{c['name']}: capabilities not dropped")
        r.check(f"{tag}: {d['metadata']['name']} runs non-root, read-only, no privileges",
                problems)


def check_resources(r, objs, tag):
    for d in of_kind(objs, "Deployment"):
        problems = []
        for c in all_containers(d["spec"]["template"]["spec"]):
            res = c.get("resources") or {}
            req = res.get("requests") or {}
            for k in ("cpu", "memory"):
                v = req.get(k)
                if v is None:
                    problems.append(f"{c['name']}: no {k} request")
                elif not QUANTITY.match(str(v)):
                    problems.append(f"{c['name']}: {k} request {v!r} is not a quantity")
            lim = (res.get("limits") or {}).get("memory")
            if lim is None or not QUANTITY.match(str(lim)):
                problems.append(f"{c['name']}: no memory limit")
        r.check(f"{tag}: {d['metadata']['name']} has cpu/memory requests and a memory limit",
                problems)


# What a stopping service does after its drain period (tm_http::drain::SHUTDOWN_TIMEOUT) and
# its drain period when the config does not set one (DEFAULT_DRAIN_PERIOD), in seconds.
SHUTDOWN_SECONDS = 10
DEFAULT_DRAIN_MS = 2000


def drain_periods_ms(objs):
    """Every server entry's drainPeriod (ms) in the rendered ConfigMaps, by app."""
    periods = {}
    for cm in of_kind(objs, "ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            if not key.endswith(".json"):
                continue
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            for server in doc.get("serverConfigs") or []:
                if key == "tessera.json" and server.get("app") == "ENCLAVE":
                    continue  # the address of the remote enclave, not a server of this pod
                value = (server.get("properties") or {}).get("drainPeriod", DEFAULT_DRAIN_MS)
                try:
                    periods[server.get("app")] = int(value)
                except ValueError:
                    periods[server.get("app")] = DEFAULT_DRAIN_MS
    return periods


def check_handover(r, objs, tag):
    """SIGTERM drains, then finishes requests in flight: the pod's grace period must cover
    both, and the readiness probe must see the drain's 503s before it ends."""
    drain_ms = max(drain_periods_ms(objs).values(), default=DEFAULT_DRAIN_MS)
    for comp in list(SERVICES) + [ENCLAVE]:
        dep = component_deployment(objs, comp)
        if dep is None:
            continue
        spec = dep["spec"]["template"]["spec"]
        main = spec["containers"][0]
        problems = []
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace * 1000 <= drain_ms + SHUTDOWN_SECONDS * 1000:
            problems.append(f"terminationGracePeriodSeconds {grace} does not cover the drain "
                            f"({drain_ms} ms) and the shutdown ({SHUTDOWN_SECONDS} s)")
        probe = main.get("readinessProbe") or {}
        seen_ms = 1000 * (probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3) +
                          probe.get("timeoutSeconds", 1))
        if seen_ms > drain_ms:
            problems.append(f"the readiness probe needs up to {seen_ms} ms to see a drain of "
                            f"{drain_ms} ms")
        r.check(f"{tag}: {dep['metadata']['name']} grace period and readiness probe fit the "
                "drain", problems)


def check_all(r, objs, tag):
    check_services(r, objs, tag)
    check_enclave(r, objs, tag)
    check_handover(r, objs, tag)
    check_no_secret_in_configmaps(r, objs, tag)
    check_non_root(r, objs, tag)
    check_resources(r, objs, tag)


# ---- self-test: each sabotage must be caught --------------------------------------------

def sabotages():
    def main_of(objs, comp):
        return component_deployment(objs, comp)["spec"]["template"]["spec"]["containers"][0]

    def drop_liveness(objs):
        main_of(objs, "q2t-api").pop("livenessProbe")

    def readiness_on_upcheck(objs):
        main_of(objs, "p2p-node")["readinessProbe"]["httpGet"]["path"] = "/upcheck"

    def drop_hpa(objs):
        objs[:] = [o for o in objs if not (o["kind"] == "HorizontalPodAutoscaler" and
                                           "thirdparty" in o["metadata"]["name"])]

    def drop_pdb(objs):
        objs[:] = [o for o in objs if not (o["kind"] == "PodDisruptionBudget" and
                                           "p2p" in o["metadata"]["name"])]

    def drop_network_policy(objs):
        objs[:] = [o for o in objs if o["kind"] != "NetworkPolicy"]

    def open_network_policy(objs):
        of_kind(objs, "NetworkPolicy")[0]["spec"]["ingress"].append({"from": [
            {"namespaceSelector": {}}]})

    def password_in_configmap(objs):
        cm = next(c for c in of_kind(objs, "ConfigMap") if "tessera.json" in c.get("data", {}))
        doc = json.loads(cm["data"]["tessera.json"])
        doc["jdbc"]["password"] = "hunter2"
        cm["data"]["tessera.json"] = json.dumps(doc)

    def url_credentials_in_configmap(objs):
        cm = of_kind(objs, "ConfigMap")[0]
        cm.setdefault("data", {})["db"] = "postgresql://tm:hunter2@db:5432/tm"

    def literal_password_env(objs):
        main_of(objs, "thirdparty-api")["env"].append(
            {"name": "TESSERA__JDBC__PASSWORD", "value": "hunter2"})

    def run_as_root(objs):
        dep = component_deployment(objs, "q2t-api")
        dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0

    def writable_root(objs):
        main_of(objs, ENCLAVE)["securityContext"]["readOnlyRootFilesystem"] = False

    def enclave_anywhere(objs):
        spec = component_deployment(objs, ENCLAVE)["spec"]["template"]["spec"]
        spec.pop("nodeSelector", None)
        spec.pop("affinity", None)

    def keys_writable(objs):
        for m in main_of(objs, ENCLAVE)["volumeMounts"]:
            m["readOnly"] = False

    def no_requests(objs):
        main_of(objs, "p2p-node")["resources"].pop("requests")

    def rollout_to_zero(objs):
        dep = component_deployment(objs, "q2t-api")
        dep["spec"]["strategy"] = {"type": "Recreate"}

    def grace_shorter_than_drain(objs):
        dep = component_deployment(objs, "p2p-node")
        dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5

    def slow_readiness_probe(objs):
        main_of(objs, ENCLAVE)["readinessProbe"]["periodSeconds"] = 10

    return [grace_shorter_than_drain, slow_readiness_probe, drop_liveness, readiness_on_upcheck, drop_hpa, drop_pdb, drop_network_policy,
            open_network_policy, password_in_configmap, url_credentials_in_configmap,
            literal_password_env, run_as_root, writable_root, enclave_anywhere, keys_writable,
            no_requests, rollout_to_zero]


class Quiet(Results):
    def check(self, name, problems):
        if problems:
            self.failed += 1
        else:
            self.passed += 1


def self_test(r, objs, tag):
    clean = Quiet()
    check_all(clean, copy.deepcopy(objs), tag)
    r.check(f"self-test: the unmodified {tag} passes", [] if clean.failed == 0 else
            [f"{clean.failed} checks fail on the unmodified rendering"])
    for sabotage in sabotages():
        broken = copy.deepcopy(objs)
        sabotage(broken)
        q = Quiet()
        check_all(q, broken, tag)
        r.check(f"self-test: {sabotage.__name__} is caught",
                [] if q.failed else ["no check failed"])


def check_secret_example(r, path):
    """The committed example Secrets hold placeholders only."""
    objs = load(path)
    problems = []
    if not of_kind(objs, "Secret"):
        problems.append("no Secret in the example")
    for s in objs:
        if s.get("kind") != "Secret":
            problems.append(f"{s.get('kind')} in the Secret example")
            continue
        if s.get("data"):
            problems.append(f"Secret {s['metadata']['name']}: base64 data (use stringData "
                            "placeholders)")
        for k, v in (s.get("stringData") or {}).items():
            rest = re.sub(r"REPLACE_ME[A-Z_]*", "", str(v))
            if "REPLACE_ME" not in str(v) or re.search(r"[A-Za-z0-9]{6,}", re.sub(
                    r"^jdbc:postgresql://|:5432/", "", rest)):
                problems.append(f"Secret {s['metadata']['name']} key {k}: not a placeholder")
    r.check("secrets.example.yaml holds REPLACE_ME placeholders only", problems)


def main(argv):
    r = Results()
    if argv[:1] == ["--secret-example"]:
        for path in argv[1:]:
            check_secret_example(r, path)
    elif argv[:1] == ["--self-test"]:
        for path in argv[1:]:
            self_test(r, load(path), path.rsplit("/", 1)[-1].removesuffix(".yaml"))
    else:
        for path in argv:
            check_all(r, load(path), path.rsplit("/", 1)[-1].removesuffix(".yaml"))
    print(f"k8s: {r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
